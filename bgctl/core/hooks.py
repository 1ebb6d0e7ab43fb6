"""Lifecycle hooks as data: what a hook is, and how its answer is read.

ECS calls a hook (a Lambda function) at a stage and reads
`{"hookStatus", "callBackDelay", "hookDetails"}` back. Here a hook is a
Lambda function's local handler (AWS_LAMBDA, mapped in the configuration
file), a PAUSE, or bgctl's own shell hook (COMMAND): `/bin/sh -c COMMAND`,
whose exit status is the answer unless it prints such a JSON object on a line
of stdout, so that a plain `curl -f ...` works as a hook and a script can
still say IN_PROGRESS like a Lambda would.
"""

from __future__ import annotations

import json
import math
import re
import signal
from dataclasses import dataclass, replace
from enum import Enum

from bgctl.core.errors import InvalidInput
from bgctl.core.stages import NO_HOOKS, NO_PAUSE, Stage, hook_stage


class HookStatus(str, Enum):
    """A hook's `hookStatus`, spelled as ECS spells it (case matters)."""

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    IN_PROGRESS = "IN_PROGRESS"

    def __str__(self) -> str:
        return self.value


# ECS's default when an IN_PROGRESS answer gives no callBackDelay.
DEFAULT_CALLBACK_DELAY = 30.0


class HookTargetType(str, Enum):
    """What a hook calls: ECS's AWS_LAMBDA and PAUSE, and bgctl's own shell command."""

    AWS_LAMBDA = "AWS_LAMBDA"
    PAUSE = "PAUSE"
    COMMAND = "COMMAND"

    def __str__(self) -> str:
        return self.value


class TimeoutAction(str, Enum):
    """What ECS does when a hook's timeoutConfiguration runs out."""

    ROLLBACK = "ROLLBACK"
    CONTINUE = "CONTINUE"

    def __str__(self) -> str:
        return self.value


# ECS's timeoutConfiguration: 1-20,160 minutes, default 1,440 (24 h), action ROLLBACK.
DEFAULT_HOOK_TIMEOUT_MINUTES = 1440.0
MAX_HOOK_TIMEOUT_MINUTES = 20160.0


@dataclass(frozen=True)
class HookTimeout:
    """How long a hook may take as a whole (IN_PROGRESS calls included), in ECS minutes."""

    minutes: float = DEFAULT_HOOK_TIMEOUT_MINUTES
    action: TimeoutAction = TimeoutAction.ROLLBACK

    def __post_init__(self) -> None:
        if isinstance(self.minutes, bool) or not 0 < self.minutes <= MAX_HOOK_TIMEOUT_MINUTES:
            raise InvalidInput(f"A hook's timeoutInMinutes must be from 1 to 20160, not {self.minutes!r}.")
        object.__setattr__(self, "action", TimeoutAction(self.action))

    def to_dict(self) -> dict:
        return {"timeoutInMinutes": self.minutes, "action": self.action.value}

    @classmethod
    def from_dict(cls, data: dict | None) -> "HookTimeout":
        if not data:
            return cls()
        return cls(float(data.get("timeoutInMinutes", DEFAULT_HOOK_TIMEOUT_MINUTES)),
                   TimeoutAction(data.get("action", TimeoutAction.ROLLBACK.value)))


