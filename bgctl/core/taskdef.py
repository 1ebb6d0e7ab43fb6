"""An ECS task definition, read into the one container a backend slot runs.

Pure: `parse_task_definition` works on text (`adapters/project_files.py`
reads the file). A task definition describes a whole task (roles, log routing, network
mode, sidecars); locally a slot is one Compose service, so this module keeps
what can run here -- the container that serves the Service Connect port -- and
lists the rest in `Revision.ignored` so the user sees what was left out rather
than believing it applied.

Every refusal is an `InvalidInput` whose message is one sentence naming the
file and the field.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from bgctl.core.errors import InvalidInput
from bgctl.core.topology import SERVICE_CONNECT_PORT


# What `aws ecs describe-task-definition` adds about the registration itself;
# none of it asks for anything to run, so it is neither applied nor "ignored".
_METADATA = frozenset(
    {"taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities",
     "registeredAt", "registeredBy", "deregisteredAt", "tags"}
)
_TASK_APPLIED = frozenset({"family", "cpu", "memory", "containerDefinitions"})
_CONTAINER_APPLIED = frozenset(
    {"name", "image", "essential", "portMappings", "environment", "command", "entryPoint",
     "healthCheck", "cpu", "memory"}
)
# The local stack speaks plain TCP/HTTP to the slot, which is what these ask for.
_PORT_APPLIED = {"containerPort": None, "name": None, "protocol": "tcp", "appProtocol": "http"}
# ECS's own limits (RegisterTaskDefinition refuses values outside them) and defaults.
_HEALTH_FIELDS = {
    # ECS name: (default, minimum, maximum)
    "interval": (30, 5, 300),
    "timeout": (5, 2, 120),
    "retries": (3, 1, 10),
    "startPeriod": (0, 0, 300),
}
# Task-level sizes may be written "256" / "0.25 vCPU" and "512" / "1 GB".
_AMOUNT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")


@dataclass(frozen=True)
class HealthCheck:
    """An ECS container health check; `test` keeps ECS's form, which is Docker's."""

    test: tuple[str, ...]
    interval: int = 30
    timeout: int = 5
    retries: int = 3
    start_period: int = 0


@dataclass(frozen=True)
class Revision:
    """What one backend slot runs, taken from a task definition."""

    family: str
    container_name: str
    image: str
    command: tuple[str, ...] | None
    entry_point: tuple[str, ...] | None
    environment: tuple[tuple[str, str], ...]
    container_port: int
    port_name: str | None
    health_check: HealthCheck | None
    cpu_units: int | None
    memory_mib: int | None
    ignored: tuple[str, ...]
    source: str

    def describe(self) -> str:
        port = f"port {self.container_port}" + (f" {self.port_name}" if self.port_name else "")
        return f"{self.family} ({self.image}, {port})"

    def to_dict(self) -> dict:
        hc = self.health_check
        return {
            "family": self.family,
            "container_name": self.container_name,
            "image": self.image,
            "command": list(self.command) if self.command is not None else None,
            "entry_point": list(self.entry_point) if self.entry_point is not None else None,
            "environment": [[name, value] for name, value in self.environment],
            "container_port": self.container_port,
            "port_name": self.port_name,
            "health_check": None if hc is None else {
                "test": list(hc.test), "interval": hc.interval, "timeout": hc.timeout,
                "retries": hc.retries, "start_period": hc.start_period,
            },
            "cpu_units": self.cpu_units,
            "memory_mib": self.memory_mib,
            "ignored": list(self.ignored),
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Revision":
        """The inverse of `to_dict` (for bgctl's own state file, so not re-validated)."""
        hc = data.get("health_check")
        return cls(
            family=data["family"],
            container_name=data["container_name"],
            image=data["image"],
            command=_tuple_or_none(data.get("command")),
            entry_point=_tuple_or_none(data.get("entry_point")),
            environment=tuple((str(name), str(value)) for name, value in data.get("environment", ())),
            container_port=int(data["container_port"]),
            port_name=data.get("port_name"),
            health_check=None if hc is None else HealthCheck(
                tuple(hc["test"]), int(hc["interval"]), int(hc["timeout"]), int(hc["retries"]),
                int(hc["start_period"]),
            ),
            cpu_units=data.get("cpu_units"),
            memory_mib=data.get("memory_mib"),
            ignored=tuple(data.get("ignored", ())),
            source=data["source"],
        )


def parse_task_definition(
    text: str, *, source: str, service_connect_port: int = SERVICE_CONNECT_PORT
) -> Revision:
    """The revision of the container that serves `service_connect_port`.

    `source` names the file in error messages and in the result.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"{source} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from None
    # `aws ecs describe-task-definition` wraps the definition (and puts tags beside it).
    if isinstance(data, dict) and "containerDefinitions" not in data and isinstance(data.get("taskDefinition"), dict):
        data = data["taskDefinition"]
    if not isinstance(data, dict):
        raise InvalidInput(f"{source} is not an ECS task definition (its JSON is not an object).")
    check = _Checker(source)

    family = check.string(data, "family", "family")
    containers = data.get("containerDefinitions")
    if containers is None:
        raise check.missing("containerDefinitions")
    if not isinstance(containers, list) or not containers or not all(isinstance(c, dict) for c in containers):
        raise check.wrong("containerDefinitions", "a non-empty list of container definitions")
    for i, container in enumerate(containers):
        check.string(container, "name", f"containerDefinitions[{i}].name")
        check.string(container, "image", f"containerDefinitions[{i}].image")

    index, container, mapping = _serving_container(containers, service_connect_port, check)
    where = f"containerDefinitions[{index}]"

    ignored = {key for key, value in data.items() if key not in _TASK_APPLIED | _METADATA and _asks(value)}
    ignored |= {key for key, value in container.items() if key not in _CONTAINER_APPLIED and _asks(value)}
    ignored |= {
        key for key, value in mapping.items()
        if _asks(value) and (key not in _PORT_APPLIED or _PORT_APPLIED[key] not in (None, value))
    }
    ignored |= {f"containerDefinitions[{c['name']}]" for c in containers if c is not container}

    port_name = mapping.get("name")
    if port_name is not None and not isinstance(port_name, str):
        raise check.wrong(f"{where}.portMappings[].name", "a string")
    container_cpu = check.amount(container.get("cpu"), f"{where}.cpu", unit="vcpu", per_unit=1024)
    container_memory = check.amount(container.get("memory"), f"{where}.memory", unit="gb", per_unit=1024)
    task_cpu = check.amount(data.get("cpu"), "cpu", unit="vcpu", per_unit=1024)
    task_memory = check.amount(data.get("memory"), "memory", unit="gb", per_unit=1024)
    return Revision(
        family=family,
        container_name=container["name"],
        image=container["image"],
        command=check.strings(container.get("command"), f"{where}.command"),
        entry_point=check.strings(container.get("entryPoint"), f"{where}.entryPoint"),
        environment=check.environment(container.get("environment"), f"{where}.environment"),
        container_port=service_connect_port,
        port_name=port_name or None,
        health_check=check.health_check(container.get("healthCheck"), f"{where}.healthCheck"),
        # A container's cpu of 0 is ECS's "no reservation": the task's size applies.
        # 0 at both levels means no limit, which Compose spells by leaving the key out.
        cpu_units=container_cpu or task_cpu or None,
        memory_mib=container_memory or task_memory or None,
        ignored=tuple(sorted(ignored)),
        source=source,
    )


def _serving_container(containers: list[dict], port: int, check: "_Checker") -> tuple[int, dict, dict]:
    """The container mapping `port`, preferring essential ones as ECS routes only to those that must run."""
    candidates = []
    for i, container in enumerate(containers):
        mappings = container.get("portMappings") or []
        if not isinstance(mappings, list) or not all(isinstance(m, dict) for m in mappings):
            raise check.wrong(f"containerDefinitions[{i}].portMappings", "a list of port mappings")
        essential = container.get("essential", True)
        if not isinstance(essential, bool):
            raise check.wrong(f"containerDefinitions[{i}].essential", "true or false")
        for mapping in mappings:
            cp = mapping.get("containerPort")
            if cp is not None and (isinstance(cp, bool) or not isinstance(cp, int)):
                raise check.wrong(f"containerDefinitions[{i}].portMappings[].containerPort", "a whole number")
            if cp == port:
                candidates.append((i, container, mapping, essential))
                break
    if not candidates:
        raise InvalidInput(
            f"No container in {check.source} maps containerPort {port} (the Service Connect port)."
        )
    if len(candidates) > 1:
        candidates = [c for c in candidates if c[3]] or candidates
    if len(candidates) > 1:
        names = " and ".join(c[1]["name"] for c in candidates)
        raise InvalidInput(f"Containers {names} in {check.source} all map containerPort {port}; only one may.")
    index, container, mapping, _ = candidates[0]
    return index, container, mapping


def _asks(value: Any) -> bool:
    """Whether a field asks for something (describe output spells out empty lists and false flags)."""
    return not (value is None or value is False or value == "" or value == [] or value == {})


def _tuple_or_none(value: Any) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


class _Checker:
    """Field validation whose failures name `source` and the field's path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def missing(self, field: str) -> InvalidInput:
        return InvalidInput(f"{self.source} is missing the required field {field}.")

    def wrong(self, field: str, expected: str, value: Any = None) -> InvalidInput:
        shown = "" if value is None else f", not {json.dumps(value)}"
        return InvalidInput(f"{field} in {self.source} must be {expected}{shown}.")

    def string(self, obj: dict, key: str, field: str) -> str:
        value = obj.get(key)
        if value is None or value == "":
            raise self.missing(field)
        if not isinstance(value, str):
            raise self.wrong(field, "a string", value)
        return value

    def strings(self, value: Any, field: str) -> tuple[str, ...] | None:
        """A command-like list; absent or empty means the image's default."""
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.wrong(field, "a list of strings")
        return tuple(value) or None

    def environment(self, value: Any, field: str) -> tuple[tuple[str, str], ...]:
        if value is None:
            return ()
        pairs = []
        if isinstance(value, list):
            for item in value:
                if not isinstance(item, dict) or not isinstance(item.get("name"), str) \
                        or not isinstance(item.get("value"), str) or not item["name"] or "=" in item["name"]:
                    break
                pairs.append((item["name"], item["value"]))
            else:
                return tuple(pairs)
        raise self.wrong(field, 'a list of {"name": ..., "value": ...} objects with string names and values')

    def amount(self, value: Any, field: str, *, unit: str, per_unit: int) -> int | None:
        """CPU units or MiB: a whole number, or ECS's "0.25 vCPU" / "1 GB" spelling."""
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        match = _AMOUNT.match(value) if isinstance(value, str) else None
        if match and match[2].lower() == unit:
            return round(float(match[1]) * per_unit)
        if match and not match[2] and match[1].isdigit():
            return int(match[1])
        example = '256 or "0.25 vCPU"' if unit == "vcpu" else '512 or "1 GB"'
        raise self.wrong(field, f"a number such as {example}", value)

    def health_check(self, value: Any, field: str) -> HealthCheck | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.wrong(field, "an object")
        test = value.get("command")
        if test is None:
            raise self.missing(f"{field}.command")
        if test == ["NONE"]:
            return None
        if (not isinstance(test, list) or len(test) < 2 or not all(isinstance(t, str) for t in test)
                or test[0] not in ("CMD", "CMD-SHELL")):
            raise self.wrong(f"{field}.command", 'a list of strings starting with "CMD" or "CMD-SHELL" and a command')
        timings = []
        for key, (default, low, high) in _HEALTH_FIELDS.items():
            number = value.get(key, default)
            if isinstance(number, bool) or not isinstance(number, int) or not low <= number <= high:
                raise self.wrong(f"{field}.{key}", f"a whole number from {low} to {high} (ECS's limits)", number)
            timings.append(number)
        return HealthCheck(tuple(test), *timings)
