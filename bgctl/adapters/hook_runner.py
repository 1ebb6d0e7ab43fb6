"""Running lifecycle hooks: child processes whose answers are read like an ECS hook's.

A shell hook (COMMAND) is `/bin/sh -c COMMAND` with ECS's event on stdin: its
exit status is the answer, unless it prints an ECS hook answer on a line of
stdout (`core/hooks.py` reads it). An AWS_LAMBDA hook runs the local handler
or command its function ARN is mapped to (`adapters/lambda_runner.py`).
`HookRunner` calls them in threads, so that the hooks of one stage run in
parallel as ECS runs them.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from bgctl.adapters.child_process import kill_group, run_child
from bgctl.adapters.lambda_runner import invoke_command, invoke_handler
from bgctl.core.hooks import (Hook, HookInvocation, HookRun, HookTargetType, failed_answer, parse_hook_answer,
                              with_kit_variables)


def run_hook(
    hook: Hook,
    *,
    env: Mapping[str, str],
    timeout: float,
    details: dict | None = None,
    cwd: Path | None = None,
    event: dict | None = None,
    on_start: Callable[[subprocess.Popen], None] | None = None,
) -> HookRun:
    """Run the hook once and read its answer; a failing or hanging command is a FAILED answer, never an exception."""
    full_env = {
        **os.environ,
        **env,
        # Empty rather than unset: scripts under `set -u` can still test it,
        # and a value inherited from bgctl's own environment never leaks in.
        "BGCTL_HOOK_DETAILS": json.dumps(details) if details is not None else "",
        "BGCTL_STAGE": hook.stage.value,
    }
    # ECS's event on stdin, as a mapped command gets it; a file, not a pipe, so
    # that a hook that never reads it cannot block on a full pipe.
    with tempfile.TemporaryFile() as stdin:
        if event is not None:
            stdin.write(json.dumps(event).encode("utf-8"))
        stdin.seek(0)
        child = run_child(["/bin/sh", "-c", hook.command], env=full_env, cwd=cwd, timeout=timeout, stdin=stdin,
                          on_start=on_start)
    if child.error is not None:  # e.g. cwd missing: an error, which ECS also treats as FAILED
        answer = failed_answer(f"could not start: {child.error}")
    elif child.exit_code is None:
        answer = failed_answer(f"timed out after {timeout:g}s")
    else:
        answer = parse_hook_answer(child.exit_code, child.stdout)
    return HookRun(answer, child.exit_code, child.stdout, child.stderr, child.seconds)


class HookRunner:
    """lifecycle/ports.HookRunner: shell hooks in the project's directory, Lambda hooks by their
    function mapping (relative paths from the configuration file's folder), each call in a thread."""

    def __init__(self, cwd: Path | None = None, *, functions: Mapping | None = None,
                 functions_dir: Path | None = None, max_parallel: int = 16) -> None:
        self.cwd = cwd
        self.functions = dict(functions or {})
        self.functions_dir = functions_dir or cwd or Path.cwd()
        self._pool = ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="bgctl-hook")

    def start(self, call: HookInvocation) -> "_Pending":
        control = _CallControl()

        def run() -> HookRun:
            try:
                return self.run(call, on_start=control.started)
            finally:
                control.ended()

        return _Pending(self._pool.submit(run), control)

    def run(self, call: HookInvocation, *, on_start: Callable[[subprocess.Popen], None] | None = None) -> HookRun:
        hook = call.hook
        if hook.target_type == HookTargetType.COMMAND:
            return run_hook(hook, env=call.env, timeout=call.timeout, details=call.event.get("hookDetails") or None,
                            cwd=self.cwd, event=call.event, on_start=on_start)
        if hook.target_type != HookTargetType.AWS_LAMBDA:
            return HookRun(failed_answer(f"a {hook.target_type} hook is not called"), None, "", "", 0.0)
        arn = hook.target or ""
        mapping = self.functions.get(arn)
        if mapping is None:
            return HookRun(failed_answer(f"no function is mapped to {arn} in the configuration file"),
                           None, "", "", 0.0)
        environment = with_kit_variables(dict(getattr(mapping, "environment", None) or {}), call.env)
        if getattr(mapping, "handler", None):
            return invoke_handler(mapping.handler, event=call.event, function_arn=arn, environment=environment,
                                  timeout=call.timeout, cwd=self.functions_dir, on_start=on_start)
        return invoke_command(mapping.command, event=call.event, environment=environment, timeout=call.timeout,
                              cwd=self.functions_dir, function_arn=arn, on_start=on_start)


class _CallControl:
    """The process group of one call in flight, so that the engine can end it (`cancel`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pgid: int | None = None
        self._cancelled = False

    def started(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._pgid = proc.pid  # a session leader: its pid is its group's id
            cancelled = self._cancelled
        if cancelled:  # cancelled before its child was up
            kill_group(proc.pid)

    def ended(self) -> None:
        with self._lock:
            self._pgid = None  # reaped: its id may be another process's soon

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            pgid = self._pgid
        if pgid is not None:
            # The runner's wait then returns, as at a timeout, and cleans up after it.
            kill_group(pgid)


class _Pending:
    def __init__(self, future: "Future[HookRun]", control: _CallControl | None = None) -> None:
        self._future = future
        self._control = control

    def cancel(self) -> None:
        """End the call: not started yet, it never starts; running, its process group is killed."""
        if self._future.done() or self._future.cancel():
            return
        if self._control is not None:
            self._control.cancel()

    def result(self) -> HookRun | None:
        if not self._future.done():
            return None
        try:
            return self._future.result()
        except Exception as exc:  # a bug in a runner must not look like bgctl crashing
            return HookRun(failed_answer(f"could not be called: {exc}"), None, "", "", 0.0)

