"""Deployment records as ECS keeps them: DescribeServiceDeployments and ListServiceDeployments output.

Pure: a kept deployment (bgctl's record plus what the history noticed about
it) becomes ECS's `ServiceDeployment` and `ServiceDeploymentBrief`, with
ARNs in ECS's formats (core/arns.py's fixed fake account and region) and
timestamps as epoch seconds, as they travel on ECS's JSON wire. Only keys
that botocore's output shapes for those operations know are written.

Where bgctl has no ECS equivalent the nearest true value is given:
- a shell hook (`--hook`, `[[hooks]]`) is reported with targetType "COMMAND"
  and no targetArn (ECS knows only AWS_LAMBDA and PAUSE);
- `--pause-at STAGE` is a PAUSE hook with hookId "pause-at-STAGE";
- the 5xx alarm is named `<service>-5xx-above-<N>-percent`;
- there is no circuit breaker: its status is DISABLED;
- lifecycleHookDetails holds the current stage's hook executions (at the
  current LINEAR/CANARY step, or the rollback's), and once the deployment
  has finished each hook's last execution before any rollback.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from bgctl.core.arns import ServiceNames
from bgctl.core.deployment import Deployment, HookExecution
from bgctl.core.hooks import HookTargetType
from bgctl.core.stages import STAGES, Stage, Status
from bgctl.core.taskdef import Revision

# What the record's minutes were when it does not say (BGCTL_MINUTE unset).
MINUTE_SECONDS = 60.0

ROLLBACK_STATUSES = frozenset({Status.ROLLBACK_IN_PROGRESS, Status.ROLLBACK_SUCCESSFUL, Status.ROLLBACK_FAILED})
ENDED_STATUSES = frozenset({Status.SUCCESSFUL, Status.ROLLBACK_SUCCESSFUL, Status.ROLLBACK_FAILED})


def service_revision_id(slot: str, revision: Revision | None) -> str:
    """ECS's service-revision id (19 digits) for `slot` running `revision` (None: its shipped one).

    The same slot running the same task definition content gets the same id on
    every run, so records and hook events name a revision the same way.
    """
    what = {k: v for k, v in revision.to_dict().items() if k not in ("source", "ignored")} if revision else "shipped"
    digest = hashlib.sha256(json.dumps([slot, what], sort_keys=True).encode()).hexdigest()
    return str(int(digest[:16], 16) % 10**19).rjust(19, "1")


@dataclass(frozen=True)
class KeptDeployment:
    """One deployment as the history keeps it: the record, and what the record alone does not say.

    `source_revision` is what the source slot ran when the deployment began
    (the state's revisions change as deployments finish); `rollback_started`
    and `updated` are when the history first saw a rollback and last saw a change.
    """

    deployment: Deployment
    source_revision: Revision | None = None
    rollback_started: float | None = None
    updated: float | None = None
    extra: dict = field(default_factory=dict)

    def observed(self, deployment: Deployment, now: float) -> "KeptDeployment":
        """This entry after the record changed to `deployment` at `now`."""
        rollback_started = self.rollback_started
        if rollback_started is None and deployment.status in ROLLBACK_STATUSES | {Status.ROLLBACK_REQUESTED}:
            rollback_started = now
        return KeptDeployment(deployment, self.source_revision, rollback_started, now, self.extra)

    def to_dict(self) -> dict:
        return {
            "deployment": self.deployment.to_dict(),
            "source_revision": self.source_revision.to_dict() if self.source_revision else None,
            "rollback_started": self.rollback_started,
            "updated": self.updated,
            **({"extra": self.extra} if self.extra else {}),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "KeptDeployment":
        source = data.get("source_revision")
        return cls(
            deployment=Deployment.from_dict(data["deployment"]),
            source_revision=Revision.from_dict(source) if source else None,
            rollback_started=data.get("rollback_started"),
            updated=data.get("updated"),
            extra=dict(data.get("extra") or {}),
        )


def newest_first(kept: list[KeptDeployment]) -> list[KeptDeployment]:
    return sorted(kept, key=lambda k: (k.deployment.created, k.deployment.id), reverse=True)


# -- ECS's shapes ------------------------------------------------------------------------


def names_of(d: Deployment) -> ServiceNames:
    return d.names


def target_revision_arn(k: KeptDeployment) -> str:
    d = k.deployment
    # Records from before the engine gave revisions ids: an id from what the slot ran.
    revision_id = d.target_revision_id or service_revision_id(d.target, d.revision)
    return names_of(d).service_revision_arn(revision_id)


def source_revision_arn(k: KeptDeployment) -> str:
    d = k.deployment
    revision_id = d.source_revision_id or service_revision_id(d.source, k.source_revision)
    return names_of(d).service_revision_arn(revision_id)


def _minute(d: Deployment) -> float:
    return float(d.minute_seconds or MINUTE_SECONDS)


def _rollback_started(k: KeptDeployment) -> float | None:
    return k.deployment.rollback_started or k.rollback_started


def service_deployment_brief(k: KeptDeployment) -> dict:
    """ECS's ServiceDeploymentBrief (an item of ListServiceDeployments)."""
    d = k.deployment
    names = names_of(d)
    times = _times(k)
    brief = {
        "serviceDeploymentArn": names.service_deployment_arn(d.id),
        "serviceArn": names.service_arn,
        "clusterArn": names.cluster_arn,
        "startedAt": times.get("startedAt"),
        "createdAt": times.get("createdAt"),
        "finishedAt": times.get("finishedAt"),
        "targetServiceRevisionArn": target_revision_arn(k),
        "status": d.status.value,
        "statusReason": _status_reason(d),
    }
    return _without_none(brief)


def list_service_deployments(kept: list[KeptDeployment], next_token: str | None = None) -> dict:
    """ListServiceDeployments' output, newest first as ECS lists them."""
    out: dict = {"serviceDeployments": [service_deployment_brief(k) for k in newest_first(kept)]}
    if next_token:
        out["nextToken"] = next_token
    return out


def service_deployment(k: KeptDeployment) -> dict:
    """ECS's ServiceDeployment (an item of DescribeServiceDeployments)."""
    d = k.deployment
    names = names_of(d)
    source_weights, target_weights = _weights(d)
    record = {
        "serviceDeploymentArn": names.service_deployment_arn(d.id),
        "serviceArn": names.service_arn,
        "clusterArn": names.cluster_arn,
        **_times(k),
        "sourceServiceRevisions": [
            _revision_summary(source_revision_arn(k), _source_tasks(d), source_weights),
        ],
        "targetServiceRevision": _revision_summary(target_revision_arn(k), _target_tasks(d), target_weights),
        "status": d.status.value,
        "statusReason": _status_reason(d),
        "lifecycleStage": None if d.status == Status.PENDING else reported_stage(d.stage),
        "lifecycleHookDetails": hook_details(d),
        "deploymentConfiguration": deployment_configuration(d),
        "rollback": _rollback(k),
        "deploymentCircuitBreaker": {"status": "DISABLED"},
        "alarms": _alarms(d),
    }
    return _without_none(record)


def describe_service_deployments(found: list[KeptDeployment], missing_arns: list[str] = ()) -> dict:
    """DescribeServiceDeployments' output; an ARN that names no deployment is a failure, as in ECS."""
    return {
        "serviceDeployments": [service_deployment(k) for k in found],
        "failures": [{"arn": arn, "reason": "MISSING"} for arn in missing_arns],
    }


def alarm_name(d: Deployment) -> str | None:
    if d.alarm_5xx_percent is None:
        return None
    return f"{names_of(d).service}-5xx-above-{d.alarm_5xx_percent:g}-percent"


def deployment_configuration(d: Deployment) -> dict:
    minute = _minute(d)
    shift = d.shift
    strategy = shift.strategy.value
    config: dict = {"strategy": strategy, "bakeTimeInMinutes": _minutes(d.bake_seconds, minute)}
    if strategy == "LINEAR":
        config["linearConfiguration"] = {"stepPercent": float(shift.step_percent),
                                         "stepBakeTimeInMinutes": _minutes(shift.step_bake_seconds, minute)}
    elif strategy == "CANARY":
        config["canaryConfiguration"] = {"canaryPercent": float(shift.canary_percent),
                                         "canaryBakeTimeInMinutes": _minutes(shift.canary_bake_seconds, minute)}
    hooks = _configured_hooks(d, minute)
    if hooks:
        config["lifecycleHooks"] = hooks
    name = alarm_name(d)
    if name is not None:
        config["alarms"] = {"alarmNames": [name], "rollback": d.alarm_rollback,
                            "enable": True}
    return config


# ECS's model lists PRE_PRODUCTION_TRAFFIC_SHIFT among the stages a hook may run at
# (LINEAR and CANARY) but not among a deployment's lifecycleStage values: while its
# hooks run, the deployment is reported at the shift they precede.
_REPORTED_AS = {Stage.PRE_PRODUCTION_TRAFFIC_SHIFT: Stage.PRODUCTION_TRAFFIC_SHIFT}


def reported_stage(stage: Stage) -> str:
    """`stage` as ServiceDeployment.lifecycleStage can say it."""
    return _REPORTED_AS.get(stage, stage).value


def _minutes(seconds: float, minute: float) -> int:
    return int(round(seconds / minute))


def hook_details(d: Deployment) -> list[dict]:
    """lifecycleHookDetails: the hooks of the current stage that were called, with their status."""
    if d.status == Status.PENDING:
        return []
    return _execution_details(d)


# -- helpers -----------------------------------------------------------------------------


def _configured_hooks(d: Deployment, minute: float) -> list[dict]:
    hooks: list[dict] = []
    for hook in d.hooks:
        entry: dict = {"targetType": hook.target_type.value}
        if hook.target_type == HookTargetType.AWS_LAMBDA:
            entry["hookTargetArn"] = hook.target
        entry["lifecycleStages"] = [s.value for s in hook.stages]
        if hook.details:
            entry["hookDetails"] = hook.details
        entry["timeoutConfiguration"] = {"timeoutInMinutes": int(round(hook.timeout.minutes)),
                                         "action": hook.timeout.action.value}
        hooks.append(entry)
    if d.pause_at is not None:
        hooks.append({"targetType": "PAUSE", "lifecycleStages": [d.pause_at.value]})
    return hooks


def _execution_details(d: Deployment) -> list[dict]:
    """From the record's hook executions: the current stage's (at the current step, or the
    rollback's while rolling back); once finished, each hook's last execution before any rollback."""
    executions = d.hook_executions
    if d.finished_:
        last: dict[str, HookExecution] = {}
        for e in executions:
            if not e.rollback:
                last[e.hook_id] = e
        chosen = list(last.values())
    else:
        rolling_back = d.status == Status.ROLLBACK_IN_PROGRESS
        chosen = [e for e in executions if e.stage == d.stage and e.rollback == rolling_back
                  and (rolling_back or e.step == d.step)]
    details = []
    for e in chosen:
        hook = d.hook(e.hook_id)
        entry = {"hookId": e.hook_id,
                 "targetType": hook.target_type.value if hook is not None else "COMMAND"}
        if hook is not None and hook.target_type == HookTargetType.AWS_LAMBDA:
            entry["targetArn"] = hook.target
        entry["status"] = e.status.value
        entry["expiresAt"] = e.expires_at
        if hook is not None:
            entry["timeoutAction"] = hook.timeout.action.value
        details.append(entry)
    if d.pause_at is not None and d.pause_at == d.stage and d.paused:
        details.append({"hookId": f"pause-at-{d.stage.value}", "targetType": "PAUSE", "status": "AWAITING_ACTION"})
    return details


def _stage_ended(d: Deployment, stage: Stage) -> bool:
    return any(r.stage == stage and r.ended is not None for r in d.history)


def _reached(d: Deployment, stage: Stage) -> bool:
    """Whether the deployment got to `stage` (is in it or past it)."""
    return STAGES.index(d.stage) >= STAGES.index(stage) or _stage_ended(d, stage)


def _weights(d: Deployment) -> tuple[tuple[float, float], tuple[float, float]]:
    """(test, production) weights requested of the source and of the target."""
    if d.status == Status.SUCCESSFUL:
        return (0.0, 0.0), (100.0, 100.0)
    if d.status in ROLLBACK_STATUSES or d.status == Status.PENDING:
        return (100.0, 100.0), (0.0, 0.0)
    test = 100.0 if _reached(d, Stage.TEST_TRAFFIC_SHIFT) else 0.0
    production = _production_share(d)
    return (100.0 - test, 100.0 - production), (test, production)


def _production_share(d: Deployment) -> float:
    """The target's share of production traffic at the record's stage (and LINEAR/CANARY step)."""
    steps = d.shift.steps()
    step = min(d.step, len(steps) - 1)
    if STAGES.index(d.stage) >= STAGES.index(Stage.PRODUCTION_TRAFFIC_SHIFT):
        return float(steps[step])
    return float(steps[step - 1]) if step > 0 else 0.0


def _target_tasks(d: Deployment) -> tuple[int, int, int]:
    """(requested, running, pending) tasks of the target: its desiredCount of containers."""
    n = d.desired_count
    up = _stage_ended(d, Stage.SCALE_UP)
    if d.status in (Status.ROLLBACK_SUCCESSFUL, Status.ROLLBACK_FAILED):
        return 0, 0, 0
    if d.status == Status.ROLLBACK_IN_PROGRESS:
        return 0, n * int(up), 0
    if d.status != Status.PENDING and d.stage == Stage.SCALE_UP and not up:
        return n, 0, n
    return n, n * int(up or d.status == Status.SUCCESSFUL), 0


def _source_tasks(d: Deployment) -> tuple[int, int, int]:
    n = d.source_count
    if d.status == Status.SUCCESSFUL:
        return 0, 0, 0
    if d.stage == Stage.CLEAN_UP and not d.rolling_back and d.status not in ROLLBACK_STATUSES:
        return 0, n, 0
    return n, n, 0


def _revision_summary(arn: str, tasks: tuple[int, int, int], weights: tuple[float, float]) -> dict:
    requested, running, pending = tasks
    return {
        "arn": arn,
        "requestedTaskCount": requested,
        "runningTaskCount": running,
        "pendingTaskCount": pending,
        "requestedTestTrafficWeight": weights[0],
        "requestedProductionTrafficWeight": weights[1],
    }


def _times(k: KeptDeployment) -> dict:
    d = k.deployment
    started = d.history[0].started if d.history else None
    moments = [t for t in (d.created, started, d.finished, _rollback_started(k), k.updated) if t]
    moments += [t for r in d.history for t in (r.started, r.ended) if t]
    ended = d.finished if d.finished_ else None
    return _without_none({
        "createdAt": d.created or None,
        "startedAt": started,
        "finishedAt": ended if d.status in ENDED_STATUSES else None,
        "stoppedAt": ended if d.status == Status.STOPPED else None,
        "updatedAt": max(moments) if moments else None,
    })


def _status_reason(d: Deployment) -> str | None:
    parts = [p for p in (d.reason, *d.rollback_history) if p]
    return "; ".join(parts) if parts else None


def _rollback(k: KeptDeployment) -> dict | None:
    d = k.deployment
    if d.status not in ROLLBACK_STATUSES:
        return None
    return _without_none({
        "reason": d.reason,
        "startedAt": _rollback_started(k),
        "serviceRevisionArn": source_revision_arn(k),
    })


def _alarms(d: Deployment) -> dict:
    name = alarm_name(d)
    if name is None:
        return {"status": "DISABLED"}
    triggered = bool(d.alarm_triggered or (d.reason and d.reason.startswith("Alarm:")))
    if triggered:
        status = "TRIGGERED"
    elif d.finished_:
        status = "MONITORING_COMPLETE"
    else:
        status = "MONITORING"
    return {"status": status, "alarmNames": [name], "triggeredAlarmNames": [name] if triggered else []}


def _without_none(values: dict) -> dict:
    return {key: value for key, value in values.items() if value is not None}
