"""The kit's configuration file, bgctl.toml (or BGCTL_CONFIG): deployment defaults, the test rule, hooks,
and the local functions that stand in for Lambda hook targets."""

from __future__ import annotations

import difflib
import re
import sys
from dataclasses import dataclass, field
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
# A hook call's limit: more than 0 and at most Lambda's 15-minute maximum, since on ECS one hook call
# is one Lambda invocation (longer work answers IN_PROGRESS and is called again).
MAX_HOOK_TIMEOUT_SECONDS = 15 * 60

# Every key the file may hold, by table: anything else is a misspelling, refused with the nearest key.
TOP_LEVEL_KEYS = ("deployment", "test_traffic_rule", "hooks", "functions")
DEPLOYMENT_KEYS = ("bake_time", "hook_timeout", "alarm_5xx_percent", "service_definition")
RULE_KEYS = ("header", "value")
HOOK_KEYS = ("stage", "command")
FUNCTION_KEYS = ("handler", "command", "environment")
_HANDLER = re.compile(r"^(?P<file>.+\.py):(?P<function>[A-Za-z_][A-Za-z0-9_]*)$")


@dataclass(frozen=True)
class FunctionMapping:
    """The local stand-in for one Lambda function: `[functions."ARN"]` in the configuration file.

    Exactly one of `handler` ("path/to/file.py:function", the function as
    deployed to Lambda) and `command` (reads the event on stdin, prints the
    answer). `directory` is the configuration file's folder: the handler's
    path and the command run relative to it, wherever bgctl is started.
    """

    arn: str
    handler: str | None = None
    command: str | None = None
    environment: dict[str, str] = field(default_factory=dict)
    directory: PurePath = PurePath(".")

    @property
    def handler_path(self) -> PurePath | None:
        """The handler's file, resolved against the configuration file's folder."""
        if self.handler is None:
            return None
        return self.directory / self.handler.rpartition(":")[0]


@dataclass(frozen=True)
class KitConfig:
    bake_seconds: float = DEFAULT_BAKE_SECONDS
    hook_timeout: float = DEFAULT_HOOK_TIMEOUT
    alarm_5xx_percent: float | None = None
    test_rule: TestTrafficRule = TestTrafficRule(AWS_DEFAULT_TEST_HEADER)
    hooks: tuple[tuple[str, str], ...] = ()  # (stage, command), validated by the caller's Hook parser
    # hookTargetArn → the local function that answers for it.
    functions: dict[str, FunctionMapping] = field(default_factory=dict)
    # `[deployment] service_definition`, resolved against the configuration file's folder.
    service_definition: str | None = None


def parse_config(text: str, *, name: str = CONFIG_FILE) -> KitConfig:
    """The configuration file's text as a KitConfig.

    `name` is the file's path: its name is used in error messages, its folder
    is what relative paths in the file (handlers, the service definition) are
    relative to.
    """
    path = PurePath(name)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path.name} is not valid TOML: {exc}.") from exc
    _known_keys(data, TOP_LEVEL_KEYS, "", path)
    deployment = _table(data, "deployment", path)
    _known_keys(deployment, DEPLOYMENT_KEYS, "deployment.", path)
    rule = data.get("test_traffic_rule")
    if isinstance(rule, dict):
        _known_keys(rule, RULE_KEYS, "test_traffic_rule.", path)
    hooks = data.get("hooks", [])
    if not isinstance(hooks, list) or not all(isinstance(h, dict) for h in hooks):
        raise InvalidInput(f"{path.name}: hooks must be [[hooks]] tables with stage and command.")
    for number, hook in enumerate(hooks, start=1):
        _known_keys(hook, HOOK_KEYS, f"hooks[{number}].", path)
    try:
        config = KitConfig(
            bake_seconds=bake_seconds(str(deployment.get("bake_time", DEFAULT_BAKE_SECONDS)),
                                      name=f"{path.name} bake_time"),
            hook_timeout=hook_timeout_seconds(str(deployment.get("hook_timeout", DEFAULT_HOOK_TIMEOUT)),
                                              name=f"{path.name} hook_timeout"),
            alarm_5xx_percent=alarm_percent(deployment.get("alarm_5xx_percent"), name=f"{path.name} alarm_5xx_percent"),
            test_rule=_rule(rule, path) if rule is not None else TestTrafficRule(AWS_DEFAULT_TEST_HEADER),
            hooks=tuple((str(h.get("stage", "")), str(h.get("command", ""))) for h in hooks),
            functions=_functions(data.get("functions", {}), path),
            service_definition=_service_definition(deployment.get("service_definition"), path),
        )
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{path.name} has a value of the wrong type: {exc}.") from exc
    return config


