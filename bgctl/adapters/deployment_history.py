"""Every deployment of a stack, one file each: `.bgctl/<project>/deployments/<id>.json`.

The state file keeps only the current (or last) deployment, for resuming;
the history keeps all of them, for `bgctl deployments` and `bgctl describe`.
A deployment's file is rewritten (atomically, as the state file is) whenever
its record changes, so it is as current as the state file.

Beside each record, `<id>.samples.jsonl` holds the request rates bgctl
recorded while it ran the deployment (adapters/rate_recorder.py), for
`bgctl describe --chart`.

Retention: the history lives in the project's state folder, so `bgctl down`
removes it with everything else; `bgctl down --keep-history` keeps this
folder, and the next `bgctl up` finds it there. (ECS keeps 90 days.)
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from bgctl.adapters.state_file import StateFile, write_atomically
from bgctl.core.deployment import Deployment
from bgctl.core.ecs_records import KeptDeployment, newest_first
from bgctl.core.errors import BgctlError
from bgctl.core.state import State

HISTORY_DIR = "deployments"
SCHEMA_VERSION = 1
# Not matched by the "*.json" the history lists.
SAMPLES_SUFFIX = ".samples.jsonl"


def history_dir(state_dir: Path) -> Path:
    return state_dir / HISTORY_DIR


class DeploymentHistory:
    def __init__(self, directory: Path, clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self.clock = clock
        # The last entry written: most saves change the deployment a little, and
        # reading its file back each time would only find what was written.
        self._last: KeptDeployment | None = None

    def path(self, deployment_id: str) -> Path:
        return self.directory / f"{deployment_id}.json"

    def samples_path(self, deployment_id: str) -> Path:
        """The request rates recorded while the deployment ran (adapters/sample_file.py)."""
        return self.directory / f"{deployment_id}{SAMPLES_SUFFIX}"

    def record(self, state: State) -> None:
        """Keep `state`'s deployment, if it changed since it was last kept."""
        d = state.deployment
        if d is None:
            return
        kept = self._last if self._last is not None and self._last.deployment.id == d.id else self.get(d.id)
        if kept is None:
            # First seen: what the source runs now is what the deployment replaces.
            kept = KeptDeployment(d, source_revision=state.revisions.get(d.source))
        elif kept.deployment == d:
            return
        kept = kept.observed(d, self.clock())
        write_atomically(self.path(d.id), json.dumps({"schema": SCHEMA_VERSION, **kept.to_dict()}, indent=2) + "\n")
        self._last = kept

    def get(self, deployment_id: str) -> KeptDeployment | None:
        if not _is_id(deployment_id):
            return None
        return self._load(self.path(deployment_id))

    def all(self) -> list[KeptDeployment]:
        """Every kept deployment, newest first."""
        if not self.directory.is_dir():
            return []
        found = [self._load(path) for path in self.directory.glob("*.json")]
        return newest_first([k for k in found if k is not None])

    def _load(self, path: Path) -> KeptDeployment | None:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise BgctlError(f"The deployment record {path} is damaged ({exc}); remove it to go on.") from exc
        try:
            return KeptDeployment.from_dict(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise BgctlError(f"The deployment record {path} is damaged ({exc}); remove it to go on.") from exc


class StateAndHistory:
    """The engine's Records port: the state file (for resuming), then the deployment's history entry."""

    def __init__(self, state_file: StateFile, history: DeploymentHistory) -> None:
        self.state_file = state_file
        self.history = history

    def save(self, state: State) -> None:
        self.state_file.save(state)
        self.history.record(state)


def kept_deployments(history: DeploymentHistory, state: State | None) -> list[KeptDeployment]:
    """Every deployment, newest first: the history's, and the state file's last one if the history
    lacks it (a deployment recorded before the history was kept)."""
    kept = history.all()
    current: Deployment | None = state.deployment if state else None
    if current is not None and all(k.deployment.id != current.id for k in kept):
        kept = newest_first(kept + [KeptDeployment(current, updated=None)])
    return kept


def _is_id(text: str) -> bool:
    # An id names a file in the folder: nothing that could reach outside it.
    return bool(text) and all(c.isalnum() or c in "-_" for c in text)
