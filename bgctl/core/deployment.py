"""The deployment record: what a deployment is doing, persisted at every step.

Pure data with transitions that return new values. Times are absolute (epoch
seconds) so that a bgctl started again after a crash knows how much of a bake
or a hook's call-back delay is left.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field, replace
from enum import Enum

from bgctl.core.arns import ServiceNames
from bgctl.core.desired_count import DEFAULT_DESIRED_COUNT
from bgctl.core.hooks import Hook
from bgctl.core.stages import FINISHED, STAGES, Stage, Status
from bgctl.core.strategy import TrafficShift
from bgctl.core.taskdef import Revision
from bgctl.core.topology import DEPLOYED_SERVICE
from bgctl.core.traffic import Slot, TestTrafficRule

# How long SCALE_UP waits for a candidate to get healthy when the record does not say (older records).
DEFAULT_START_TIMEOUT = 120.0


@dataclass(frozen=True)
class StageRecord:
    stage: Stage
    started: float
    ended: float | None = None

    def to_dict(self) -> dict:
        return {"stage": self.stage.value, "started": self.started, "ended": self.ended,
                "seconds": None if self.ended is None else round(self.ended - self.started, 3)}

    @classmethod
    def from_dict(cls, data: dict) -> "StageRecord":
        return cls(Stage(data["stage"]), data["started"], data.get("ended"))


class HookExecutionStatus(str, Enum):
    """A hook's status in ECS's lifecycleHookDetails."""

    IN_PROGRESS = "IN_PROGRESS"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    AWAITING_ACTION = "AWAITING_ACTION"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class HookExecution:
    """One hook at one stage (at one LINEAR/CANARY step, or during the rollback): its status,
    and when it is to be called again. Times are absolute so that a bgctl started again
    after a crash waits only what is left."""

    hook_id: str
    stage: Stage
    execution_id: str
    status: HookExecutionStatus
    started: float
    expires_at: float  # when timeoutConfiguration runs out
    step: int = 0
    rollback: bool = False
    next_call_at: float = 0.0
    details: dict | None = None  # the next call's hookDetails
    calls: int = 0
    ended: float | None = None
    reason: str | None = None

    @property
    def done(self) -> bool:
        return self.status not in (HookExecutionStatus.IN_PROGRESS, HookExecutionStatus.AWAITING_ACTION)

    def to_dict(self) -> dict:
        return {"hook_id": self.hook_id, "stage": self.stage.value, "execution_id": self.execution_id,
                "status": self.status.value, "started": self.started, "expires_at": self.expires_at,
                "step": self.step, "rollback": self.rollback, "next_call_at": self.next_call_at,
                "details": self.details, "calls": self.calls, "ended": self.ended, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: dict) -> "HookExecution":
        return cls(data["hook_id"], Stage(data["stage"]), data["execution_id"],
                   HookExecutionStatus(data["status"]), data["started"], data["expires_at"],
                   data.get("step", 0), bool(data.get("rollback")), data.get("next_call_at", 0.0),
                   data.get("details"), data.get("calls", 0), data.get("ended"), data.get("reason"))


# What each hook call printed is kept with the deployment, within these bounds.
MAX_OUTPUT_CHARS = 4000
MAX_OUTPUTS = 100


@dataclass(frozen=True)
class HookOutput:
    """What one call of a hook printed (the end of it, when it printed a lot)."""

    hook_id: str
    stage: Stage
    at: float
    status: str
    stdout: str = ""
    stderr: str = ""
    rollback: bool = False

    @classmethod
    def of(cls, hook_id: str, stage: Stage, at: float, status: str, stdout: str, stderr: str,
           rollback: bool = False) -> "HookOutput":
        return cls(hook_id, stage, at, status, _tail(stdout), _tail(stderr), rollback)

    def to_dict(self) -> dict:
        return {"hook_id": self.hook_id, "stage": self.stage.value, "at": self.at, "status": self.status,
                "stdout": self.stdout, "stderr": self.stderr, "rollback": self.rollback}

    @classmethod
    def from_dict(cls, data: dict) -> "HookOutput":
        return cls(data["hook_id"], Stage(data["stage"]), data["at"], data["status"], data.get("stdout", ""),
                   data.get("stderr", ""), bool(data.get("rollback")))


def _tail(text: str) -> str:
    return text if len(text) <= MAX_OUTPUT_CHARS else "…" + text[-(MAX_OUTPUT_CHARS - 1):]


def new_revision_id() -> str:
    """A service revision id in ECS's shape (a long decimal number)."""
    return str(uuid.uuid4().int % 10**19)


def initial_revision_id(slot: Slot) -> str:
    """The id of what a slot ran before any deployment recorded one: the same from run to run."""
    return str(int(hashlib.sha256(slot.encode()).hexdigest(), 16) % 10**19)


