"""A service definition: the JSON a team passes to `aws ecs update-service --cli-input-json`.

Pure: `parse_service_definition` takes the JSON already read and already checked
against ECS's API model (`adapters/ecs_model.py` knows every key, type, enum and
minimum), and keeps what the kit reproduces: the task definition, the
deployment strategy and its timings, the alarms, the lifecycle hooks and the
Service Connect test traffic rule. The rest -- networking, placement, capacity,
IAM -- is listed in `ServiceDefinition.ignored`, so the user sees it was left
out rather than believing it applied.

What the model cannot say is checked here, each refusal one sentence naming the
file: ECS's documented ranges that the model leaves to the service, PAUSE hooks
at the two traffic shifts, a Lambda hook with no local function, ROLLING.

UpdateService semantics: a field left out keeps the service's current setting.
The kit's service is blue/green with bgctl.toml's bake time and test rule, so
those are what a missing `strategy`, `bakeTimeInMinutes`, `lifecycleHooks`,
`alarms` or `serviceConnectConfiguration` mean (None below). CreateService has no current
service: a missing strategy is ECS's ROLLING, which is refused.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from bgctl.core.desired_count import MAX_DESIRED_COUNT
from bgctl.core.errors import InvalidInput
from bgctl.core.stages import NO_HOOKS, NO_PAUSE, Stage
from bgctl.core.traffic import AWS_DEFAULT_TEST_HEADER, TestTrafficRule

UPDATE_SERVICE = "UpdateService"
CREATE_SERVICE = "CreateService"

# ECS's defaults and ranges as the API reference documents them; the model
# carries them only as prose, so they are written here once.
BLUE_GREEN, LINEAR, CANARY, ROLLING = "BLUE_GREEN", "LINEAR", "CANARY", "ROLLING"
STRATEGIES = (BLUE_GREEN, LINEAR, CANARY)
DEFAULT_STEP_PERCENT = 10.0
DEFAULT_STEP_BAKE_MINUTES = 6
DEFAULT_CANARY_PERCENT = 5.0
DEFAULT_CANARY_BAKE_MINUTES = 10
MAX_BAKE_MINUTES = 1440
DEFAULT_HOOK_TIMEOUT_MINUTES = 1440
DEFAULT_HOOK_TIMEOUT_ACTION = "ROLLBACK"
MAX_PAUSE_HOOKS = 10
LAMBDA, PAUSE = "AWS_LAMBDA", "PAUSE"

# Fields that name or trigger the deployment rather than ask for something to run.
_METADATA = frozenset({"forceNewDeployment", "clientToken"})
_APPLIED = frozenset({"cluster", "service", "serviceName", "taskDefinition", "desiredCount",
                      "deploymentConfiguration", "serviceConnectConfiguration"})
_DEPLOYMENT_APPLIED = frozenset({"strategy", "bakeTimeInMinutes", "linearConfiguration", "canaryConfiguration",
                                 "alarms", "lifecycleHooks"})
# The kit runs Service Connect: these describe it; anything else under it (TLS, logs, timeouts) is not reproduced.
_SERVICE_CONNECT_APPLIED = frozenset({"enabled", "namespace", "services"})
_SC_SERVICE_APPLIED = frozenset({"portName", "discoveryName", "clientAliases"})
_ALIAS_APPLIED = frozenset({"port", "dnsName", "testTrafficRules"})
# family, family:revision, or a task definition ARN (whose resource part is family:revision).
_FAMILY = re.compile(r"^(?:arn:aws[a-z-]*:ecs:[^:]*:\d*:task-definition/)?([A-Za-z0-9_-]{1,255})(?::(\d+))?$")


@dataclass(frozen=True)
class TaskDefinitionRef:
    """`taskDefinition` as written: a file path (relative to the service definition's folder),
    or a family with an optional revision to look up (adapters/project_files.find_task_definition)."""

    text: str
    path: str | None = None
    family: str | None = None
    revision: int | None = None

    def describe(self) -> str:
        if self.path is not None:
            return self.path
        return f"{self.family}:{self.revision}" if self.revision is not None else str(self.family)


@dataclass(frozen=True)
class LinearConfiguration:
    step_percent: float = DEFAULT_STEP_PERCENT
    step_bake_minutes: int = DEFAULT_STEP_BAKE_MINUTES


@dataclass(frozen=True)
class CanaryConfiguration:
    canary_percent: float = DEFAULT_CANARY_PERCENT
    canary_bake_minutes: int = DEFAULT_CANARY_BAKE_MINUTES


@dataclass(frozen=True)
class Alarms:
    names: tuple[str, ...]
    enable: bool
    rollback: bool


@dataclass(frozen=True)
class LifecycleHookSpec:
    """One entry of `deploymentConfiguration.lifecycleHooks`, with ECS's defaults filled in."""

    target_type: str  # AWS_LAMBDA | PAUSE
    target_arn: str | None
    stages: tuple[Stage, ...]
    details: dict | None
    timeout_minutes: int = DEFAULT_HOOK_TIMEOUT_MINUTES
    timeout_action: str = DEFAULT_HOOK_TIMEOUT_ACTION


@dataclass(frozen=True)
class ServiceDefinition:
    source: str
    operation: str
    cluster: str | None
    service: str
    task_definition: TaskDefinitionRef
    desired_count: int | None
    strategy: str | None  # None: the service's current strategy (the kit's service is BLUE_GREEN)
    bake_minutes: int | None  # None: the service's current bake time (bgctl.toml's)
    linear: LinearConfiguration | None
    canary: CanaryConfiguration | None
    alarms: Alarms | None
    hooks: tuple[LifecycleHookSpec, ...] | None  # None: the service's current hooks (bgctl.toml's)
    test_rule: TestTrafficRule | None  # None: the service's current rule (bgctl.toml's)
    ignored: tuple[str, ...] = field(default=())


def parse_service_definition(
    data: Mapping[str, Any],
    *,
    source: str,
    operation: str = UPDATE_SERVICE,
    functions: Collection[str] | None = None,
    config_name: str = "bgctl.toml",
) -> ServiceDefinition:
    """`data` (valid input of `operation` by ECS's model) as what the kit runs.

    `functions` are the Lambda ARNs the configuration maps to local handlers
    (None: do not check); `config_name` names that file in the refusal.
    """
    say = _Say(source)
    service = data.get("serviceName" if operation == CREATE_SERVICE else "service")
    if not service:
        raise say(f"names no {'serviceName' if operation == CREATE_SERVICE else 'service'}")
    reference = data.get("taskDefinition")
    if not reference:
        raise say("names no taskDefinition; give a task definition file's path or family[:revision]")
    dc = data.get("deploymentConfiguration") or {}
    strategy = dc.get("strategy")
    if strategy is None and operation == CREATE_SERVICE:
        strategy = ROLLING  # ECS's default for a new service
    if strategy == ROLLING:
        raise say("asks for the ROLLING strategy; the kit reproduces ECS's blue/green strategies only "
                  "(BLUE_GREEN, LINEAR, CANARY)")
    linear = _linear(dc.get("linearConfiguration"), strategy, say)
    canary = _canary(dc.get("canaryConfiguration"), strategy, say)
    bake = dc.get("bakeTimeInMinutes")
    if bake is not None:
        _minutes(bake, "deploymentConfiguration.bakeTimeInMinutes", say)
    return ServiceDefinition(
        source=source,
        operation=operation,
        cluster=data.get("cluster") or None,
        service=str(service),
        task_definition=task_definition_reference(str(reference), say=say),
        desired_count=_desired_count(data.get("desiredCount"), say),
        strategy=strategy,
        bake_minutes=bake,
        linear=linear,
        canary=canary,
        alarms=_alarms(dc.get("alarms")),
        hooks=None if dc.get("lifecycleHooks") is None else _hooks(dc["lifecycleHooks"], say, functions, config_name),
        test_rule=_test_rule(data, say, operation),
        ignored=_ignored(data),
    )


def task_definition_reference(text: str, *, say: "_Say | None" = None) -> TaskDefinitionRef:
    """A path if it looks like one (a `.json` name or a `/` that is not an ARN's), else family[:revision]."""
    match = _FAMILY.match(text)
    if match and not text.endswith(".json"):
        return TaskDefinitionRef(text, family=match[1], revision=int(match[2]) if match[2] else None)
    if text.startswith("arn:"):
        raise (say or _Say("the service definition"))(
            f"names taskDefinition {text!r}, which is not a task definition ARN "
            "(arn:aws:ecs:REGION:ACCOUNT:task-definition/FAMILY:REVISION)")
    return TaskDefinitionRef(text, path=text)


def _linear(value: Mapping | None, strategy: str | None, say: "_Say") -> LinearConfiguration | None:
    if value is None:
        return LinearConfiguration() if strategy == LINEAR else None
    if strategy != LINEAR:
        raise say(f"has a linearConfiguration, which ECS takes only with the LINEAR strategy, not {strategy or BLUE_GREEN}")
    step = value.get("stepPercent", DEFAULT_STEP_PERCENT)
    _percent(step, 3.0, "deploymentConfiguration.linearConfiguration.stepPercent", say)
    bake = value.get("stepBakeTimeInMinutes", DEFAULT_STEP_BAKE_MINUTES)
    _minutes(bake, "deploymentConfiguration.linearConfiguration.stepBakeTimeInMinutes", say)
    return LinearConfiguration(float(step), bake)


def _canary(value: Mapping | None, strategy: str | None, say: "_Say") -> CanaryConfiguration | None:
    if value is None:
        return CanaryConfiguration() if strategy == CANARY else None
    if strategy != CANARY:
        raise say(f"has a canaryConfiguration, which ECS takes only with the CANARY strategy, not {strategy or BLUE_GREEN}")
    percent = value.get("canaryPercent", DEFAULT_CANARY_PERCENT)
    _percent(percent, 0.1, "deploymentConfiguration.canaryConfiguration.canaryPercent", say)
    bake = value.get("canaryBakeTimeInMinutes", DEFAULT_CANARY_BAKE_MINUTES)
    _minutes(bake, "deploymentConfiguration.canaryConfiguration.canaryBakeTimeInMinutes", say)
    return CanaryConfiguration(float(percent), bake)


def _percent(value: float, low: float, name: str, say: "_Say") -> None:
    # "Valid values are multiples of 0.1 from <low> to 100.0" (ECS API reference).
    tenths = value * 10
    if not (math.isfinite(value) and low <= value <= 100.0 and abs(tenths - round(tenths)) < 1e-6):
        raise say(f"has {name} {value:g}; ECS takes multiples of 0.1 from {low:g} to 100")


def _minutes(value: int, name: str, say: "_Say") -> None:
    if not 0 <= value <= MAX_BAKE_MINUTES:
        raise say(f"has {name} {value}; ECS takes 0 to {MAX_BAKE_MINUTES} minutes")


def _alarms(value: Mapping | None) -> Alarms | None:
    if value is None:
        return None
    # The model requires all three members, so they are here.
    return Alarms(tuple(value["alarmNames"]), bool(value["enable"]), bool(value["rollback"]))


def _hooks(entries: list, say: "_Say", functions: Collection[str] | None, config_name: str) -> tuple[LifecycleHookSpec, ...]:
    hooks = []
    for i, entry in enumerate(entries):
        where = f"deploymentConfiguration.lifecycleHooks[{i}]"
        kind = entry.get("targetType") or LAMBDA  # ECS's default
        stages = tuple(Stage(name) for name in entry.get("lifecycleStages") or ())
        if not stages:
            raise say(f"has {where} with no lifecycleStages; name the stages it runs at")
        if len(set(stages)) != len(stages):
            raise say(f"names a stage twice in {where}.lifecycleStages")
        for stage in stages:
            # The model's enum already excludes them; kept so that a newer model cannot slip one through.
            if stage in NO_HOOKS:
                raise say(f"has {where} at {stage}, where ECS runs no lifecycle hooks")
            if kind == PAUSE and stage in NO_PAUSE:
                raise say(f"has a PAUSE hook ({where}) at {stage}; ECS does not pause during "
                          "TEST_TRAFFIC_SHIFT or PRODUCTION_TRAFFIC_SHIFT, choose another stage")
        arn = entry.get("hookTargetArn") or None
        if kind == LAMBDA:
            if arn is None:
                raise say(f"has an AWS_LAMBDA hook ({where}) with no hookTargetArn")
            if functions is not None and arn not in functions:
                raise say(f"has {where}.hookTargetArn {arn}, which {config_name} does not map to a local function; "
                          f'add a [functions."{arn}"] table with a handler or a command')
        timeout = entry.get("timeoutConfiguration") or {}
        hooks.append(LifecycleHookSpec(
            target_type=kind,
            target_arn=arn if kind == LAMBDA else None,
            stages=stages,
            details=dict(entry["hookDetails"]) if kind == LAMBDA and entry.get("hookDetails") is not None else None,
            timeout_minutes=timeout.get("timeoutInMinutes") or DEFAULT_HOOK_TIMEOUT_MINUTES,
            timeout_action=timeout.get("action") or DEFAULT_HOOK_TIMEOUT_ACTION,
        ))
    pauses = sum(h.target_type == PAUSE for h in hooks)
    if pauses > MAX_PAUSE_HOOKS:
        raise say(f"has {pauses} PAUSE hooks; ECS allows at most {MAX_PAUSE_HOOKS} per service")
    return tuple(hooks)


def _test_rule(data: Mapping, say: "_Say", operation: str) -> TestTrafficRule | None:
    config = data.get("serviceConnectConfiguration")
    if config is None:
        # UpdateService keeps the service's Service Connect setup; CreateService starts from ECS's default.
        return TestTrafficRule(AWS_DEFAULT_TEST_HEADER) if operation == CREATE_SERVICE else None
    rules = []
    for service in config.get("services") or ():
        for alias in service.get("clientAliases") or ():
            header = (alias.get("testTrafficRules") or {}).get("header")
            if header is not None:
                value = header.get("value")
                rule = TestTrafficRule(header["name"], None if value is None else value["exact"])
                if rule not in rules:
                    rules.append(rule)
    if len(rules) > 1:
        raise say("has client aliases with different testTrafficRules "
                  f"({' and '.join(r.describe() for r in rules)}); the kit's backend has one")
    return rules[0] if rules else TestTrafficRule(AWS_DEFAULT_TEST_HEADER)


def _desired_count(value: Any, say: "_Say") -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DESIRED_COUNT:
        raise say(f"asks for desiredCount {value!r}; the kit runs 1 to {MAX_DESIRED_COUNT} tasks of a revision")
    return value


def _ignored(data: Mapping) -> tuple[str, ...]:
    """The fields that ask for something the kit does not reproduce, as dotted paths."""
    ignored = [key for key, value in data.items() if key not in _APPLIED | _METADATA and _asks(value)]
    dc = data.get("deploymentConfiguration") or {}
    ignored += [f"deploymentConfiguration.{key}" for key, value in dc.items()
                if key not in _DEPLOYMENT_APPLIED and _asks(value)]
    alarms = dc.get("alarms")
    if alarms and alarms.get("enable") and alarms.get("alarmNames"):
        # CloudWatch alarms do not exist here; the kit's 5xx alarm stands in for them.
        ignored.append("deploymentConfiguration.alarms.alarmNames")
    if any(_asks(h.get("roleArn")) for h in dc.get("lifecycleHooks") or ()):
        ignored.append("deploymentConfiguration.lifecycleHooks[].roleArn")
    sc = data.get("serviceConnectConfiguration") or {}
    ignored += [f"serviceConnectConfiguration.{key}" for key, value in sc.items()
                if key not in _SERVICE_CONNECT_APPLIED and _asks(value)]
    for service in sc.get("services") or ():
        ignored += [f"serviceConnectConfiguration.services[].{key}" for key, value in service.items()
                    if key not in _SC_SERVICE_APPLIED and _asks(value)]
        for alias in service.get("clientAliases") or ():
            ignored += [f"serviceConnectConfiguration.services[].clientAliases[].{key}"
                        for key, value in alias.items() if key not in _ALIAS_APPLIED and _asks(value)]
    return tuple(dict.fromkeys(ignored))


def _asks(value: Any) -> bool:
    """Whether a field asks for something (generated skeletons spell out empty lists and false flags)."""
    return not (value is None or value is False or value == "" or value == [] or value == {})


class _Say:
    """Refusals as one sentence naming the file."""

    def __init__(self, source: str) -> None:
        self.source = source

    def __call__(self, text: str) -> InvalidInput:
        return InvalidInput(f"{self.source} {text}.")
