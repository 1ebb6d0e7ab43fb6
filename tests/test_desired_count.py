"""ECS's desiredCount: parsing it, and counting a slot's tasks against it (core/desired_count.py)."""

from __future__ import annotations

import pytest

from bgctl.core.desired_count import TaskCount, parse_desired_count
from bgctl.core.errors import InvalidInput
from bgctl.core.services import ServiceState


def task(status: str = "running", health: str | None = "healthy") -> ServiceState:
    return ServiceState("backend-green", status, health, "c", "nginx")


@pytest.mark.parametrize("text, count", [("1", 1), (" 2 ", 2), ("10", 10), (3, 3)])
def test_desired_counts_from_one_to_ten(text, count):
    assert parse_desired_count(text) == count


@pytest.mark.parametrize("text", ["0", "11", "-1", "two", "1.5", "", True])
def test_other_desired_counts_are_refused_in_one_sentence(text):
    with pytest.raises(InvalidInput) as caught:
        parse_desired_count(text)
    assert str(caught.value) == f"--desired-count must be a whole number of tasks from 1 to 10, not {text!r}."


def test_all_tasks_healthy():
    count = TaskCount.of([task(), task()], 2)
    assert (count.running, count.healthy, count.pending, count.short, count.replaceable) == (2, 2, 0, False, False)
    assert count.describe() == "2/2 healthy"


def test_a_lost_task_with_a_sibling_serving_is_replaceable():
    count = TaskCount.of([task(), task("exited", None)], 2)
    assert (count.short, count.replaceable) == (True, True)
    assert count.describe() == "1/2 healthy"


def test_no_task_serving_is_not_replaceable():
    count = TaskCount.of([task("exited", None), task("running", "unhealthy")], 2)
    assert (count.healthy, count.short, count.replaceable) == (0, True, False)
    assert count.describe() == "0/2 healthy, 1 not yet"


def test_one_task_is_never_replaced_it_rolls_back():
    assert not TaskCount.of([task("exited", None)], 1).replaceable
