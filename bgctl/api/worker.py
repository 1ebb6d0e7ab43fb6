"""Deployments started through the API run here, in a thread of `bgctl serve`, one at a time.

The worker holds no state of its own: the deployment's record (state.json and
the history) is what DescribeServiceDeployments reads, so a killed serve loses
nothing; `resume_interrupted` picks an unfinished, unpaused deployment up again.

Jobs queue: a script creates its two services back to back, and the second
must wait for the first to have brought the stack up, not be refused. Each job
names the service it works for (`key`), so DescribeServices can tell a service
whose work has not yet produced a deployment record from a settled one.
"""

from __future__ import annotations

import queue
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Job:
    name: str
    action: Callable[[], object]
    key: str | None = None


class DeploymentWorker:
    def __init__(self, api) -> None:
        self.api = api
        self._queue: queue.Queue[Job] = queue.Queue()
        self._jobs: list[Job] = []  # queued or running, oldest first
        self._guard = threading.Lock()
        self._idle = threading.Condition(self._guard)
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    @property
    def busy(self) -> bool:
        with self._guard:
            return bool(self._jobs)

    def working_on(self, key: str) -> bool:
        """Whether a job for `key` is queued or running."""
        with self._guard:
            return any(job.key == key for job in self._jobs)

    def submit(self, name: str, action: Callable[[], object], *, key: str | None = None) -> None:
        """Run `action` in the worker's thread, after the jobs before it."""
        job = Job(name, action, key)
        with self._guard:
            self._jobs.append(job)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="bgctl-api-worker", daemon=True)
                self._thread.start()
        self._queue.put(job)

    def beside(self, name: str, action: Callable[[], object]) -> None:
        """Run `action` now in a thread of its own: for a verb that coordinates with the worker's
        deployment through the stack's lock and the rollback request file (StopServiceDeployment)."""
        threading.Thread(target=self._guarded, args=(Job(name, action),), name=f"bgctl-api-{name}",
                         daemon=True).start()

    def join(self, timeout: float | None = None) -> None:
        """Wait until every job submitted so far has ended."""
        with self._idle:
            self._idle.wait_for(lambda: not self._jobs, timeout)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            try:
                self._guarded(job)
            finally:
                with self._idle:
                    self._jobs.remove(job)
                    self._idle.notify_all()

    def _guarded(self, job: Job) -> None:
        try:
            job.action()
            self.last_error = None
        except BaseException as exc:  # noqa: BLE001 (a thread's end: keep the sentence for serve's output)
            self.last_error = f"{job.name}: {exc}"
            print(f"bgctl serve: {job.name} failed: {exc}", file=sys.stderr, flush=True)
            if not isinstance(exc, Exception):
                traceback.print_exc()

    def resume_interrupted(self) -> None:
        """Go on with a deployment a killed serve (or bgctl) left running (not one that is paused).

        A deployment paused at a PAUSE hook or --pause-at waits for ContinueServiceDeployment;
        one whose bgctl holds the lock is still running elsewhere.
        """
        from bgctl.adapters.lock import is_held
        from bgctl.adapters.state_file import StateFile

        from bgctl.api.services import run_in_worker  # services imports this module
        from bgctl.cli.continue_ import run_continue
        from bgctl.adapters.project_files import own_stacks

        for settings in (self.api.settings, *own_stacks(self.api.settings)):
            state = StateFile(settings.state_file).load()
            d = state.deployment if state is not None else None
            if d is None or d.finished_ or d.paused or d.awaiting() or is_held(settings.state_dir):
                continue
            print(f"bgctl serve: resuming the interrupted deployment {d.id} ({d.status}, {d.stage}).", flush=True)
            resume = lambda s=settings, **kw: run_continue(s, **kw)  # noqa: E731
            self.submit(f"resume {d.id}", run_in_worker(self.api, d.names.service, resume, settings=settings),
                        key=d.names.service_arn)
