from dataclasses import replace

import pytest

from bgctl.core.deployment import Deployment
from bgctl.core.services import ServiceState
from bgctl.core.reconcile import Observed, disagreements, interrupted
from bgctl.core.traffic import TestTrafficRule, TrafficState
from bgctl.core.stages import Stage, Status
from bgctl.core.state import State

RULE = TestTrafficRule("x-amzn-ecs-bluegreen-test", "test")
INTERRUPTED = ("The deployment of green was interrupted at {stage} (bgctl stopped); "
               "bgctl continue resumes it, bgctl rollback aborts it.")


def svc(name: str, status: str = "running", health: str | None = "healthy") -> ServiceState:
    return ServiceState(name, status, health, f"bgctl-{name}-1", "nginx:test")


def world(*, envoy="running", blue=("running", "healthy"), green=None, live="v3", lock=False) -> Observed:
    services = {}
    if envoy is not None:
        services["service-connect"] = svc("service-connect", envoy, None)
    if blue is not None:
        services["backend-blue"] = svc("backend-blue", *blue)
    if green is not None:
        services["backend-green"] = svc("backend-green", *green)
    return Observed(services, live, lock)


def deployment(stage: Stage = Stage.POST_TEST_TRAFFIC_SHIFT, **overrides) -> Deployment:
    fields = dict(target="green", source="blue", revision=None, test_rule=RULE, bake_seconds=0.0,
                  stage=stage, created=1.0)
    fields.update(overrides)
    return Deployment(id="bgd-0123456789", **fields)


def state(production="blue", d: Deployment | None = None, version="v3", traffic: TrafficState | None = None) -> State:
    return State(traffic=traffic or TrafficState(production), routes_version=version, deployment=d)


# -- no deployment -----------------------------------------------------------


def test_everything_agrees():
    assert disagreements(state(), world()) == []


def test_a_finished_deployment_is_not_reported():
    done = deployment(Stage.CLEAN_UP, status=Status.SUCCESSFUL)
    assert disagreements(state("green", done), world(blue=None, green=("running", "healthy"))) == []
    assert not interrupted(state("green", done), world())


def test_production_without_a_health_check_is_serving():
    assert disagreements(state(), world(blue=("running", None))) == []


@pytest.mark.parametrize("envoy", [None, "exited", "restarting"])
def test_envoy_not_running(envoy):
    found = disagreements(state(), world(envoy=envoy, live=None))
    assert found == ["Envoy (service-connect) is not running; run bgctl up."]


def test_envoy_admin_not_answering():
    assert disagreements(state(), world(live=None)) == ["Envoy's admin interface does not answer."]


def test_envoy_serves_other_routes_than_recorded():
    found = disagreements(state(version="v3"), world(live="v2"))
    assert found == ["Envoy serves routes v2, but the record says v3."]


def test_production_container_exited():
    found = disagreements(state(), world(blue=("exited", None)))
    assert found == ["blue serves production but its container is exited/-."]


def test_production_container_unhealthy():
    found = disagreements(state(), world(blue=("running", "unhealthy")))
    assert found == ["blue serves production but its container is running/unhealthy."]


def test_production_container_missing():
    found = disagreements(state(), world(blue=None))
    assert found == ["blue serves production but its container is missing."]


def test_several_disagreements_are_all_reported():
    found = disagreements(state(version="v3"), world(live="v1", blue=None))
    assert found == [
        "Envoy serves routes v1, but the record says v3.",
        "blue serves production but its container is missing.",
    ]


# -- a deployment in progress ----------------------------------------------------


def during_test_traffic(d: Deployment) -> State:
    return state(d=d, traffic=TrafficState("blue", "green", RULE))


def test_deployment_in_progress_without_a_lock_holder_was_interrupted():
    s = during_test_traffic(deployment(Stage.POST_TEST_TRAFFIC_SHIFT))
    seen = world(green=("running", "healthy"), lock=False)
    assert disagreements(s, seen) == [INTERRUPTED.format(stage="POST_TEST_TRAFFIC_SHIFT")]
    assert interrupted(s, seen)


def test_deployment_in_progress_while_another_process_holds_the_lock():
    s = during_test_traffic(deployment(Stage.POST_TEST_TRAFFIC_SHIFT))
    seen = world(green=("running", "healthy"), lock=True)
    assert disagreements(s, seen) == []
    assert not interrupted(s, seen)


def test_the_process_holding_the_lock_does_not_call_its_own_deployment_interrupted():
    s = during_test_traffic(deployment(Stage.POST_TEST_TRAFFIC_SHIFT))
    seen = world(green=("running", "healthy"), lock=True)
    assert disagreements(s, seen, self_holds_lock=True) == []


def test_paused_deployment_is_not_interrupted():
    s = during_test_traffic(deployment(Stage.POST_TEST_TRAFFIC_SHIFT, paused=True))
    seen = world(green=("running", "healthy"), lock=False)
    assert disagreements(s, seen) == []
    assert not interrupted(s, seen)


def test_interrupted_rollback_is_reported_too():
    d = deployment(Stage.BAKE_TIME, status=Status.ROLLBACK_IN_PROGRESS)
    found = disagreements(state("green", d), world(green=("running", "healthy")))
    assert found == [INTERRUPTED.format(stage="BAKE_TIME")]


def test_after_scale_up_the_candidate_must_be_running():
    s = during_test_traffic(deployment(Stage.POST_TEST_TRAFFIC_SHIFT))
    found = disagreements(s, world(green=("exited", None), lock=True))
    assert found == ["The candidate green should be running but is not."]


def test_after_scale_up_a_missing_candidate_is_reported():
    s = during_test_traffic(deployment(Stage.POST_SCALE_UP))
    found = disagreements(s, world(green=None, lock=True))
    assert found == ["The candidate green should be running but is not."]


@pytest.mark.parametrize("stage", [Stage.RECONCILE_SERVICE, Stage.PRE_SCALE_UP, Stage.SCALE_UP])
def test_until_scale_up_ends_the_candidate_may_be_down(stage):
    s = state(d=deployment(stage))
    assert disagreements(s, world(green=None, lock=True)) == []


def test_while_rolling_back_a_stopped_candidate_is_expected():
    d = deployment(Stage.BAKE_TIME, status=Status.ROLLBACK_IN_PROGRESS)
    assert disagreements(state("blue", d), world(green=("exited", None), lock=True)) == []


def test_during_clean_up_the_stopping_source_is_not_reported():
    # PRODUCTION_TRAFFIC_SHIFT recorded green as production; CLEAN_UP stops blue.
    s = state("green", deployment(Stage.CLEAN_UP))
    seen = world(blue=("exited", None), green=("running", "healthy"), lock=True)
    assert disagreements(s, seen) == []


def test_during_clean_up_the_source_recorded_as_production_being_down_is_not_reported():
    # As the brief describes it: the record still names the source (blue) as
    # production while CLEAN_UP (or a rollback from it) has it stopped.
    s = state("blue", deployment(Stage.CLEAN_UP))
    seen = world(blue=("exited", None), green=("running", "healthy"), lock=True)
    assert disagreements(s, seen) == []


def test_during_clean_up_an_unhealthy_target_serving_production_is_reported():
    s = state("green", deployment(Stage.CLEAN_UP))
    seen = world(blue=("exited", None), green=("running", "unhealthy"), lock=True)
    assert disagreements(s, seen) == ["green serves production but its container is running/unhealthy."]


def test_interrupted_is_false_without_a_deployment():
    assert not interrupted(state(), world())
    assert not interrupted(state(d=replace(deployment(), status=Status.ROLLBACK_FAILED)), world())
