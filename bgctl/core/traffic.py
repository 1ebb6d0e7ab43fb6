"""Where a service's traffic goes: slots, the test-traffic rule, the weights.

Pure data. `routes.py` renders it as Envoy route config.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bgctl.core.errors import InvalidInput
from bgctl.core.topology import SLOTS

# A slot's name. Which slots exist is today's configuration (topology.SLOTS),
# not part of the type, so that more slots or services extend the topology.
Slot = str

# AWS's default test-traffic rule when none is configured.
AWS_DEFAULT_TEST_HEADER = "x-amzn-ecs-blue-green-test"

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9a-zA-Z]+$")
# Envoy refuses to match on these (pseudo-headers and hop-by-hop plumbing).
_UNMATCHABLE = {"host", "connection", "transfer-encoding", "keep-alive", "upgrade", "te"}


def parse_slot(text: str) -> Slot:
    slot = text.strip().lower()
    if slot not in SLOTS:
        raise InvalidInput(f"{text!r} is not a slot; use blue or green.")
    return slot


def other_slot(slot: Slot) -> Slot:
    return "green" if slot == "blue" else "blue"


@dataclass(frozen=True)
class TestTrafficRule:
    """ECS `testTrafficRules.header`: `value` None means "header present"."""

    __test__ = False  # not a pytest class, despite the name

    header: str
    value: str | None = None

    def __post_init__(self) -> None:
        if not _TOKEN.match(self.header) or self.header.lower() in _UNMATCHABLE:
            raise InvalidInput(f"{self.header!r} is not a header name a test traffic rule can match.")
        if self.value is not None and (self.value == "" or any(c in self.value for c in "\r\n\0")):
            raise InvalidInput(f"{self.value!r} is not a header value a test traffic rule can match.")
        object.__setattr__(self, "header", self.header.lower())

    @classmethod
    def parse(cls, text: str) -> "TestTrafficRule":
        """`NAME=VALUE` (exact match) or `NAME` (present)."""
        name, sep, value = text.partition("=")
        return cls(name.strip(), value if sep else None)

    def describe(self) -> str:
        return f"{self.header}: {self.value}" if self.value is not None else f"{self.header} (any value)"

    def to_dict(self) -> dict:
        return {"header": self.header, "value": self.value}

    @classmethod
    def from_dict(cls, data: dict) -> "TestTrafficRule":
        return cls(data["header"], data.get("value"))

    def envoy_header_matcher(self) -> dict:
        if self.value is None:
            return {"name": self.header, "present_match": True}
        return {"name": self.header, "string_match": {"exact": self.value}}


@dataclass(frozen=True)
class TrafficState:
    """Where backend traffic goes.

    `production` takes all untagged traffic except `candidate_percent` of it,
    which goes to `candidate` (linear and canary shifts). Requests matching
    `test_rule` go to `candidate` whatever the percentages.
    """

    production: Slot
    candidate: Slot | None = None
    test_rule: TestTrafficRule | None = None
    # A float: CANARY's canaryPercent goes down to 0.1.
    candidate_percent: float = 0

    def __post_init__(self) -> None:
        if self.production not in SLOTS:
            raise InvalidInput(f"{self.production!r} is not a slot; use blue or green.")
        if self.candidate is not None and self.candidate == self.production:
            raise InvalidInput("The candidate slot must differ from the production slot.")
        if isinstance(self.candidate_percent, float) and self.candidate_percent.is_integer():
            object.__setattr__(self, "candidate_percent", int(self.candidate_percent))
        if not 0 <= self.candidate_percent <= 100:
            raise InvalidInput("The candidate's share of production traffic must be from 0 to 100 percent.")
        if self.candidate is None and (self.test_rule is not None or self.candidate_percent):
            raise InvalidInput("A test traffic rule or a traffic share needs a candidate slot.")

    def weights(self) -> dict[str, float]:
        """Percent of non-test traffic per slot (whole numbers unless a step is a fraction)."""
        shares: dict[str, float] = {slot: 0 for slot in SLOTS}
        rest = round(100 - self.candidate_percent, 6)
        shares[self.production] = int(rest) if float(rest).is_integer() else rest
        if self.candidate is not None:
            shares[self.candidate] = self.candidate_percent
        return shares

    def to_dict(self) -> dict:
        return {
            "production": self.production,
            "candidate": self.candidate,
            "test_rule": self.test_rule.to_dict() if self.test_rule else None,
            "candidate_percent": self.candidate_percent,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "TrafficState":
        rule = data.get("test_rule")
        return cls(
            production=data["production"],
            candidate=data.get("candidate"),
            test_rule=TestTrafficRule.from_dict(rule) if rule else None,
            candidate_percent=data.get("candidate_percent", 0),
        )