@dataclass(frozen=True)
class Deployment:
    id: str
    target: Slot
    source: Slot
    # What the target runs: a task definition's revision, or None for the
    # target's shipped revision (compose.yaml's service as it is).
    revision: Revision | None
    test_rule: TestTrafficRule
    bake_seconds: float
    hooks: tuple[Hook, ...] = ()
    # The limit of each call of a hook (a Lambda's own timeout, --hook-timeout);
    # each hook's timeoutConfiguration bounds all its calls together.
    hook_timeout: float = 60.0
    start_timeout: float = DEFAULT_START_TIMEOUT
    alarm_5xx_percent: float | None = None
    # ECS's alarms.rollback: False means detect and report only.
    alarm_rollback: bool = True
    pause_at: Stage | None = None
    shift: TrafficShift = TrafficShift()
    # How long one ECS minute lasts here (BGCTL_MINUTE): hook timeouts and the 24 h stage limit.
    minute_seconds: float = 60.0
    names: ServiceNames = ServiceNames(DEPLOYED_SERVICE)
    # ECS's desiredCount: the target's tasks, and the source's (what a rollback keeps running).
    desired_count: int = DEFAULT_DESIRED_COUNT
    source_count: int = DEFAULT_DESIRED_COUNT
    source_revision_id: str = ""
    target_revision_id: str = ""
    status: Status = Status.IN_PROGRESS
    stage: Stage = Stage.RECONCILE_SERVICE
    # LINEAR/CANARY: which step of `shift.steps()` the production traffic shift is at.
    step: int = 0
    paused: bool = False
    history: tuple[StageRecord, ...] = ()
    bake_until: float | None = None
    step_bake_until: float | None = None
    # The candidate's Envoy counters when the bake began: the alarm judges only what came after.
    bake_baseline: dict[str, int] | None = None
    # The alarm fired with rollback off: said once, recorded.
    alarm_triggered: str | None = None
    hook_executions: tuple[HookExecution, ...] = ()
    hook_outputs: tuple[HookOutput, ...] = ()
    reason: str | None = None
    created: float = 0.0
    finished: float | None = None
    rollback_started: float | None = None
    rollback_history: tuple[str, ...] = field(default=())

    @classmethod
    def new(cls, **kwargs) -> "Deployment":
        return cls(id=f"bgd-{uuid.uuid4().hex[:10]}", **kwargs)

    @property
    def finished_(self) -> bool:
        return self.status in FINISHED

    @property
    def rolling_back(self) -> bool:
        return self.status in (Status.ROLLBACK_REQUESTED, Status.ROLLBACK_IN_PROGRESS)

    @property
    def shipped(self) -> bool:
        """Whether the target runs its shipped revision rather than a task definition's."""
        return self.revision is None

    def hooks_at(self, stage: Stage) -> tuple[Hook, ...]:
        return tuple(hook for hook in self.hooks if stage in hook.stages)

    def hook(self, hook_id: str) -> Hook | None:
        return next((h for h in self.hooks if h.hook_id == hook_id), None)

    def executions_at(self, stage: Stage, *, rollback: bool = False) -> tuple[HookExecution, ...]:
        """The hooks' executions at `stage` (at the current step; the rollback's apart)."""
        step = self.step if not rollback else 0
        return tuple(e for e in self.hook_executions
                     if e.stage == stage and e.rollback == rollback and e.step == step)

    def awaiting(self) -> tuple[HookExecution, ...]:
        return tuple(e for e in self.hook_executions if e.status == HookExecutionStatus.AWAITING_ACTION)

    def with_execution(self, execution: HookExecution) -> "Deployment":
        """`execution` added, or in place of the one of the same hook, stage, step and rollback."""
        key = (execution.hook_id, execution.stage, execution.step, execution.rollback)
        kept = tuple(e for e in self.hook_executions if (e.hook_id, e.stage, e.step, e.rollback) != key)
        if len(kept) == len(self.hook_executions):
            return replace(self, hook_executions=self.hook_executions + (execution,))
        executions = tuple(execution if (e.hook_id, e.stage, e.step, e.rollback) == key else e
                           for e in self.hook_executions)
        return replace(self, hook_executions=executions)

    def with_output(self, output: HookOutput) -> "Deployment":
        return replace(self, hook_outputs=(self.hook_outputs + (output,))[-MAX_OUTPUTS:])

    def candidate_percent(self) -> float:
        """The candidate's share of production traffic at the current step (LINEAR/CANARY)."""
        return self.shift.steps()[min(self.step, len(self.shift.steps()) - 1)]

    def current_record(self) -> StageRecord | None:
        if self.history and self.history[-1].stage == self.stage and self.history[-1].ended is None:
            return self.history[-1]
        return None

    def stage_started(self, now: float) -> "Deployment":
        if self.current_record() is not None:
            return self  # resumed: the stage keeps its first start time
        return replace(self, history=self.history + (StageRecord(self.stage, now),))

    def stage_ended(self, now: float) -> "Deployment":
        record = self.current_record()
        if record is None:
            return self
        return replace(self, history=self.history[:-1] + (replace(record, ended=now),))

    def advanced(self) -> "Deployment":
        """On to the next stage; SUCCESSFUL after CLEAN_UP. LINEAR and CANARY go from
        PRODUCTION_TRAFFIC_SHIFT back to PRE_PRODUCTION_TRAFFIC_SHIFT until the last step."""
        if self.stage == Stage.PRODUCTION_TRAFFIC_SHIFT and self.step + 1 < len(self.shift.steps()):
            return replace(self, stage=Stage.PRE_PRODUCTION_TRAFFIC_SHIFT, step=self.step + 1,
                           step_bake_until=None)
        index = STAGES.index(self.stage)
        if index + 1 == len(STAGES):
            return replace(self, status=Status.SUCCESSFUL)
        return replace(self, stage=STAGES[index + 1])

    def stage_seconds(self) -> dict[str, float]:
        return {r.stage.value: round(r.ended - r.started, 3) for r in self.history if r.ended is not None}

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "target": self.target,
            "source": self.source,
            "revision": self.revision.to_dict() if self.revision else None,
            "test_rule": self.test_rule.to_dict(),
            "bake_seconds": self.bake_seconds,
            "hooks": [hook.to_dict() for hook in self.hooks],
            "hook_timeout": self.hook_timeout,
            "start_timeout": self.start_timeout,
            "alarm_5xx_percent": self.alarm_5xx_percent,
            "alarm_rollback": self.alarm_rollback,
            "pause_at": self.pause_at.value if self.pause_at else None,
            "shift": self.shift.to_dict(),
            "minute_seconds": self.minute_seconds,
            "names": {"service": self.names.service, "cluster": self.names.cluster},
            "desired_count": self.desired_count,
            "source_count": self.source_count,
            "source_revision_id": self.source_revision_id,
            "target_revision_id": self.target_revision_id,
            "status": self.status.value,
            "stage": self.stage.value,
            "step": self.step,
            "paused": self.paused,
            "history": [r.to_dict() for r in self.history],
            "bake_until": self.bake_until,
            "step_bake_until": self.step_bake_until,
            "bake_baseline": self.bake_baseline,
            "alarm_triggered": self.alarm_triggered,
            "hook_executions": [e.to_dict() for e in self.hook_executions],
            "hook_outputs": [o.to_dict() for o in self.hook_outputs],
            "reason": self.reason,
            "created": self.created,
            "finished": self.finished,
            "rollback_started": self.rollback_started,
            "rollback_history": list(self.rollback_history),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Deployment":
        names = data.get("names") or {}
        return cls(
            id=data["id"],
            target=data["target"],
            source=data["source"],
            revision=_revision(data.get("revision")),
            test_rule=TestTrafficRule.from_dict(data["test_rule"]),
            bake_seconds=float(data["bake_seconds"]),
            hooks=tuple(Hook.from_dict(h) for h in data.get("hooks", ())),
            hook_timeout=float(data.get("hook_timeout", 60.0)),
            start_timeout=float(data.get("start_timeout", DEFAULT_START_TIMEOUT)),
            alarm_5xx_percent=data.get("alarm_5xx_percent"),
            alarm_rollback=bool(data.get("alarm_rollback", True)),
            pause_at=Stage(data["pause_at"]) if data.get("pause_at") else None,
            shift=TrafficShift.from_dict(data.get("shift")),
            minute_seconds=float(data.get("minute_seconds", 60.0)),
            names=ServiceNames(names.get("service", DEPLOYED_SERVICE), names.get("cluster", "default")),
            desired_count=int(data.get("desired_count", DEFAULT_DESIRED_COUNT)),
            source_count=int(data.get("source_count", DEFAULT_DESIRED_COUNT)),
            source_revision_id=data.get("source_revision_id", ""),
            target_revision_id=data.get("target_revision_id", ""),
            status=Status(data["status"]),
            stage=Stage(data["stage"]),
            step=int(data.get("step", 0)),
            paused=bool(data.get("paused", False)),
            history=tuple(StageRecord.from_dict(r) for r in data.get("history", ())),
            bake_until=data.get("bake_until"),
            step_bake_until=data.get("step_bake_until"),
            bake_baseline=data.get("bake_baseline"),
            alarm_triggered=data.get("alarm_triggered"),
            hook_executions=tuple(HookExecution.from_dict(e) for e in data.get("hook_executions", ())),
            hook_outputs=tuple(HookOutput.from_dict(o) for o in data.get("hook_outputs", ())),
            reason=data.get("reason"),
            created=data.get("created", 0.0),
            finished=data.get("finished"),
            rollback_started=data.get("rollback_started"),
            rollback_history=tuple(data.get("rollback_history", ())),
        )


def _revision(data: dict | None) -> Revision | None:
    # Records written before the shipped revision was modelled as None kept
    # it as a dict with "shipped": true (or as an empty dict).
    if not data or data.get("shipped"):
        return None
    return Revision.from_dict(data)
