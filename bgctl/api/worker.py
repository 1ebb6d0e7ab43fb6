"""Deployments started through the API run here, in a thread of `bgctl serve`, one at a time.

The worker holds no state of its own: the deployment's record (state.json and
the history) is what DescribeServiceDeployments reads, so a killed serve loses
nothing; `resume_interrupted` picks an unfinished, unpaused deployment up again.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable


class DeploymentWorker:
    def __init__(self, api) -> None:
        self.api = api
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def submit(self, name: str, action: Callable[[], object]) -> None:
        """Run `action` in the worker's thread; the caller checked it is not busy."""
        def run() -> None:
            try:
                action()
                self.last_error = None
            except BaseException as exc:  # noqa: BLE001 (a thread's end: keep the sentence for the API)
                self.last_error = f"{name}: {exc}"
                if not isinstance(exc, Exception):
                    traceback.print_exc()

        self._thread = threading.Thread(target=run, name=f"bgctl-api-{name}", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def resume_interrupted(self) -> None:
        """Go on with a deployment a killed serve left running (not one that is paused)."""
