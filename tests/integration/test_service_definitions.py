"""`bgctl deploy --service-definition FILE`: a team's ECS files driving a deployment of real containers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import BLUE, GREEN, REPO, SEED_HEADER, Traffic, status_json

EXAMPLE = REPO / "examples/service-definitions/backend.json"
GREEN_TD = REPO / "examples/task-definitions/backend-green.json"
SMOKE_TEST = "arn:aws:lambda:us-east-1:123456789012:function:smoke-test"
# One ECS minute lasts this long here: the example's bakeTimeInMinutes 5 bakes 2.5 s, and its
# hook's timeoutInMinutes 5 still leaves the smoke test (~0.1 s per call) room on a busy machine.
MINUTE = "0.5s"


@pytest.fixture(scope="module")
def config(kit, tmp_path_factory) -> Path:
    """A configuration file (BGCTL_CONFIG) mapping the example's Lambda to examples/hooks/smoke_test.py,
    pointed at this stack's ingress as bgctl.toml points it (`${BGCTL_INGRESS_URL}`, whatever the port);
    the example's test rule is the seed's."""
    path = tmp_path_factory.mktemp("config") / "bgctl.toml"
    path.write_text(
        '[deployment]\nbake_time = "0"\n'
        f'[functions."{SMOKE_TEST}"]\n'
        f'handler = "{REPO}/examples/hooks/smoke_test.py:lambda_handler"\n'
        'environment = { ALB_URL = "${BGCTL_INGRESS_URL}/", TEST_HEADER_NAME = "x-amzn-ecs-bluegreen-test", '
        'TEST_HEADER_VALUE = "test", EXPECTED_RESPONSE = "Hello from BACKEND GREEN" }\n'
    )
    kit.extra_env.update({"BGCTL_CONFIG": str(path), "BGCTL_MINUTE": MINUTE})
    return path


def bad(tmp_path: Path, change) -> Path:
    data = json.loads(EXAMPLE.read_text())
    data["taskDefinition"] = str(GREEN_TD)
    change(data)
    path = tmp_path / "backend.json"
    path.write_text(json.dumps(data))
    return path


def hooks(data: dict) -> list:
    return data["deploymentConfiguration"]["lifecycleHooks"]


BAD = {
    "unknown key": (lambda d: d.update(bakeTime=5),
                    'is not a valid UpdateService input: Unknown parameter in input: "bakeTime", must be one of: '),
    "wrong type": (lambda d: d.update(desiredCount="1"),
                   "Invalid type for parameter desiredCount, value: 1, type: <class 'str'>, valid types: <class 'int'>"),
    "stepPercent 2": (lambda d: d["deploymentConfiguration"].update(strategy="LINEAR",
                                                                      linearConfiguration={"stepPercent": 2}),
                      "has deploymentConfiguration.linearConfiguration.stepPercent 2; ECS takes multiples of 0.1 "
                      "from 3 to 100."),
    "PAUSE at PRODUCTION_TRAFFIC_SHIFT": (
        lambda d: hooks(d).append({"targetType": "PAUSE", "lifecycleStages": ["PRODUCTION_TRAFFIC_SHIFT"]}),
        "has a PAUSE hook (deploymentConfiguration.lifecycleHooks[1]) at PRODUCTION_TRAFFIC_SHIFT"),
    "unmapped hookTargetArn": (
        lambda d: hooks(d)[0].update(hookTargetArn="arn:aws:lambda:us-east-1:123456789012:function:approve"),
        "has deploymentConfiguration.lifecycleHooks[0].hookTargetArn "
        "arn:aws:lambda:us-east-1:123456789012:function:approve, which bgctl.toml does not map to a local function"),
    "missing task definition": (lambda d: d.update(taskDefinition="nope.json"),
                                "names taskDefinition nope.json, but "),
    "no task definition": (lambda d: d.pop("taskDefinition"), "names no taskDefinition"),
    "ROLLING": (lambda d: d["deploymentConfiguration"].update(strategy="ROLLING"), "asks for the ROLLING strategy"),
}


@pytest.mark.parametrize("case", BAD)
def test_a_bad_service_definition_changes_nothing(blue_serves, config, tmp_path, case):
    kit = blue_serves
    change, expected = BAD[case]
    path = bad(tmp_path, change)
    before, state_before = status_json(kit), kit.settings.state_file.read_bytes()

    result = kit.bgctl("deploy", "--service-definition", str(path))

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith(f"bgctl: {path} ") and expected in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.endswith(".\n")
    assert status_json(kit) == before
    assert kit.settings.state_file.read_bytes() == state_before
    assert kit.get("/").text == BLUE


def test_the_seed_deployment_from_its_service_definition(blue_serves, config):
    """The example: BLUE_GREEN, bake 5 ECS minutes, the seed's rule, a Lambda smoke test after the test shift."""
    kit = blue_serves
    paused = kit.bgctl("deploy", "--service-definition", str(EXAMPLE), "--pause-at", "POST_TEST_TRAFFIC_SHIFT")
    assert paused.returncode == 0, paused.stdout + paused.stderr
    assert (f"{EXAMPLE}: ignored here (no local equivalent): networkConfiguration, "
            "deploymentConfiguration.lifecycleHooks[].roleArn.") in " ".join(paused.stderr.split())
    # The smoke test (a published-shape Lambda handler) saw green through the test rule.
    assert SMOKE_TEST in paused.stdout and "SUCCEEDED" in paused.stdout
    d = status_json(kit)["deployment"]
    assert (d["target"], d["status"], d["stage"], d["paused"]) == ("green", "IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT", True)

    # The seed's transcript during the deployment: untagged requests on blue, tagged ones on green.
    during, tagged = kit.get("/"), kit.get("/", SEED_HEADER)
    for response, body in ((during, BLUE), (tagged, GREEN)):
        assert (response.status_code, response.text, response.headers["server"]) == (200, body, "envoy")
    assert kit.get("/", {"x-amzn-ecs-blue-green-test": "1"}).text == BLUE  # the file's rule, not ECS's default

    resumed = kit.bgctl("continue")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    report = status_json(kit)
    assert (report["production"], report["deployment"]["status"]) == ("green", "SUCCESSFUL")
    assert [kit.get("/", headers).text for headers in ({}, SEED_HEADER) for _ in range(3)] == [GREEN] * 6


