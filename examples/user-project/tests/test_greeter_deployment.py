"""The greeter's blue/green deployment, tested the way ECS will run it.

Only bgctl's pytest plugin is used: `bgctl_deployment` starts a deployment of
this repository's service definition, stops in the test window, and tells
which slot answered each request. (In this order production changes only in
the last test, so that each test's start needs no redeployment of v1.)
"""

import pytest

from bgctl.pytest_plugin import DeploymentFailed

V1 = "Hello from greeter v1"
V2 = "Hello from greeter v2"


def test_a_rollback_from_the_test_window_keeps_production_on_v1(bgctl_deployment):
    d = bgctl_deployment
    d.start("ecs/task-definitions/greeter-2.json")
    assert d.get("/", test=True).text == V2

    record = d.rollback()

    assert record["status"] == "ROLLBACK_SUCCESSFUL"
    for test in (False, True):
        answer = d.get("/", test=test)
        assert (answer.text, answer.slot) == (V1, d.source)


def test_the_smoke_test_hook_stops_a_broken_revision(bgctl_deployment):
    d = bgctl_deployment
    with pytest.raises(DeploymentFailed):
        d.start("tests/task-definitions/greeter-broken.json")

    record = d.record
    assert record["status"] == "ROLLBACK_SUCCESSFUL"
    assert record["lifecycleStage"] == "POST_TEST_TRAFFIC_SHIFT"
    assert d.get("/").text == V1


def test_v2_answers_only_test_traffic_until_it_is_promoted(bgctl_deployment):
    d = bgctl_deployment
    d.start()  # bgctl.toml's service definition: greeter:2, with the smoke-test hook

    production = d.get("/")
    assert (production.status, production.text, production.slot) == (200, V1, d.source)
    candidate = d.get("/", test=True)
    assert (candidate.status, candidate.text, candidate.slot) == (200, V2, d.target)

    record = d.continue_()

    assert record["status"] == "SUCCESSFUL"
    for test in (False, True):
        answer = d.get("/", test=test)
        assert (answer.text, answer.slot) == (V2, d.target)
