"""The stack's record: what bgctl published and how, and the deployment.

Pure data; `adapters/state_file.py` keeps it in `.bgctl/<project>/state.json`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bgctl.core.deployment import Deployment
from bgctl.core.desired_count import DEFAULT_DESIRED_COUNT
from bgctl.core.errors import BgctlError
from bgctl.core.taskdef import Revision
from bgctl.core.traffic import Slot, TrafficState

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
    # What each slot runs; a slot absent runs its shipped revision.
    revisions: dict[Slot, Revision] = field(default_factory=dict)
    # ECS's desiredCount of the service: how many tasks the production slot runs.
    desired_count: int = DEFAULT_DESIRED_COUNT

    def with_deployment(self, deployment: Deployment | None) -> "State":
        return replace(self, deployment=deployment)

    def with_revision(self, slot: Slot, revision: Revision | None) -> "State":
        revisions = {s: r for s, r in self.revisions.items() if s != slot}
        if revision is not None:
            revisions[slot] = revision
        return replace(self, revisions=revisions)

    def with_traffic(self, traffic: TrafficState, version: str) -> "State":
        return replace(self, traffic=traffic, routes_version=version)

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA_VERSION,
            "traffic": self.traffic.to_dict(),
            "routes_version": self.routes_version,
            "delivery": self.delivery,
            "deployment": self.deployment.to_dict() if self.deployment else None,
            "revisions": {slot: revision.to_dict() for slot, revision in self.revisions.items()},
            "desired_count": self.desired_count,
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
            # Older records kept shipped revisions too, flagged "shipped".
            revisions={slot: Revision.from_dict(r) for slot, r in (data.get("revisions") or {}).items()
                       if r and not r.get("shipped")},
            # Records written before desiredCount ran one task per slot.
            desired_count=int(data.get("desired_count", DEFAULT_DESIRED_COUNT)),
        )


INITIAL_STATE = State(traffic=TrafficState(production="blue"))