def bake_seconds(text: str, *, name: str = "--bake-time") -> float:
    seconds = parse_duration(text, name=name)
    if seconds > MAX_BAKE_SECONDS:
        raise InvalidInput(f"{name} {text!r} is longer than ECS allows (1440 minutes).")
    return seconds


def hook_timeout_seconds(text: str, *, name: str = "--hook-timeout") -> float:
    seconds = parse_duration(text, name=name)
    if not 0 < seconds <= MAX_HOOK_TIMEOUT_SECONDS:
        raise InvalidInput(f"{name} {text!r} must be more than 0 and at most 15 minutes (Lambda's longest timeout).")
    return seconds


def _known_keys(table: dict, known: tuple[str, ...], prefix: str, path: PurePath) -> None:
    """Refuse a key the table does not take, naming the nearest one it does (a misspelling is never ignored)."""
    for key in table:
        if key in known:
            continue
        nearest = difflib.get_close_matches(str(key), known, n=1)
        hint = f"did you mean {nearest[0]}?" if nearest else f"the keys are {', '.join(known)}."
        raise InvalidInput(f"{path.name}: unknown key {prefix}{key}; {hint}")


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


def _functions(table: object, path: PurePath) -> dict[str, FunctionMapping]:
    if not isinstance(table, dict):
        raise InvalidInput(f'{path.name}: functions must be [functions."ARN"] tables with a handler or a command.')
    return {str(arn): _function(str(arn), mapping, path) for arn, mapping in table.items()}


def _function(arn: str, mapping: object, path: PurePath) -> FunctionMapping:
    where = f'{path.name}: [functions."{arn}"]'
    if not isinstance(mapping, dict):
        raise InvalidInput(f"{where} must be a table with a handler or a command.")
    _known_keys(mapping, FUNCTION_KEYS, f'functions."{arn}".', path)
    handler, command = mapping.get("handler"), mapping.get("command")
    if (handler is None) == (command is None):
        raise InvalidInput(f'{where} needs exactly one of handler = "FILE.py:FUNCTION" or command = "...".')
    if handler is not None and (not isinstance(handler, str) or not _HANDLER.match(handler)):
        raise InvalidInput(f'{where} handler {handler!r} is not of the form "path/to/file.py:function".')
    if command is not None and (not isinstance(command, str) or not command.strip()):
        raise InvalidInput(f"{where} command must be a shell command, not {command!r}.")
    environment = mapping.get("environment", {})
    if not isinstance(environment, dict):
        raise InvalidInput(f"{where} environment must be a table of strings, like Lambda's environment variables.")
    wrong = sorted(k for k, v in environment.items() if not isinstance(v, str))
    if wrong:
        raise InvalidInput(
            f"{where} environment {', '.join(wrong)} must be strings, as Lambda's environment variables are "
            '(quote them: KEY = "1").'
        )
    return FunctionMapping(arn=arn, handler=handler, command=command, environment=dict(environment),
                           directory=path.parent)


def _service_definition(value: object, path: PurePath) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{path.name}: [deployment] service_definition must be the path of a JSON file.")
    return str(path.parent / value)
