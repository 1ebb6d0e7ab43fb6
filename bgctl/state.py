"""The state file: what bgctl published and how, written atomically.

`.bgctl/<project>/state.json`. A reader never sees a half-written file: each
write goes to a temp file in the same directory, then `os.replace`.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from bgctl.deployment import Deployment
from bgctl.errors import BgctlError
from bgctl.routes import TrafficState

SCHEMA_VERSION = 1
DELIVERIES = ("host-rename", "container")


@dataclass(frozen=True)
class State:
    traffic: TrafficState
    routes_version: str = ""
    # How route files reach Envoy here; "container" once a host rename has
    # been seen not to reach it (Docker Desktop), so later publishes do not
    # wait for a rename that will never be noticed.
    delivery: str = "host-rename"
    # The deployment in progress, or the last one (kept for `status`).
    deployment: Deployment | None = None
    # What each slot runs (Revision.to_dict()); a slot absent runs its shipped revision.
    revisions: dict = field(default_factory=dict)

    def with_deployment(self, deployment: Deployment | None) -> "State":
        return replace(self, deployment=deployment)

    def with_traffic(self, traffic: TrafficState, version: str) -> "State":
        return replace(self, traffic=traffic, routes_version=version)

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA_VERSION,
            "traffic": self.traffic.to_dict(),
            "routes_version": self.routes_version,
            "delivery": self.delivery,
            "deployment": self.deployment.to_dict() if self.deployment else None,
            "revisions": self.revisions,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "State":
        if data.get("schema") != SCHEMA_VERSION:
            raise BgctlError(f"The state file has schema {data.get('schema')!r}; this bgctl reads {SCHEMA_VERSION}.")
        delivery = data.get("delivery", "host-rename")
        return cls(
            traffic=TrafficState.from_dict(data["traffic"]),
            routes_version=data.get("routes_version", ""),
            delivery=delivery if delivery in DELIVERIES else "host-rename",
            deployment=Deployment.from_dict(data["deployment"]) if data.get("deployment") else None,
            revisions=dict(data.get("revisions") or {}),
        )


INITIAL_STATE = State(traffic=TrafficState(production="blue"))


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
