"""The ECS blue/green lifecycle: its stages in order, and what each allows.

Pure data. Names are ECS's own, so that what bgctl prints matches the AWS
documentation and console.
"""

from __future__ import annotations

from enum import Enum

from bgctl.core.errors import InvalidInput


class Stage(str, Enum):
    RECONCILE_SERVICE = "RECONCILE_SERVICE"
    PRE_SCALE_UP = "PRE_SCALE_UP"
    SCALE_UP = "SCALE_UP"
    POST_SCALE_UP = "POST_SCALE_UP"
    TEST_TRAFFIC_SHIFT = "TEST_TRAFFIC_SHIFT"
    POST_TEST_TRAFFIC_SHIFT = "POST_TEST_TRAFFIC_SHIFT"
    PRE_PRODUCTION_TRAFFIC_SHIFT = "PRE_PRODUCTION_TRAFFIC_SHIFT"
    PRODUCTION_TRAFFIC_SHIFT = "PRODUCTION_TRAFFIC_SHIFT"
    POST_PRODUCTION_TRAFFIC_SHIFT = "POST_PRODUCTION_TRAFFIC_SHIFT"
    BAKE_TIME = "BAKE_TIME"
    CLEAN_UP = "CLEAN_UP"

    def __str__(self) -> str:
        return self.value


STAGES: tuple[Stage, ...] = tuple(Stage)

# ECS runs no lifecycle hooks at these stages.
NO_HOOKS = frozenset({Stage.SCALE_UP, Stage.BAKE_TIME, Stage.CLEAN_UP})
# A pause is a hook that waits for ContinueServiceDeployment: not allowed where
# hooks are not, nor during the two traffic shifts.
NO_PAUSE = NO_HOOKS | {Stage.TEST_TRAFFIC_SHIFT, Stage.PRODUCTION_TRAFFIC_SHIFT}
# The hooks a rollback runs again, as ECS does.
ROLLBACK_HOOK_STAGES = (Stage.TEST_TRAFFIC_SHIFT, Stage.PRODUCTION_TRAFFIC_SHIFT)
# From the moment it is up until the old slot goes away, the candidate must stay
# running and healthy, or the deployment rolls back (CLEAN_UP can no longer).
CANDIDATE_WATCHED = frozenset(STAGES[STAGES.index(Stage.POST_SCALE_UP):STAGES.index(Stage.CLEAN_UP)])


class Status(str, Enum):
    """ECS service deployment statuses."""

    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCESSFUL = "SUCCESSFUL"
    STOP_REQUESTED = "STOP_REQUESTED"
    STOPPED = "STOPPED"
    ROLLBACK_REQUESTED = "ROLLBACK_REQUESTED"
    ROLLBACK_IN_PROGRESS = "ROLLBACK_IN_PROGRESS"
    ROLLBACK_SUCCESSFUL = "ROLLBACK_SUCCESSFUL"
    ROLLBACK_FAILED = "ROLLBACK_FAILED"

    def __str__(self) -> str:
        return self.value


FINISHED = frozenset({Status.SUCCESSFUL, Status.STOPPED, Status.ROLLBACK_SUCCESSFUL, Status.ROLLBACK_FAILED})


def parse_stage(text: str) -> Stage:
    name = text.strip().upper().replace("-", "_")
    try:
        return Stage(name)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a lifecycle stage; use one of {', '.join(STAGES)}.") from None


def hook_stage(text: str) -> Stage:
    stage = parse_stage(text)
    if stage in NO_HOOKS:
        raise InvalidInput(f"ECS runs no lifecycle hooks at {stage}; choose another stage.")
    return stage


def pause_stage(text: str) -> Stage:
    stage = parse_stage(text)
    if stage in NO_PAUSE:
        raise InvalidInput(f"A deployment cannot pause at {stage}, as in ECS; choose another stage.")
    return stage
