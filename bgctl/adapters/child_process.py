"""A child process run to completion or killed at its time limit, with all it printed.

Shared by shell hooks (hook_runner.py) and Lambda handlers and commands
(lambda_runner.py): both must never block on a child's pipes, must kill
everything a child started, and must keep what a killed child printed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO


@dataclass(frozen=True)
class ChildRun:
    exit_code: int | None  # None: killed at the timeout, or never started (error)
    stdout: str
    stderr: str
    seconds: float
    error: str | None = None


def run_child(argv: list[str], *, env: Mapping[str, str], cwd: Path | None, timeout: float, stdin,
              on_start: Callable[[subprocess.Popen], None] | None = None) -> ChildRun:
    """`on_start` gets the child once it runs (HookRunner uses it to cancel the call)."""
    started = time.monotonic()
    # Files, not pipes: a background child that keeps a pipe open would make
    # reading block past the timeout; a file never does, and keeps what a
    # killed child printed.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            # A new session makes the child a process-group leader, so one
            # killpg reaches everything it started.
            proc = subprocess.Popen(
                argv,
                stdin=stdin if stdin is not None else subprocess.DEVNULL,  # never bgctl's terminal
                stdout=out,
                stderr=err,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as exc:  # e.g. cwd missing
            return ChildRun(None, "", str(exc), time.monotonic() - started, error=str(exc))
        if on_start is not None:
            on_start(proc)
        try:
            exit_code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            exit_code = None
        # Also after a normal exit: like a Lambda invocation that returned, a
        # finished call leaves nothing running behind it.
        kill_group(proc.pid)
        if exit_code is None:
            proc.wait()
        seconds = time.monotonic() - started
        return ChildRun(exit_code, _read(out), _read(err), seconds)


def _read(f: IO[bytes]) -> str:
    f.seek(0)
    return f.read().decode("utf-8", errors="replace")


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):  # nothing left in the group
        pass
