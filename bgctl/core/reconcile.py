"""Comparing the record with the world: what Envoy serves, which containers run.

Every command looks before it acts, and says so when the two disagree
instead of acting on a stale record. Pure: `lifecycle/observe.py` looks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bgctl.core.services import ServiceState
from bgctl.core.topology import DEPLOYED_SERVICE, ENVOY_SERVICE, slot_service
from bgctl.core.stages import STAGES, Stage
from bgctl.core.state import State


@dataclass(frozen=True)
class Observed:
    services: dict[str, ServiceState]  # one container per service, a running one first
    live_version: str | None  # None: Envoy not answering
    lock_held: bool
    # Every container by service: a slot runs its desiredCount of them.
    tasks: dict[str, tuple[ServiceState, ...]] = field(default_factory=dict)
    # What the slots' Compose services are called (Settings.service).
    service: str = DEPLOYED_SERVICE


def disagreements(state: State, seen: Observed, *, self_holds_lock: bool = False) -> list[str]:
    """Sentences, one per way the record and the world differ (pure)."""
    found = []
    envoy = seen.services.get(ENVOY_SERVICE)
    if envoy is None or envoy.status != "running":
        found.append("Envoy (service-connect) is not running; run bgctl up.")
    elif seen.live_version is None:
        found.append("Envoy's admin interface does not answer.")
    elif seen.live_version != state.routes_version:
        found.append(f"Envoy serves routes {seen.live_version}, but the record says {state.routes_version}.")
    production = seen.services.get(slot_service(state.traffic.production, seen.service))
    deployment = state.deployment
    restarting_source = deployment is not None and not deployment.finished_ and deployment.stage == Stage.CLEAN_UP
    restarting_source = restarting_source and state.traffic.production == deployment.source
    if (production is None or not production.serving) and not restarting_source:
        what = "missing" if production is None else f"{production.status}/{production.health or '-'}"
        found.append(f"{state.traffic.production} serves production but its container is {what}.")
    if deployment is not None and not deployment.finished_:
        if not deployment.paused and not (seen.lock_held and not self_holds_lock) and not self_holds_lock:
            found.append(
                f"The deployment of {deployment.target} was interrupted at {deployment.stage} "
                "(bgctl stopped); bgctl continue resumes it, bgctl rollback aborts it."
            )
        scaled = STAGES.index(deployment.stage) > STAGES.index(Stage.SCALE_UP)
        candidate = seen.services.get(slot_service(deployment.target, seen.service))
        if scaled and not deployment.rolling_back and (candidate is None or candidate.status != "running"):
            found.append(f"The candidate {deployment.target} should be running but is not.")
    return found


def interrupted(state: State, seen: Observed) -> bool:
    d = state.deployment
    return d is not None and not d.finished_ and not d.paused and not seen.lock_held
