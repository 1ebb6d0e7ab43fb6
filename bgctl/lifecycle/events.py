"""What the engine tells its observer as a deployment goes: typed events.

The CLI prints them, the demo labels its traffic by them, tests collect them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Callable

from bgctl.core.deployment import Deployment
from bgctl.core.hooks import Hook, HookRun
from bgctl.core.stages import Stage


class EventKind(Enum):
    STAGE_STARTED = "stage-started"
    STAGE_ENDED = "stage-ended"
    HOOK_CALLED = "hook-called"
    BAKING = "baking"
    PAUSED = "paused"
    ROLLING_BACK = "rolling-back"
    FINISHED = "finished"
    NOTE = "note"


@dataclass(frozen=True)
class HookCall:
    hook: Hook
    run: HookRun
    rollback: bool = False


@dataclass(frozen=True)
class Bake:
    remaining: float
    total: float


@dataclass(frozen=True)
class Event:
    kind: EventKind
    deployment: Deployment
    stage: Stage | None = None
    message: str = ""  # NOTE's text, ROLLING_BACK's reason
    seconds: float | None = None  # STAGE_ENDED: how long the stage took
    hook_call: HookCall | None = None  # HOOK_CALLED
    bake: Bake | None = None  # BAKING


Observer = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The observer when nobody watches."""
