"""The stack's record: what bgctl published and how, and the deployment.

Pure data; `adapters/state_file.py` keeps it in `.bgctl/<project>/state.json`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bgctl.core.deployment import Deployment
from bgctl.core.errors import BgctlError
from bgctl.core.traffic import TrafficState

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
