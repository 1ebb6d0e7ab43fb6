import pytest

from bgctl.core.errors import InvalidInput
from bgctl.core.stages import (
    CANDIDATE_WATCHED,
    FINISHED,
    NO_HOOKS,
    NO_PAUSE as NO_PAUSE_STAGES,
    ROLLBACK_HOOK_STAGES,
    STAGES,
    Stage,
    Status,
    hook_stage,
    parse_stage,
    pause_stage,
)

ECS_ORDER = [
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRE_PRODUCTION_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
    "BAKE_TIME",
    "CLEAN_UP",
]


def test_stages_are_ecs_eleven_in_order():
    assert [s.value for s in STAGES] == ECS_ORDER


def test_stage_prints_as_its_ecs_name():
    assert str(Stage.POST_SCALE_UP) == "POST_SCALE_UP"
    assert f"{Stage.BAKE_TIME}" == "BAKE_TIME"


@pytest.mark.parametrize(
    "text",
    ["POST_TEST_TRAFFIC_SHIFT", "post_test_traffic_shift", "post-test-traffic-shift", "  Post-Test-Traffic-Shift \n"],
)
def test_parse_stage_is_case_insensitive_and_takes_hyphens(text):
    assert parse_stage(text) == Stage.POST_TEST_TRAFFIC_SHIFT


def test_parse_stage_refuses_an_unknown_stage_and_lists_the_valid_ones():
    with pytest.raises(InvalidInput) as caught:
        parse_stage("deploy")
    assert str(caught.value) == f"'deploy' is not a lifecycle stage; use one of {', '.join(ECS_ORDER)}."
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("stage", ["SCALE_UP", "BAKE_TIME", "CLEAN_UP"])
def test_hook_stage_refuses_stages_without_hooks(stage):
    with pytest.raises(InvalidInput) as caught:
        hook_stage(stage.lower())
    assert str(caught.value) == f"ECS runs no lifecycle hooks at {stage}; choose another stage."


@pytest.mark.parametrize("stage", sorted(set(ECS_ORDER) - {"SCALE_UP", "BAKE_TIME", "CLEAN_UP"}))
def test_hook_stage_accepts_the_other_eight(stage):
    assert hook_stage(stage) == Stage(stage)


def test_hook_stage_refuses_unknown_names_like_parse_stage():
    with pytest.raises(InvalidInput, match="is not a lifecycle stage"):
        hook_stage("LATER")


NO_PAUSE = ["SCALE_UP", "BAKE_TIME", "CLEAN_UP", "TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT"]
PAUSABLE = [
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "POST_SCALE_UP",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRE_PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
]


def test_the_code_refuses_pauses_exactly_where_ecs_does():
    assert {s.value for s in NO_PAUSE_STAGES} == set(NO_PAUSE)
    assert sorted(s.value for s in set(STAGES) - NO_PAUSE_STAGES) == sorted(PAUSABLE)


def test_no_hooks_at_scale_up_bake_time_and_clean_up():
    assert {s.value for s in NO_HOOKS} == {"SCALE_UP", "BAKE_TIME", "CLEAN_UP"}


def test_a_rollback_runs_the_two_traffic_shift_hooks_again_in_order():
    assert [s.value for s in ROLLBACK_HOOK_STAGES] == ["TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT"]


def test_the_candidate_is_watched_from_post_scale_up_through_bake_time():
    assert sorted(s.value for s in CANDIDATE_WATCHED) == sorted(ECS_ORDER[ECS_ORDER.index("POST_SCALE_UP"):-1])
    assert Stage.SCALE_UP not in CANDIDATE_WATCHED and Stage.CLEAN_UP not in CANDIDATE_WATCHED


@pytest.mark.parametrize("stage", NO_PAUSE)
def test_pause_stage_refuses(stage):
    with pytest.raises(InvalidInput) as caught:
        pause_stage(stage.lower().replace("_", "-"))
    assert str(caught.value) == f"A deployment cannot pause at {stage}, as in ECS; choose another stage."


@pytest.mark.parametrize("stage", PAUSABLE)
def test_pause_stage_accepts(stage):
    assert pause_stage(stage) == Stage(stage)


def test_finished_statuses():
    assert FINISHED == {Status.SUCCESSFUL, Status.STOPPED, Status.ROLLBACK_SUCCESSFUL, Status.ROLLBACK_FAILED}
    still_going = set(Status) - FINISHED
    assert still_going == {
        Status.PENDING,
        Status.IN_PROGRESS,
        Status.STOP_REQUESTED,
        Status.ROLLBACK_REQUESTED,
        Status.ROLLBACK_IN_PROGRESS,
    }
    assert str(Status.ROLLBACK_SUCCESSFUL) == "ROLLBACK_SUCCESSFUL"
