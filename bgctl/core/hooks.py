"""Lifecycle hooks as data: what a hook is, and how its answer is read.

ECS calls a hook (a Lambda function) at a stage and reads
`{"hookStatus", "callBackDelay", "hookDetails"}` back. Here a hook is
`/bin/sh -c COMMAND`: its exit status is the answer, unless it prints such a
JSON object on a line of stdout, so that a plain `curl -f ...` works as a hook
and a script can still say IN_PROGRESS like a Lambda would.
"""

from __future__ import annotations

import json
import math
import signal
from dataclasses import dataclass
from enum import Enum

from bgctl.core.errors import InvalidInput
from bgctl.core.stages import NO_HOOKS, Stage, hook_stage



class HookStatus(str, Enum):
    """A hook's `hookStatus`, spelled as ECS spells it (case matters)."""

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    IN_PROGRESS = "IN_PROGRESS"

    def __str__(self) -> str:
        return self.value


# ECS's default when an IN_PROGRESS answer gives no callBackDelay.
DEFAULT_CALLBACK_DELAY = 30.0


@dataclass(frozen=True)
class Hook:
    stage: Stage
    command: str

    def __post_init__(self) -> None:
        # Also guards hooks built in code or read back from a file, not only --hook.
        if self.stage in NO_HOOKS:
            raise InvalidInput(f"ECS runs no lifecycle hooks at {self.stage}; choose another stage.")
        if not self.command.strip():
            raise InvalidInput(f"The hook at {self.stage} has no command; give the shell command to run.")

    def to_dict(self) -> dict:
        return {"stage": self.stage.value, "command": self.command}

    @classmethod
    def from_dict(cls, d: dict) -> "Hook":
        return cls(stage=hook_stage(str(d.get("stage") or "")), command=str(d.get("command") or ""))


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
    return Hook(stage=stage, command=command)


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
