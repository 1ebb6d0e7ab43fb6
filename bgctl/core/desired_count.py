"""ECS's desiredCount here: how many tasks of a revision a slot runs, and what losing one means.

Pure. A slot's tasks are the containers of its Compose service (Compose's
scale), all behind the slot's one Envoy cluster: Envoy finds them by the
service's DNS name, so a request retried by the Service Connect data plane
goes to a sibling task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from bgctl.core.errors import InvalidInput
from bgctl.core.services import ServiceState

DEFAULT_DESIRED_COUNT = 1
# Each task is an nginx container on a small machine; ECS allows far more, a laptop does not.
MAX_DESIRED_COUNT = 10


def parse_desired_count(value: Any, *, name: str = "--desired-count") -> int:
    """`value` (an int, or its text) as a desired count; InvalidInput outside 1..MAX_DESIRED_COUNT."""
    try:
        count = int(str(value).strip()) if not isinstance(value, bool) else None
    except ValueError:
        count = None
    if count is None or not DEFAULT_DESIRED_COUNT <= count <= MAX_DESIRED_COUNT:
        raise InvalidInput(f"{name} must be a whole number of tasks from 1 to {MAX_DESIRED_COUNT}, "
                           f"not {value!r}.")
    return count


@dataclass(frozen=True)
class TaskCount:
    """A slot's tasks as ECS counts them: desired, running (pending included: not yet healthy), healthy."""

    desired: int
    running: int
    healthy: int

    @classmethod
    def of(cls, tasks: Iterable[ServiceState], desired: int) -> "TaskCount":
        tasks = tuple(tasks)
        return cls(desired, sum(t.status == "running" for t in tasks), sum(t.serving for t in tasks))

    @property
    def pending(self) -> int:
        return max(0, self.running - self.healthy)

    @property
    def short(self) -> bool:
        """Fewer healthy tasks than desired: a task was lost (or has not started yet)."""
        return self.healthy < self.desired

    @property
    def replaceable(self) -> bool:
        """A task was lost while a sibling still serves: ECS starts a replacement, nothing rolls back."""
        return self.short and self.healthy > 0

    def describe(self) -> str:
        """`2/2 healthy`, `1/2 healthy, 1 not yet`."""
        text = f"{self.healthy}/{self.desired} healthy"
        return text + (f", {self.pending} not yet" if self.pending else "")
