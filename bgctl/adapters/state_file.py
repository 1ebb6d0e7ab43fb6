"""The state file, `.bgctl/<project>/state.json`, written atomically.

A reader never sees a half-written file: each write goes to a temp file in
the same directory, then `os.replace`.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from bgctl.core.errors import BgctlError
from bgctl.core.state import State


class StateFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> State | None:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return None
        try:
            return State.from_dict(json.loads(text))
        except (ValueError, KeyError, TypeError) as exc:
            raise BgctlError(f"The state file {self.path} is damaged ({exc}); run bgctl down to start afresh.") from exc

    def save(self, state: State) -> None:
        write_atomically(self.path, json.dumps(state.to_dict(), indent=2) + "\n")


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_writable(directory: Path) -> None:
    """Refuse early, before anything changes, when bgctl could not record or publish."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".bgctl-write-check.")
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise BgctlError(
            f"{directory} is not writable ({exc.strerror or exc}); bgctl cannot change Envoy's routes or its record."
        ) from exc
