"""A Revision as Docker Compose runs it: an override file for one slot service.

Pure: text in, text out. The override is the second `-f` file after
compose.yaml. Compose merges override files into the base -- maps key by key,
and some lists (environment, for one) entry by entry -- so a plain override
would keep compose.yaml's blue/green settings alongside the revision's.
`!override` replaces a key's whole value and `!reset null` removes it
(Compose 2.24.4 or later), which makes the slot run exactly the revision.

PyYAML cannot emit those tags, so the YAML is written as text; every string
goes through `_quote`, which both quotes it for YAML and protects it from
Compose's `$VAR` interpolation.
"""

from __future__ import annotations

from typing import Iterable

from bgctl.core.settings import HEALTHCHECK_PROFILES
from bgctl.core.taskdef import HealthCheck, Revision

RESET = "!reset null"


def compose_override(revision: Revision, *, service: str, image: str, healthcheck_profile: str) -> str:
    """A complete Compose file making `service` run `revision`.

    `image` is the image to run, already resolved (offline stand-ins).
    `healthcheck_profile` "fast" swaps the check's interval for the profile's
    slot interval so a deployment takes seconds; "seed" keeps the task
    definition's timing.
    """
    if healthcheck_profile not in HEALTHCHECK_PROFILES:
        raise ValueError(f"unknown health-check profile {healthcheck_profile!r}")
    lines = [
        "# Written by bgctl: the slot runs this revision, not compose.yaml's settings.",
        "services:",
        f"  {_quote(service)}:",
        f"    image: {_quote(image)}",
        f"    command: {_override_list(revision.command)}",
        f"    entrypoint: {_override_list(revision.entry_point)}",
        # List form, so a `$` in a name is escaped like one in a value.
        f"    environment: !override {_list(f'{name}={value}' for name, value in revision.environment)}",
    ]
    lines += _healthcheck(revision.health_check, healthcheck_profile)
    if revision.cpu_units is not None:
        lines.append(f"    cpus: {revision.cpu_units / 1024}")
    if revision.memory_mib is not None:
        lines.append(f'    mem_limit: "{revision.memory_mib}m"')
    return "\n".join(lines) + "\n"


def _healthcheck(check: HealthCheck | None, profile: str) -> list[str]:
    if check is None:
        # Not `!reset`: that would only drop compose.yaml's check, and the
        # image's own HEALTHCHECK (if any) would then run. ECS ignores image
        # health checks, and `disable` is Docker's NONE, so it does too.
        return ["    healthcheck: !override", "      disable: true"]
    interval = HEALTHCHECK_PROFILES["fast"]["slot_interval"] if profile == "fast" else f"{check.interval}s"
    return [
        "    healthcheck: !override",
        f"      test: {_list(check.test)}",
        f"      interval: {_quote(interval)}",
        f'      timeout: "{check.timeout}s"',
        f"      retries: {check.retries}",
        f'      start_period: "{check.start_period}s"',
    ]


def _override_list(items: tuple[str, ...] | None) -> str:
    """None means the image's default, which only removing the key gives back."""
    return RESET if items is None else f"!override {_list(items)}"


def _list(items: Iterable[str]) -> str:
    return "[" + ", ".join(_quote(item) for item in items) + "]"


def _quote(text: str) -> str:
    """`text` as a YAML double-quoted scalar that Compose reads back unchanged.

    Only printable ASCII is written as is; everything else uses YAML escapes
    (\\uXXXX or \\UXXXXXXXX: no surrogate pairs, which YAML does not join).
    `$` is doubled because Compose interpolates `$VAR` in every string.
    """
    out = []
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif char == "$":
            out.append("$$")
        elif 0x20 <= code < 0x7F:
            out.append(char)
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return '"' + "".join(out) + '"'
