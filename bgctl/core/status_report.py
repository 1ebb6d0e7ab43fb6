"""What `bgctl status` reports, as typed values; `to_dict` is the `status --json` contract.

Pure: built from the record and what was observed (`lifecycle/observe.py`).
The JSON keys are a stable contract: scripts read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bgctl.core.desired_count import TaskCount
from bgctl.core.deployment import Deployment, HookExecution, StageRecord
from bgctl.core.reconcile import Observed, disagreements, interrupted
from bgctl.core.services import ServiceState
from bgctl.core.stages import Stage, Status
from bgctl.core.state import State
from bgctl.core.taskdef import Revision
from bgctl.core.topology import ENVOY_SERVICE, slot_service
from bgctl.core.traffic import Slot, TestTrafficRule


@dataclass(frozen=True)
class AwaitingHook:
    """A PAUSE hook awaiting action. Past its deadline it has timed out, but nothing changes until
    the next bgctl that takes the lock (deploy, continue, rollback) applies its action."""

    hook_id: str
    stage: Stage
    deadline: float
    action: str  # its timeoutConfiguration action: CONTINUE or ROLLBACK
    timed_out: bool

    def to_dict(self) -> dict:
        return {"hook_id": self.hook_id, "stage": self.stage.value, "deadline": self.deadline,
                "timeout_action": self.action, "timed_out": self.timed_out}


@dataclass(frozen=True)
class DeploymentReport:
    id: str
    target: Slot
    source: Slot
    status: Status
    stage: Stage
    paused: bool
    interrupted: bool
    # The target's revision; for a shipped one, the shipped file's (None when it cannot be read).
    revision: Revision | None
    shipped: bool
    test_rule: TestTrafficRule
    bake_seconds: float
    bake_remaining: float | None
    reason: str | None
    history: tuple[StageRecord, ...]
    created: float
    finished: float | None
    awaiting_action: tuple[AwaitingHook, ...] = ()

    @classmethod
    def of(cls, d: Deployment, *, interrupted: bool, now: float, shipped_revision: Revision | None) -> "DeploymentReport":
        baking = d.bake_until is not None and d.stage == Stage.BAKE_TIME and not d.finished_
        return cls(
            id=d.id, target=d.target, source=d.source, status=d.status, stage=d.stage, paused=d.paused,
            interrupted=interrupted, revision=shipped_revision if d.shipped else d.revision, shipped=d.shipped,
            test_rule=d.test_rule, bake_seconds=d.bake_seconds,
            bake_remaining=max(0.0, d.bake_until - now) if baking else None,  # type: ignore[operator]
            reason=d.reason, history=d.history, created=d.created, finished=d.finished,
            awaiting_action=tuple(_awaiting(d, e, now) for e in d.awaiting()) if not d.finished_ else (),
        )

    def to_dict(self) -> dict:
        revision = self.revision.to_dict() if self.revision else {}
        return {
            "id": self.id,
            "target": self.target,
            "source": self.source,
            "status": self.status.value,
            "stage": self.stage.value,
            "paused": self.paused,
            "interrupted": self.interrupted,
            # Keeps the shape status --json always had: the revision's fields and a shipped flag.
            "revision": {**revision, "shipped": self.shipped},
            "test_rule": self.test_rule.to_dict(),
            "bake_seconds": self.bake_seconds,
            "bake_remaining": self.bake_remaining,
            "reason": self.reason,
            "history": [r.to_dict() for r in self.history],
            "created": self.created,
            "finished": self.finished,
            "awaiting_action": [a.to_dict() for a in self.awaiting_action],
        }


def _awaiting(d: Deployment, execution: HookExecution, now: float) -> AwaitingHook:
    hook = d.hook(execution.hook_id)
    action = hook.timeout.action.value if hook is not None else "ROLLBACK"
    return AwaitingHook(execution.hook_id, execution.stage, execution.expires_at, action,
                        now >= execution.expires_at)


@dataclass(frozen=True)
class RoutesReport:
    version: str | None
    live_version: str | None
    live: bool
    delivery: str | None

    def to_dict(self) -> dict:
        return {"version": self.version, "live_version": self.live_version, "live": self.live,
                "delivery": self.delivery}


@dataclass(frozen=True)
class ApiEndpoint:
    """The project's running `bgctl serve`: where it answers the ECS API."""

    url: str
    pid: int

    def to_dict(self) -> dict:
        return {"url": self.url, "pid": self.pid}


