"""Running a lifecycle hook: a child process whose answer is read like an ECS hook's.

A hook is `/bin/sh -c COMMAND`: its exit status is the answer, unless it
prints an ECS hook answer on a line of stdout (`core/hooks.py` reads it).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from bgctl.core.hooks import Hook, HookRun, failed_answer, parse_hook_answer


def _read(f: IO[bytes]) -> str:
    f.seek(0)
    return f.read().decode("utf-8", errors="replace")


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):  # nothing left in the group
        pass


def run_hook(
    hook: Hook,
    *,
    env: Mapping[str, str],
    timeout: float,
    details: dict | None = None,
    cwd: Path | None = None,
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
    started = time.monotonic()
    # Files, not pipes: a background child that keeps a pipe open would make
    # reading block past the timeout; a file never does, and keeps what a
    # killed hook printed.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            # A new session makes the shell a process-group leader, so one
            # killpg reaches everything it started (`sleep 30 & wait`).
            proc = subprocess.Popen(
                ["/bin/sh", "-c", hook.command],
                stdin=subprocess.DEVNULL,  # a hook must not steal bgctl's terminal
                stdout=out,
                stderr=err,
                env=full_env,
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as e:  # e.g. cwd missing: an error, which ECS also treats as FAILED
            return HookRun(failed_answer(f"could not start: {e}"), None, "", str(e), time.monotonic() - started)
        try:
            exit_code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            exit_code = None
        # Also after a normal exit: like a Lambda that returned, a finished
        # hook leaves nothing running behind it.
        _kill_group(proc.pid)
        if exit_code is None:
            proc.wait()
        seconds = time.monotonic() - started
        stdout, stderr = _read(out), _read(err)
    if exit_code is None:
        answer = failed_answer(f"timed out after {timeout:g}s")
    else:
        answer = parse_hook_answer(exit_code, stdout)
    return HookRun(answer, exit_code, stdout, stderr, seconds)


class ShellHookRunner:
    """lifecycle/ports.HookRunner: each hook a `/bin/sh -c` child, run in the project's directory."""

    def __init__(self, cwd: Path | None = None) -> None:
        self.cwd = cwd

    def run(self, hook: Hook, *, env: dict[str, str], timeout: float, details: dict | None) -> HookRun:
        return run_hook(hook, env=env, timeout=timeout, details=details, cwd=self.cwd)
