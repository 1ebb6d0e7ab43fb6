"""`bgctl rollback` asking the bgctl that runs the deployment to roll back: a file beside the state.

The running bgctl holds the stack's lock, so the second one cannot act
itself; it leaves this file, which the first looks for between steps
(lifecycle/ports.RollbackRequests).
"""

from __future__ import annotations

import os
from pathlib import Path


class RollbackRequestFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def take(self) -> bool:
        """Whether a rollback was requested; the request is forgotten."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True

    def leave(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(f"{os.getpid()}\n")

    def withdraw(self) -> None:
        self.path.unlink(missing_ok=True)