@dataclass(frozen=True)
class OwnService:
    """A service created through `bgctl serve` on a stack of its own: where it is and what it runs."""

    name: str
    ingress: str
    production: Slot | None
    revision: str | None
    deployment: str | None  # the latest deployment's status and stage

    def to_dict(self) -> dict:
        return {"ingress": self.ingress, "production": self.production, "revision": self.revision,
                "deployment": self.deployment}

    @classmethod
    def of(cls, name: str, ingress: str, state: State | None) -> "OwnService":
        if state is None:
            return cls(name, ingress, None, None, None)
        revision = state.revisions.get(state.traffic.production)
        d = state.deployment
        return cls(name, ingress, state.traffic.production, revision.source if revision else None,
                   f"{d.status.value} ({d.stage.value})" if d is not None else None)


@dataclass(frozen=True)
class StatusReport:
    project: str
    running: bool
    production: Slot | None
    production_revision: str | None
    weights: dict[str, int]
    test_rule: TestTrafficRule | None
    deployment: DeploymentReport | None
    routes: RoutesReport
    containers: dict[str, ServiceState]
    warnings: tuple[str, ...]
    ingress: str
    admin: str
    api: ApiEndpoint | None = None
    # The slots' tasks against their desiredCount: production's, and a deployment's target and source.
    tasks: dict[Slot, TaskCount] = field(default_factory=dict)
    # The services created through `bgctl serve` that run on stacks of their own, by name.
    services: tuple[OwnService, ...] = ()

    def to_dict(self) -> dict:
        return {
            "project": self.project,
            "running": self.running,
            "production": self.production,
            "production_revision": self.production_revision,
            "weights": self.weights,
            "test_rule": self.test_rule.to_dict() if self.test_rule else None,
            "deployment": self.deployment.to_dict() if self.deployment else None,
            "routes": self.routes.to_dict(),
            "containers": {
                name: {"status": s.status, "health": s.health, "image": s.image}
                for name, s in sorted(self.containers.items())
            },
            "warnings": list(self.warnings),
            "ingress": self.ingress,
            "admin": self.admin,
            "api": self.api.to_dict() if self.api else None,
            "tasks": {slot: {"desired": c.desired, "running": c.running, "healthy": c.healthy}
                      for slot, c in self.tasks.items()},
            "services": {service.name: service.to_dict() for service in self.services},
        }


def status_report(*, project: str, ingress: str, admin: str, state: State | None, seen: Observed, now: float,
                  shipped_revision: Revision | None = None, api: ApiEndpoint | None = None) -> StatusReport:
    """`shipped_revision`: the deployment target's shipped revision, shown when it runs that one;
    `api`: the project's running `bgctl serve`, if any."""
    envoy = seen.services.get(ENVOY_SERVICE)
    running = envoy is not None and envoy.status == "running"
    traffic = state.traffic if state else None
    deployment = None
    if state and state.deployment:
        deployment = DeploymentReport.of(state.deployment, interrupted=interrupted(state, seen), now=now,
                                         shipped_revision=shipped_revision)
    production_revision = None
    if state and traffic:
        revision = state.revisions.get(traffic.production)
        production_revision = (f"{revision.family} from {revision.source}" if revision
                               else f"shipped {traffic.production} revision")
    return StatusReport(
        project=project,
        running=running,
        production=traffic.production if traffic else None,
        production_revision=production_revision,
        weights=traffic.weights() if traffic else {},
        test_rule=traffic.test_rule if traffic else None,
        deployment=deployment,
        routes=RoutesReport(
            version=state.routes_version if state else None,
            live_version=seen.live_version,
            live=bool(state and seen.live_version and seen.live_version == state.routes_version),
            delivery=state.delivery if state else None,
        ),
        containers=dict(seen.services),
        warnings=tuple(disagreements(state, seen)) if state and running else (),
        ingress=ingress,
        admin=admin,
        api=api,
        tasks=_task_counts(state, seen),
    )


def _task_counts(state: State | None, seen: Observed) -> dict[Slot, TaskCount]:
    if state is None:
        return {}
    wanted = {state.traffic.production: state.desired_count}
    d = state.deployment
    if d is not None and not d.finished_:
        wanted = {d.source: d.source_count}
        if not d.rolling_back:
            wanted[d.target] = d.desired_count
    return {slot: TaskCount.of(seen.tasks.get(slot_service(slot, seen.service), ()), count)
            for slot, count in sorted(wanted.items())}