def test_a_failing_lambda_hook_rolls_back_before_production_sees_green(blue_serves, config):
    kit = blue_serves
    text = config.read_text()
    config.write_text(text.replace("Hello from BACKEND GREEN", "Hello from BACKEND PURPLE"))
    try:
        with Traffic(kit) as untagged:
            result = kit.bgctl("deploy", "--service-definition", str(EXAMPLE))
    finally:
        config.write_text(text)
    assert result.returncode == 1, result.stdout + result.stderr
    assert status_json(kit)["deployment"]["status"] == "ROLLBACK_SUCCESSFUL"
    assert status_json(kit)["production"] == "blue"
    assert untagged.answers and untagged.bodies() == {BLUE} and not untagged.failures()


def test_bgctl_deploy_alone_takes_the_configured_service_definition(blue_serves, config):
    """`[deployment] service_definition` in the configuration file; the slot is the one not serving."""
    kit = blue_serves
    text = config.read_text()
    config.write_text(text.replace('[deployment]\n', f'[deployment]\nservice_definition = "{EXAMPLE}"\n'))
    try:
        result = kit.bgctl("deploy")
    finally:
        config.write_text(text)
    assert result.returncode == 0, result.stdout + result.stderr
    assert status_json(kit)["production"] == "green"
    assert kit.get("/").text == GREEN


def test_without_a_slot_or_a_default_bgctl_deploy_asks_for_one(kit, config):
    result = kit.bgctl("deploy")
    assert result.returncode == 2
    assert result.stderr.startswith("bgctl: Give the slot to deploy (bgctl deploy green), or a service definition")
