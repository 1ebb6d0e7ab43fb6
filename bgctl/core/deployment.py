"""The deployment record: what a deployment is doing, persisted at every step.

Pure data with transitions that return new values. Times are absolute (epoch
seconds) so that a bgctl started again after a crash knows how much of a bake
or a hook's call-back delay is left.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace

from bgctl.core.hooks import Hook
from bgctl.core.stages import FINISHED, STAGES, Stage, Status
from bgctl.core.taskdef import Revision
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


@dataclass(frozen=True)
class HookProgress:
    """Where a stage's hooks are: hooks before `index` succeeded; the hook at
    `index` answered IN_PROGRESS and is called again at `next_call_at`."""

    stage: Stage
    index: int = 0
    details: dict | None = None
    next_call_at: float = 0.0

    def to_dict(self) -> dict:
        return {"stage": self.stage.value, "index": self.index, "details": self.details,
                "next_call_at": self.next_call_at}

    @classmethod
    def from_dict(cls, data: dict) -> "HookProgress":
        return cls(Stage(data["stage"]), data.get("index", 0), data.get("details"), data.get("next_call_at", 0.0))


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
    hook_timeout: float = 60.0
    start_timeout: float = DEFAULT_START_TIMEOUT
    alarm_5xx_percent: float | None = None
    pause_at: Stage | None = None
    status: Status = Status.IN_PROGRESS
    stage: Stage = Stage.RECONCILE_SERVICE
    paused: bool = False
    history: tuple[StageRecord, ...] = ()
    bake_until: float | None = None
    # The candidate's Envoy counters when the bake began: the alarm judges only what came after.
    bake_baseline: dict[str, int] | None = None
    hook_progress: HookProgress | None = None
    reason: str | None = None
    created: float = 0.0
    finished: float | None = None
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
        return tuple(hook for hook in self.hooks if hook.stage == stage)

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
        return replace(self, history=self.history[:-1] + (replace(record, ended=now),), hook_progress=None)

    def advanced(self) -> "Deployment":
        """On to the next stage; SUCCESSFUL after CLEAN_UP."""
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
            "pause_at": self.pause_at.value if self.pause_at else None,
            "status": self.status.value,
            "stage": self.stage.value,
            "paused": self.paused,
            "history": [r.to_dict() for r in self.history],
            "bake_until": self.bake_until,
            "bake_baseline": self.bake_baseline,
            "hook_progress": self.hook_progress.to_dict() if self.hook_progress else None,
            "reason": self.reason,
            "created": self.created,
            "finished": self.finished,
            "rollback_history": list(self.rollback_history),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Deployment":
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
            pause_at=Stage(data["pause_at"]) if data.get("pause_at") else None,
            status=Status(data["status"]),
            stage=Stage(data["stage"]),
            paused=bool(data.get("paused", False)),
            history=tuple(StageRecord.from_dict(r) for r in data.get("history", ())),
            bake_until=data.get("bake_until"),
            bake_baseline=data.get("bake_baseline"),
            hook_progress=HookProgress.from_dict(data["hook_progress"]) if data.get("hook_progress") else None,
            reason=data.get("reason"),
            created=data.get("created", 0.0),
            finished=data.get("finished"),
            rollback_history=tuple(data.get("rollback_history", ())),
        )


def _revision(data: dict | None) -> Revision | None:
    # Records written before the shipped revision was modelled as None kept
    # it as a dict with "shipped": true (or as an empty dict).
    if not data or data.get("shipped"):
        return None
    return Revision.from_dict(data)
