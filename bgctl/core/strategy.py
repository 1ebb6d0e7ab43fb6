"""How production traffic moves to the candidate: ECS's BLUE_GREEN, LINEAR and CANARY.

Pure data. `TrafficShift.steps()` is the candidate's share of production
traffic after each PRODUCTION_TRAFFIC_SHIFT; the engine runs the
PRE_PRODUCTION_TRAFFIC_SHIFT and PRODUCTION_TRAFFIC_SHIFT stages (and their
hooks) once per step and bakes between steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from bgctl.core.errors import InvalidInput

# ECS's defaults and ranges (deploymentConfiguration.linearConfiguration / canaryConfiguration).
DEFAULT_STEP_PERCENT = 10.0
DEFAULT_STEP_BAKE_MINUTES = 6.0
DEFAULT_CANARY_PERCENT = 5.0
DEFAULT_CANARY_BAKE_MINUTES = 10.0
STEP_PERCENT_RANGE = (3.0, 100.0)
CANARY_PERCENT_RANGE = (0.1, 100.0)
MAX_BAKE_MINUTES = 1440.0


class Strategy(str, Enum):
    BLUE_GREEN = "BLUE_GREEN"
    LINEAR = "LINEAR"
    CANARY = "CANARY"

    def __str__(self) -> str:
        return self.value


def parse_strategy(text: str) -> Strategy:
    name = text.strip().upper().replace("-", "_")
    try:
        return Strategy(name)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a deployment strategy; use BLUE_GREEN, LINEAR or CANARY.") from None


@dataclass(frozen=True)
class TrafficShift:
    """The strategy with its parameters; bake times in seconds (ECS minutes × BGCTL_MINUTE)."""

    strategy: Strategy = Strategy.BLUE_GREEN
    step_percent: float = DEFAULT_STEP_PERCENT
    step_bake_seconds: float = DEFAULT_STEP_BAKE_MINUTES * 60
    canary_percent: float = DEFAULT_CANARY_PERCENT
    canary_bake_seconds: float = DEFAULT_CANARY_BAKE_MINUTES * 60

    def __post_init__(self) -> None:
        object.__setattr__(self, "strategy", Strategy(self.strategy))
        _in_range("stepPercent", self.step_percent, *STEP_PERCENT_RANGE)
        _in_range("canaryPercent", self.canary_percent, *CANARY_PERCENT_RANGE)
        for name, seconds in (("step bake time", self.step_bake_seconds),
                              ("canary bake time", self.canary_bake_seconds)):
            if isinstance(seconds, bool) or not 0 <= seconds or not math.isfinite(seconds):
                raise InvalidInput(f"The {name} must be zero or more seconds, not {seconds!r}.")

    @classmethod
    def of(cls, strategy: Strategy, *, minute_seconds: float = 60.0, step_percent: float | None = None,
           step_bake_minutes: float | None = None, canary_percent: float | None = None,
           canary_bake_minutes: float | None = None) -> "TrafficShift":
        """From ECS's fields (minutes), absent ones at ECS's defaults."""
        for name, minutes in (("stepBakeTimeInMinutes", step_bake_minutes),
                              ("canaryBakeTimeInMinutes", canary_bake_minutes)):
            if minutes is not None:
                _in_range(name, minutes, 0.0, MAX_BAKE_MINUTES)
        return cls(
            strategy=strategy,
            step_percent=DEFAULT_STEP_PERCENT if step_percent is None else step_percent,
            step_bake_seconds=(DEFAULT_STEP_BAKE_MINUTES if step_bake_minutes is None else step_bake_minutes)
            * minute_seconds,
            canary_percent=DEFAULT_CANARY_PERCENT if canary_percent is None else canary_percent,
            canary_bake_seconds=(DEFAULT_CANARY_BAKE_MINUTES if canary_bake_minutes is None else canary_bake_minutes)
            * minute_seconds,
        )

    def steps(self) -> tuple[float, ...]:
        """The candidate's percent of production traffic after each production traffic shift."""
        if self.strategy == Strategy.LINEAR:
            shares: list[float] = []
            n = 1
            while (share := round(self.step_percent * n, 3)) < 100.0:
                shares.append(share)
                n += 1
            return tuple(shares) + (100.0,)
        if self.strategy == Strategy.CANARY and self.canary_percent < 100.0:
            return (self.canary_percent, 100.0)
        return (100.0,)

    def bake_after(self, step: int) -> float:
        """Seconds to bake after `step` before the next one; none after the step reaching 100 %."""
        if step + 1 >= len(self.steps()):
            return 0.0
        return self.step_bake_seconds if self.strategy == Strategy.LINEAR else self.canary_bake_seconds

    def to_dict(self) -> dict:
        return {"strategy": self.strategy.value, "step_percent": self.step_percent,
                "step_bake_seconds": self.step_bake_seconds, "canary_percent": self.canary_percent,
                "canary_bake_seconds": self.canary_bake_seconds}

    @classmethod
    def from_dict(cls, data: dict | None) -> "TrafficShift":
        if not data:
            return cls()
        return cls(Strategy(data["strategy"]), float(data["step_percent"]), float(data["step_bake_seconds"]),
                   float(data["canary_percent"]), float(data["canary_bake_seconds"]))


def _in_range(name: str, value: float, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise InvalidInput(f"{name} must be from {low:g} to {high:g}, not {value!r}.")
