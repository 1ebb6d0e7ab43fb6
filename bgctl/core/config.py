"""The kit's configuration file, bgctl.toml: deployment defaults, the test rule, hooks."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import PurePath

from bgctl.core.durations import parse_duration
from bgctl.core.errors import InvalidInput
from bgctl.core.traffic import AWS_DEFAULT_TEST_HEADER, TestTrafficRule

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONFIG_FILE = "bgctl.toml"
DEFAULT_BAKE_SECONDS = 300.0  # the seed's 5 minutes
DEFAULT_HOOK_TIMEOUT = 60.0
MAX_BAKE_SECONDS = 1440 * 60  # ECS allows 0-1440 minutes


@dataclass(frozen=True)
class KitConfig:
    bake_seconds: float = DEFAULT_BAKE_SECONDS
    hook_timeout: float = DEFAULT_HOOK_TIMEOUT
    alarm_5xx_percent: float | None = None
    test_rule: TestTrafficRule = TestTrafficRule(AWS_DEFAULT_TEST_HEADER)
    hooks: tuple[tuple[str, str], ...] = ()  # (stage, command), validated by the caller's Hook parser


def parse_config(text: str, *, name: str = CONFIG_FILE) -> KitConfig:
    """bgctl.toml's text as a KitConfig; `name` names the file in error messages."""
    path = PurePath(name)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path.name} is not valid TOML: {exc}.") from exc
    deployment = _table(data, "deployment", path)
    rule = data.get("test_traffic_rule")
    hooks = data.get("hooks", [])
    if not isinstance(hooks, list) or not all(isinstance(h, dict) for h in hooks):
        raise InvalidInput(f"{path.name}: hooks must be [[hooks]] tables with stage and command.")
    try:
        config = KitConfig(
            bake_seconds=bake_seconds(str(deployment.get("bake_time", DEFAULT_BAKE_SECONDS)),
                                      name=f"{path.name} bake_time"),
            hook_timeout=parse_duration(str(deployment.get("hook_timeout", DEFAULT_HOOK_TIMEOUT)),
                                        name=f"{path.name} hook_timeout"),
            alarm_5xx_percent=alarm_percent(deployment.get("alarm_5xx_percent"), name=f"{path.name} alarm_5xx_percent"),
            test_rule=_rule(rule, path) if rule is not None else TestTrafficRule(AWS_DEFAULT_TEST_HEADER),
            hooks=tuple((str(h.get("stage", "")), str(h.get("command", ""))) for h in hooks),
        )
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{path.name} has a value of the wrong type: {exc}.") from exc
    return config


def bake_seconds(text: str, *, name: str = "--bake-time") -> float:
    seconds = parse_duration(text, name=name)
    if seconds > MAX_BAKE_SECONDS:
        raise InvalidInput(f"{name} {text!r} is longer than ECS allows (1440 minutes).")
    return seconds


def alarm_percent(value: object, *, name: str = "--alarm-5xx-percent") -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidInput(f"{name} must be a percentage from 0 to 100, not {value!r}.")
    try:
        percent = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be a percentage from 0 to 100, not {value!r}.") from None
    if not 0 <= percent <= 100:
        raise InvalidInput(f"{name} must be a percentage from 0 to 100, not {value!r}.")
    return percent


def _table(data: dict, name: str, path: PurePath) -> dict:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise InvalidInput(f"{path.name}: [{name}] must be a table.")
    return table


def _rule(rule: object, path: PurePath) -> TestTrafficRule:
    if not isinstance(rule, dict) or "header" not in rule:
        raise InvalidInput(f"{path.name}: [test_traffic_rule] needs a header (and optionally a value).")
    value = rule.get("value")
    return TestTrafficRule(str(rule["header"]), None if value is None else str(value))
