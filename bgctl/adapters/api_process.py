"""The running `bgctl serve` of a project, as its api.json says: pid and URL.

`bgctl status` reports it, `bgctl down` stops it. A file whose process is gone
(a killed serve) counts as no server.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from bgctl.adapters.state_file import write_atomically


@dataclass(frozen=True)
class ApiProcess:
    pid: int
    url: str
    started: float


def announce(path: Path, url: str) -> ApiProcess:
    process = ApiProcess(os.getpid(), url, time.time())
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps({"pid": process.pid, "url": url, "started": process.started}) + "\n")
    return process


def withdraw(path: Path) -> None:
    """Remove the file if it is this process's."""
    found = running(path)
    if found is None or found.pid == os.getpid():
        path.unlink(missing_ok=True)


def running(path: Path) -> ApiProcess | None:
    try:
        data = json.loads(path.read_text())
        process = ApiProcess(int(data["pid"]), str(data["url"]), float(data["started"]))
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None
    return process if _alive(process.pid) else None


def stop(path: Path, timeout: float = 10.0) -> ApiProcess | None:
    """Stop the project's `bgctl serve` (SIGTERM, then SIGKILL); what was stopped, if anything."""
    process = running(path)
    if process is None:
        path.unlink(missing_ok=True)
        return None
    os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(process.pid):
        os.kill(process.pid, signal.SIGKILL)
    path.unlink(missing_ok=True)
    return process


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this process (tests start serve as one) is gone for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True
