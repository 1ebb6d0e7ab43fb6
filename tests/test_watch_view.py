"""`bgctl watch`'s view model: when the pipe mode prints, the text (the rates: test_slot_rates.py)."""

from __future__ import annotations

from dataclasses import replace

from bgctl.core.deployment import Deployment, HookExecution, HookExecutionStatus
from bgctl.core.hooks import parse_hook_option
from bgctl.core.stages import Stage
from bgctl.core.state import State
from bgctl.core.slot_rates import SlotRates
from bgctl.core.traffic import TestTrafficRule, TrafficState
from bgctl.core.watch_view import API_RESUME, bar, changed, line, screen, view_of
from tests.test_slot_rates import AFTER, BEFORE


def deployment(**changes) -> Deployment:
    base = Deployment(id="bgd-1234567890", target="green", source="blue", revision=None,
                      test_rule=TestTrafficRule("x-amzn-ecs-bluegreen-test", "test"), bake_seconds=0,
                      hooks=(parse_hook_option("POST_TEST_TRAFFIC_SHIFT=./smoke.sh"),))
    return replace(base, **changes)


def paused_state() -> State:
    d = deployment(stage=Stage.POST_TEST_TRAFFIC_SHIFT, paused=True)
    hook_id = d.hooks[0].hook_id
    d = d.with_execution(HookExecution(hook_id, Stage.POST_TEST_TRAFFIC_SHIFT, "e1", HookExecutionStatus.SUCCEEDED,
                                       started=1.0, expires_at=100.0))
    traffic = TrafficState(production="blue", candidate="green", test_rule=d.test_rule)
    return State(traffic=traffic, deployment=d)


def test_the_view_shows_the_paused_stage_its_hooks_and_the_weights():
    view = view_of(paused_state(), BEFORE, AFTER)
    data = view.to_dict()
    assert data["production"] == "blue"
    assert data["weights"] == {"blue": 100, "green": 0}
    assert data["test_traffic_to"] == "green"
    assert {k: data["deployment"][k] for k in ("id", "status", "stage", "paused", "awaiting")} == {
        "id": "bgd-1234567890", "status": "IN_PROGRESS", "stage": "POST_TEST_TRAFFIC_SHIFT", "paused": True,
        "awaiting": []}
    assert [h["status"] for h in data["deployment"]["hooks"]] == ["SUCCEEDED"]
    assert data["slots"]["blue"] == {"rps": 200.0, "errors_per_s": 12.0, "active": 3}


def test_pause_hooks_awaiting_action_are_named():
    state = paused_state()
    d = state.deployment
    hook_id = d.hooks[0].hook_id
    d = d.with_execution(HookExecution(hook_id, Stage.POST_TEST_TRAFFIC_SHIFT, "e1",
                                       HookExecutionStatus.AWAITING_ACTION, started=1.0, expires_at=100.0))
    view = view_of(state.with_deployment(d), BEFORE, AFTER)
    assert view.to_dict()["deployment"]["awaiting"] == [hook_id]
    assert f"awaiting  {hook_id} (bgctl continue or bgctl rollback)" in screen(view, project="p", clock="12:00:00")
    # a service on a stack of its own is answered through the ECS API
    assert f"awaiting  {hook_id} (aws ecs continue-service-deployment or stop-service-deployment)" in screen(
        view, project="p-svc-orders", clock="12:00:00", resume=API_RESUME)


def rated(view, blue: float, green: float = 0.0, errors: float = 0.0):
    return replace(view, slots={"blue": SlotRates(blue, errors, 0), "green": SlotRates(green, 0.0, 0)})


def test_the_pipe_prints_the_first_view_and_then_only_changes():
    view = view_of(paused_state(), BEFORE, AFTER)
    assert changed(None, view)
    assert not changed(view, view)


def test_rate_noise_does_not_print_a_line_but_a_real_change_does():
    view = rated(view_of(paused_state(), BEFORE, AFTER), 200.0)
    assert not changed(view, rated(view, 185.0))
    assert not changed(view, rated(view, 230.0))
    assert changed(view, rated(view, 100.0))
    assert changed(view, rated(view, 0.0, 200.0))  # the traffic moved
    assert not changed(rated(view, 0.4), rated(view, 1.6))  # a trickle's noise
    assert changed(view, rated(view, 200.0, errors=0.5))  # the first errors always show


def test_a_new_stage_or_hook_status_prints_a_line():
    state = paused_state()
    view = view_of(state, BEFORE, AFTER)
    resumed = state.with_deployment(replace(state.deployment, paused=False, stage=Stage.PRE_PRODUCTION_TRAFFIC_SHIFT))
    assert changed(view, view_of(resumed, BEFORE, AFTER))
    shifted = replace(state, traffic=TrafficState(production="green"))
    assert changed(view, view_of(shifted, BEFORE, AFTER))


def test_the_pipe_line_is_plain_text_with_whole_rates():
    view = view_of(paused_state(), BEFORE, AFTER)
    text = line(view, "12:00:00")
    assert text.startswith("12:00:00 | production blue | weights blue 100% green 0% test traffic → green | ")
    assert "bgd-1234567890 → green IN_PROGRESS POST_TEST_TRAFFIC_SHIFT paused hooks " in text
    assert text.endswith("| blue 200 rps 12 err/s  green 0 rps 0 err/s")
    assert "\x1b" not in text


def test_without_a_deployment_the_line_says_so():
    view = view_of(State(traffic=TrafficState(production="blue")), BEFORE, AFTER)
    assert "| no deployment |" in line(view, "12:00:00")
    assert view.to_dict()["deployment"] is None


def test_the_screen_has_the_stage_line_and_a_bar_per_slot():
    view = rated(view_of(paused_state(), BEFORE, AFTER), 150.0, 50.0)
    lines = screen(view, project="demo", clock="12:00:00").splitlines()
    assert lines[0].startswith("bgctl watch · demo · 12:00:00")
    assert "stage       6/11 POST_TEST_TRAFFIC_SHIFT  ⏸ paused" in lines
    blue = next(text for text in lines if text.startswith("blue "))
    green = next(text for text in lines if text.startswith("green "))
    assert bar(0.75) in blue and "150.0 rps" in blue
    assert bar(0.25) in green and "50.0 rps" in green


def test_a_bar_is_its_share_of_the_width():
    assert bar(0.5, 10) == "█████░░░░░"
    assert bar(0.0, 4) == "░░░░" and bar(1.7, 4) == "████"