@dataclass(frozen=True)
class Hook:
    """One lifecycle hook as ECS configures it (`deploymentConfiguration.lifecycleHooks[]`).

    `Hook(Stage.X, "cmd")` is bgctl's shell hook at one stage (`--hook`, `[[hooks]]`).
    `target` is the Lambda function's ARN, the shell command, or None for PAUSE.
    `hook_id` is given when the deployment starts (`Deployer.start`) if empty.
    """

    stages: tuple[Stage, ...]
    target: str | None = None
    target_type: HookTargetType = HookTargetType.COMMAND
    hook_id: str = ""
    details: dict | None = None  # ECS hookDetails: the first call's, merged with IN_PROGRESS answers'
    timeout: HookTimeout = HookTimeout()

    def __post_init__(self) -> None:
        stages = (self.stages,) if isinstance(self.stages, Stage) else tuple(self.stages)
        object.__setattr__(self, "stages", stages)
        object.__setattr__(self, "target_type", HookTargetType(self.target_type))
        if not stages:
            raise InvalidInput("A lifecycle hook needs at least one lifecycle stage.")
        # Also guards hooks built in code or read back from a file, not only --hook.
        for stage in stages:
            if stage in NO_HOOKS:
                raise InvalidInput(f"ECS runs no lifecycle hooks at {stage}; choose another stage.")
            if self.target_type == HookTargetType.PAUSE and stage in NO_PAUSE:
                raise InvalidInput(f"A PAUSE hook cannot run at {stage}, as in ECS; choose another stage.")
        if self.target_type == HookTargetType.PAUSE:
            if self.target is not None:
                raise InvalidInput("A PAUSE hook has no target; leave hookTargetArn out.")
        elif not (self.target or "").strip():
            what = "command" if self.target_type == HookTargetType.COMMAND else "hookTargetArn"
            raise InvalidInput(f"The hook at {stages[0]} has no {what}; give the "
                               f"{'shell command to run' if what == 'command' else 'Lambda function ARN'}.")
        if self.details is not None and not isinstance(self.details, dict):
            raise InvalidInput("A hook's hookDetails must be a JSON object.")

    @property
    def stage(self) -> Stage:
        """The first stage (the only one for shell hooks)."""
        return self.stages[0]

    @property
    def command(self) -> str:
        """The shell command (COMMAND), the function ARN (AWS_LAMBDA), or "PAUSE"."""
        return self.target if self.target is not None else self.target_type.value

    def describe(self) -> str:
        """How messages name the hook."""
        if self.target_type == HookTargetType.PAUSE:
            return f"PAUSE {self.hook_id}".rstrip()
        return self.command

    def with_id(self, hook_id: str) -> "Hook":
        return replace(self, hook_id=hook_id)

    def to_dict(self) -> dict:
        if self.target_type == HookTargetType.COMMAND and self.details is None and self.timeout == HookTimeout():
            # A shell hook's record stays as it was before hooks had ECS's shape.
            return {"stage": self.stage.value, "command": self.command, **({"hookId": self.hook_id} if self.hook_id else {})}
        return {
            "hookId": self.hook_id,
            "targetType": self.target_type.value,
            "target": self.target,
            "lifecycleStages": [s.value for s in self.stages],
            "hookDetails": self.details,
            "timeoutConfiguration": self.timeout.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Hook":
        if "targetType" not in d:  # a shell hook (and records written before hooks had ECS's shape)
            return cls(hook_stage(str(d.get("stage") or "")), str(d.get("command") or ""),
                       hook_id=str(d.get("hookId") or ""))
        return cls(
            stages=tuple(Stage(s) for s in d.get("lifecycleStages", ())),
            target=d.get("target"),
            target_type=HookTargetType(d["targetType"]),
            hook_id=str(d.get("hookId") or ""),
            details=d.get("hookDetails"),
            timeout=HookTimeout.from_dict(d.get("timeoutConfiguration")),
        )


def with_hook_ids(hooks: tuple[Hook, ...]) -> tuple[Hook, ...]:
    """Every hook with an id (`hook-1`, `hook-2`, ... for those without), unique in the deployment."""
    taken = {h.hook_id for h in hooks if h.hook_id}
    if len(taken) != len([h for h in hooks if h.hook_id]):
        raise InvalidInput("Two lifecycle hooks have the same hookId.")
    named: list[Hook] = []
    n = 0
    for hook in hooks:
        if not hook.hook_id:
            n += 1
            while f"hook-{n}" in taken:
                n += 1
            hook = hook.with_id(f"hook-{n}")
        named.append(hook)
    return tuple(named)


def parse_hook_option(text: str) -> Hook:
    """`STAGE=COMMAND` as given to --hook; only the first `=` splits, so commands may contain `=`."""
    name, sep, command = text.partition("=")
    if not sep:
        raise InvalidInput(
            f"--hook {text!r} is not of the form STAGE=COMMAND, "
            "e.g. POST_TEST_TRAFFIC_SHIFT='curl -f \"$BGCTL_INGRESS_URL\"'."
        )
    stage = hook_stage(name)
    if not command.strip():
        raise InvalidInput(f"--hook {text!r} has no command after '='; give the shell command to run at {stage}.")
    return Hook(stage, command)


@dataclass(frozen=True)
class HookAnswer:
    status: HookStatus
    callback_delay: float
    details: dict | None
    reason: str


@dataclass(frozen=True)
class HookRun:
    answer: HookAnswer
    exit_code: int | None
    stdout: str
    stderr: str
    seconds: float


@dataclass(frozen=True)
class HookInvocation:
    """One call of one hook at one stage."""

    hook: Hook
    stage: Stage
    # ECS's event (core/hook_event.build_event): what a Lambda handler gets, and a
    # command (COMMAND hooks, mapped commands) reads on stdin. Its hookDetails are
    # the hook's own merged with earlier IN_PROGRESS answers'.
    event: dict
    # BGCTL_* variables for COMMAND hooks (core/hooks.hook_environment).
    env: dict[str, str]
    # This call's limit in seconds: the per-call limit, or less when the hook's
    # timeoutConfiguration runs out sooner.
    timeout: float


def failed_answer(reason: str) -> HookAnswer:
    return HookAnswer(HookStatus.FAILED, DEFAULT_CALLBACK_DELAY, None, reason)


def _last_answer(stdout: str) -> dict | None:
    # Scanning from the end lets a hook print curl bodies, logs or other JSON
    # first: only a top-level object with "hookStatus" is an answer.
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and "hookStatus" in value:
            return value
    return None


def _exit_reason(exit_code: int) -> str:
    if exit_code < 0:  # subprocess's way of saying a signal ended it
        try:
            return f"killed by {signal.Signals(-exit_code).name}"
        except ValueError:
            return f"killed by signal {-exit_code}"
    if exit_code == 127:  # the likeliest mistake: a typo or a tool missing from PATH
        return "exit status 127 (command not found)"
    return f"exit status {exit_code}"


def parse_hook_answer(exit_code: int, stdout: str) -> HookAnswer:
    answer = _last_answer(stdout)
    if answer is None:
        status = HookStatus.SUCCEEDED if exit_code == 0 else HookStatus.FAILED
        return HookAnswer(status, DEFAULT_CALLBACK_DELAY, None, _exit_reason(exit_code))

    try:
        status = HookStatus(answer["hookStatus"])  # case matters, as in ECS
    except ValueError:
        return failed_answer(f"invalid hookStatus {answer['hookStatus']!r}")

    delay = answer.get("callBackDelay")
    if delay is None:  # absent or null: ECS's default
        delay = DEFAULT_CALLBACK_DELAY
    # bool is an int in Python, and JSON lets Python read NaN/Infinity: neither is a delay.
    elif isinstance(delay, bool) or not isinstance(delay, (int, float)) or not math.isfinite(delay):
        return failed_answer(f"invalid callBackDelay {delay!r}; it must be a number of seconds")
    elif delay < 0:
        return failed_answer(f"invalid callBackDelay {delay!r}; it must not be negative")

    details = answer.get("hookDetails")
    if details is not None and not isinstance(details, dict):
        return failed_answer(f"invalid hookDetails {details!r}; it must be a JSON object")

    reason = f"hookStatus {status}"
    if status == HookStatus.IN_PROGRESS:
        reason += f", call back after {float(delay):g}s"
    return HookAnswer(status, float(delay), details, reason)


def hook_environment(
    *,
    stage: Stage,
    target: str,
    production: str,
    ingress_url: str,
    test_header: str | None,
    test_value: str | None,
    deployment_id: str,
    rollback: bool = False,
) -> dict[str, str]:
    """What a hook needs to smoke-test the candidate through the test-traffic rule.

    Every variable is always set (empty when unknown) so hooks can use `set -u`.
    """
    return {
        "BGCTL_STAGE": stage.value,
        "BGCTL_TARGET_SLOT": target,
        "BGCTL_PRODUCTION_SLOT": production,
        "BGCTL_INGRESS_URL": ingress_url,
        "BGCTL_TEST_HEADER": test_header or "",
        # Empty when the rule only asks for the header to be present.
        "BGCTL_TEST_HEADER_VALUE": test_value or "",
        "BGCTL_DEPLOYMENT_ID": deployment_id,
        # ECS runs the traffic-shift hooks again during a rollback; this tells them apart.
        "BGCTL_ROLLBACK": "1" if rollback else "",
    }


def with_kit_variables(environment: dict[str, str], hook_env: dict[str, str]) -> dict[str, str]:
    """A function mapping's environment with `${BGCTL_…}` references filled from the hook's variables.

    A function's environment in the configuration file is fixed text, but what it needs
    to reach (the ingress, say) depends on the project's ports: `ALB_URL =
    "${BGCTL_INGRESS_URL}/"` follows BGCTL_HTTP_PORT. Other `$` text is left as written.
    """
    def fill(match: re.Match) -> str:
        return hook_env.get(match.group(1), match.group(0))

    return {name: _KIT_VARIABLE.sub(fill, value) for name, value in environment.items()}


_KIT_VARIABLE = re.compile(r"\$\{(BGCTL_[A-Z0-9_]+)\}")
