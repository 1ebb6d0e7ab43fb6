"""One bgctl at a time changes a stack: an advisory lock on .bgctl/<project>/lock.

flock, not a pid file: the kernel drops it when the holder dies, even by
`kill -9`, so a crash never leaves the stack locked.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from bgctl.core.errors import BgctlError


class StackBusy(BgctlError):
    pass


@contextmanager
def stack_lock(state_dir: Path) -> Iterator[None]:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "lock"
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = holder_pid(state_dir)
            raise StackBusy(
                f"Another bgctl (pid {holder or 'unknown'}) is changing this stack; "
                "wait for it to finish or stop it first."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()


def holder_pid(state_dir: Path) -> int | None:
    try:
        text = (state_dir / "lock").read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def is_held(state_dir: Path) -> bool:
    """Whether some live process holds the lock (checked without keeping it)."""
    path = state_dir / "lock"
    if not path.exists():
        return False
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False
