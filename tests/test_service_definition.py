"""Service definitions: ECS's model checks the JSON, the core keeps what the kit runs."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from bgctl.adapters.ecs_model import input_problems, validate_input
from bgctl.adapters.project_files import find_task_definition, read_service_definition
from bgctl.core.errors import InvalidInput
from bgctl.core.service_definition import (
    BLUE_GREEN,
    CANARY,
    CREATE_SERVICE,
    LINEAR,
    UPDATE_SERVICE,
    CanaryConfiguration,
    LinearConfiguration,
    TaskDefinitionRef,
    parse_service_definition,
    task_definition_reference,
)
from bgctl.core.stages import Stage
from bgctl.core.traffic import AWS_DEFAULT_TEST_HEADER, TestTrafficRule

ROOT = Path(__file__).resolve().parent.parent
APPROVE = "arn:aws:lambda:us-east-1:123456789012:function:approve"

BASE = {
    "cluster": "c",
    "service": "backend",
    "taskDefinition": "../task-definitions/backend-green.json",
    "desiredCount": 1,
    "deploymentConfiguration": {
        "strategy": "BLUE_GREEN",
        "bakeTimeInMinutes": 5,
        "lifecycleHooks": [{
            "targetType": "AWS_LAMBDA",
            "hookTargetArn": APPROVE,
            "roleArn": "arn:aws:iam::123456789012:role/ecs-hooks",
            "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
            "hookDetails": {"expect": "GREEN"},
        }],
    },
    "serviceConnectConfiguration": {
        "enabled": True,
        "namespace": "service-connect.local",
        "services": [{"portName": "backend-port", "discoveryName": "backend", "clientAliases": [{
            "port": 3000, "dnsName": "backend",
            "testTrafficRules": {"header": {"name": "x-amzn-ecs-bluegreen-test", "value": {"exact": "test"}}},
        }]}],
    },
}


def definition(**changes):
    data = copy.deepcopy(BASE)
    dc = changes.pop("deploymentConfiguration", None)
    if dc is not None:
        data["deploymentConfiguration"].update(dc)
    data.update(changes)
    return data


def parse(data, **kwargs):
    kwargs.setdefault("functions", {APPROVE})
    validate_input(kwargs.get("operation", UPDATE_SERVICE), data, source="sd.json")
    return parse_service_definition(data, source="sd.json", **kwargs)


def refusal(data, **kwargs) -> str:
    with pytest.raises(InvalidInput) as caught:
        parse(data, **kwargs)
    message = str(caught.value)
    assert message.startswith("sd.json ") and message.endswith(".") and "\n" not in message
    return message


# -- the model's own checks, in botocore's wording ------------------------------------------

def test_an_unknown_key_is_reported_as_botocore_reports_it():
    message = refusal(definition(bogus=1))
    assert message.startswith('sd.json is not a valid UpdateService input: Unknown parameter in input: "bogus", '
                              "must be one of: cluster, service, desiredCount, taskDefinition")


def test_an_unknown_key_deep_inside_is_reported_with_its_path():
    message = refusal(definition(deploymentConfiguration={"bakeTime": 5}))
    assert 'Unknown parameter in deploymentConfiguration: "bakeTime"' in message


def test_a_wrong_type_is_reported_as_botocore_reports_it():
    assert "Invalid type for parameter desiredCount, value: 2, type: <class 'str'>, valid types: <class 'int'>" \
        in refusal(definition(desiredCount="2"))


def test_an_enum_outside_the_model_is_refused_with_the_valid_values():
    message = refusal(definition(deploymentConfiguration={"strategy": "BLUEGREEN"}))
    assert ("Invalid value for parameter deploymentConfiguration.strategy, value: BLUEGREEN, "
            "valid values: ROLLING, BLUE_GREEN, LINEAR, CANARY") in message


def test_a_hook_at_a_stage_without_hooks_is_refused_by_the_model():
    data = definition()
    data["deploymentConfiguration"]["lifecycleHooks"][0]["lifecycleStages"] = ["BAKE_TIME"]
    message = refusal(data)
    assert "lifecycleHooks[0].lifecycleStages[0], value: BAKE_TIME, valid values: RECONCILE_SERVICE" in message


def test_the_models_minimum_and_maximum_apply():
    data = definition()
    data["deploymentConfiguration"]["lifecycleHooks"][0]["timeoutConfiguration"] = {"timeoutInMinutes": 0}
    assert "timeoutInMinutes, value: 0, valid min value: 1" in refusal(data)
    data["deploymentConfiguration"]["lifecycleHooks"][0]["timeoutConfiguration"] = {"timeoutInMinutes": 20161}
    assert "timeoutInMinutes, value: 20161, valid max value: 20160" in refusal(data)


def test_every_problem_is_reported_in_one_sentence():
    message = refusal(definition(bogus=1, desiredCount="2"))
    assert '"bogus"' in message and "desiredCount" in message and message.count("; ") >= 1


def test_a_missing_required_field_is_the_models():
    data = definition()
    del data["service"]
    assert 'Missing required parameter in input: "service"' in refusal(data)


def test_alarms_need_what_the_model_requires():
    assert 'Missing required parameter in deploymentConfiguration.alarms: "rollback"' in refusal(
        definition(deploymentConfiguration={"alarms": {"alarmNames": ["5xx"], "enable": True}}))


def test_create_service_input_is_checked_against_its_own_shape():
    data = definition()
    data["serviceName"] = data.pop("service")
    sd = parse(data, operation=CREATE_SERVICE)
    assert sd.service == "backend" and sd.operation == CREATE_SERVICE
    assert input_problems("UpdateService", data)[0].startswith('Missing required parameter in input: "service"')


# -- what the model cannot say ------------------------------------------------------------------

def test_rolling_is_refused_in_one_sentence():
    message = refusal(definition(deploymentConfiguration={"strategy": "ROLLING"}))
    assert "ROLLING" in message and "blue/green" in message


def test_create_service_without_a_strategy_is_ecs_rolling():
    data = definition(deploymentConfiguration={"strategy": None})
    del data["deploymentConfiguration"]["strategy"]
    data["serviceName"] = data.pop("service")
    assert "ROLLING" in refusal(data, operation=CREATE_SERVICE)


def test_step_percent_2_is_refused():
    message = refusal(definition(deploymentConfiguration={"strategy": "LINEAR",
                                                          "linearConfiguration": {"stepPercent": 2}}))
    assert "linearConfiguration.stepPercent 2" in message and "3 to 100" in message


def test_step_percent_must_be_a_multiple_of_a_tenth():
    assert "multiples of 0.1" in refusal(definition(deploymentConfiguration={
        "strategy": "LINEAR", "linearConfiguration": {"stepPercent": 12.55}}))


def test_canary_percent_range():
    assert "canaryPercent 0" in refusal(definition(deploymentConfiguration={
        "strategy": "CANARY", "canaryConfiguration": {"canaryPercent": 0}}))


def test_a_linear_configuration_needs_the_linear_strategy():
    message = refusal(definition(deploymentConfiguration={"linearConfiguration": {"stepPercent": 20}}))
    assert "linearConfiguration" in message and "LINEAR" in message


def test_bake_time_above_ecs_limit_is_refused():
    assert "bakeTimeInMinutes 1441" in refusal(definition(deploymentConfiguration={"bakeTimeInMinutes": 1441}))


def test_a_pause_at_production_traffic_shift_is_refused():
    data = definition()
    data["deploymentConfiguration"]["lifecycleHooks"] = [
        {"targetType": "PAUSE", "lifecycleStages": ["PRODUCTION_TRAFFIC_SHIFT"]}]
    message = refusal(data)
    assert "PAUSE" in message and "PRODUCTION_TRAFFIC_SHIFT" in message


def test_an_unmapped_lambda_is_refused_naming_the_configuration():
    message = refusal(definition(), functions=set(), config_name="bgctl.toml")
    assert APPROVE in message and "bgctl.toml" in message and f'[functions."{APPROVE}"]' in message


def test_a_lambda_hook_needs_its_arn():
    data = definition()
    del data["deploymentConfiguration"]["lifecycleHooks"][0]["hookTargetArn"]
    assert "no hookTargetArn" in refusal(data)


def test_a_missing_task_definition_is_refused():
    data = definition()
    del data["taskDefinition"]
    assert "names no taskDefinition" in refusal(data)


def test_more_than_ten_pauses_are_refused():
    data = definition()
    data["deploymentConfiguration"]["lifecycleHooks"] = [
        {"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP"]} for _ in range(11)]
    assert "at most 10" in refusal(data)


def test_different_test_rules_on_two_aliases_are_refused():
    data = definition()
    aliases = data["serviceConnectConfiguration"]["services"][0]["clientAliases"]
    aliases.append({"port": 3001, "testTrafficRules": {"header": {"name": "x-other"}}})
    assert "different testTrafficRules" in refusal(data)


# -- what is kept ----------------------------------------------------------------------------

def test_the_seed_deployment_as_ecs_takes_it():
    sd = parse(definition())
    assert (sd.cluster, sd.service, sd.strategy, sd.bake_minutes) == ("c", "backend", BLUE_GREEN, 5)
    assert sd.task_definition == TaskDefinitionRef("../task-definitions/backend-green.json",
                                                   path="../task-definitions/backend-green.json")
    assert sd.test_rule == TestTrafficRule("x-amzn-ecs-bluegreen-test", "test")
    (hook,) = sd.hooks
    assert (hook.target_type, hook.target_arn, hook.stages) == ("AWS_LAMBDA", APPROVE, (Stage.POST_TEST_TRAFFIC_SHIFT,))
    assert hook.details == {"expect": "GREEN"}
    # ECS's defaults for a hook without timeoutConfiguration.
    assert (hook.timeout_minutes, hook.timeout_action) == (1440, "ROLLBACK")
    assert sd.ignored == ("deploymentConfiguration.lifecycleHooks[].roleArn",)


def test_linear_and_canary_take_ecs_defaults():
    assert parse(definition(deploymentConfiguration={"strategy": "LINEAR"})).linear == LinearConfiguration(10.0, 6)
    assert parse(definition(deploymentConfiguration={"strategy": "CANARY"})).canary == CanaryConfiguration(5.0, 10)
    sd = parse(definition(deploymentConfiguration={"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 25.0}}))
    assert (sd.strategy, sd.linear) == (LINEAR, LinearConfiguration(25.0, 6))
    sd = parse(definition(deploymentConfiguration={"strategy": "CANARY", "canaryConfiguration": {
        "canaryPercent": 0.5, "canaryBakeTimeInMinutes": 0}}))
    assert (sd.strategy, sd.canary) == (CANARY, CanaryConfiguration(0.5, 0))


def test_pause_hooks_and_timeouts():
    data = definition()
    data["deploymentConfiguration"]["lifecycleHooks"] = [
        {"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP", "POST_TEST_TRAFFIC_SHIFT"],
         "timeoutConfiguration": {"timeoutInMinutes": 3, "action": "CONTINUE"}}]
    (hook,) = parse(data).hooks
    assert (hook.target_type, hook.target_arn, hook.timeout_minutes, hook.timeout_action) == ("PAUSE", None, 3, "CONTINUE")
    assert hook.stages == (Stage.POST_SCALE_UP, Stage.POST_TEST_TRAFFIC_SHIFT)


def test_a_hook_without_target_type_is_a_lambda():
    data = definition()
    del data["deploymentConfiguration"]["lifecycleHooks"][0]["targetType"]
    assert parse(data).hooks[0].target_type == "AWS_LAMBDA"


def test_no_test_rule_on_the_alias_is_ecs_default():
    data = definition()
    del data["serviceConnectConfiguration"]["services"][0]["clientAliases"][0]["testTrafficRules"]
    assert parse(data).test_rule == TestTrafficRule(AWS_DEFAULT_TEST_HEADER)


def test_a_header_rule_without_value_matches_presence():
    data = definition()
    data["serviceConnectConfiguration"]["services"][0]["clientAliases"][0]["testTrafficRules"] = {
        "header": {"name": "X-Canary"}}
    assert parse(data).test_rule == TestTrafficRule("x-canary")


def test_update_service_leaves_unset_fields_to_the_service():
    """UpdateService keeps what is not given: the kit's service is bgctl.toml's."""
    data = {"service": "backend", "taskDefinition": "backend:2"}
    sd = parse(data)
    assert (sd.strategy, sd.bake_minutes, sd.test_rule, sd.hooks, sd.alarms, sd.cluster) == (None,) * 6


def test_fields_the_kit_cannot_honour_are_named():
    data = definition(
        networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-1"]}},
        capacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
        placementConstraints=[], enableExecuteCommand=True, desiredCount=2, propagateTags="SERVICE",
        deploymentConfiguration={"maximumPercent": 200, "minimumHealthyPercent": 100,
                                 "alarms": {"alarmNames": ["backend-5xx"], "enable": True, "rollback": True}},
        forceNewDeployment=True,
    )
    sd = parse(data)
    assert set(sd.ignored) == {
        "networkConfiguration", "capacityProviderStrategy", "enableExecuteCommand", "propagateTags",
        "deploymentConfiguration.maximumPercent", "deploymentConfiguration.minimumHealthyPercent",
        "deploymentConfiguration.alarms.alarmNames", "deploymentConfiguration.lifecycleHooks[].roleArn",
    }
    assert sd.alarms is not None and (sd.alarms.enable, sd.alarms.rollback) == (True, True)
    assert sd.desired_count == 2  # applied: that many tasks of the revision


@pytest.mark.parametrize("count", [0, 11, -1])
def test_a_desired_count_the_kit_cannot_run_is_refused(count):
    assert refusal(definition(desiredCount=count)) == (
        f"sd.json asks for desiredCount {count}; the kit runs 1 to 10 tasks of a revision.")


@pytest.mark.parametrize("text, expected", [
    ("backend", TaskDefinitionRef("backend", family="backend")),
    ("backend:2", TaskDefinitionRef("backend:2", family="backend", revision=2)),
    ("arn:aws:ecs:us-east-1:123456789012:task-definition/backend:7",
     TaskDefinitionRef("arn:aws:ecs:us-east-1:123456789012:task-definition/backend:7", family="backend", revision=7)),
    ("td/backend.json", TaskDefinitionRef("td/backend.json", path="td/backend.json")),
    ("backend.json", TaskDefinitionRef("backend.json", path="backend.json")),
])
def test_task_definition_references(text, expected):
    assert task_definition_reference(text) == expected


# -- files ------------------------------------------------------------------------------------

def write_td(path: Path, family: str, revision: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads((ROOT / "examples/task-definitions/backend-green.json").read_text())
    data["family"] = family
    if revision is not None:
        data["revision"] = revision
    path.write_text(json.dumps(data))
    return path


def test_a_path_is_relative_to_the_service_definition(tmp_path):
    td = write_td(tmp_path / "defs" / "green.json", "backend")
    ref = task_definition_reference("defs/green.json")
    assert find_task_definition(ref, base_dir=tmp_path, source="sd.json") == td


def test_a_missing_file_is_one_sentence(tmp_path):
    with pytest.raises(InvalidInput, match=r"^sd.json names taskDefinition nope.json, but .*nope.json does not exist\.$"):
        find_task_definition(task_definition_reference("nope.json"), base_dir=tmp_path, source="sd.json")


def test_a_family_is_looked_up_by_file_name_then_by_content(tmp_path):
    sd_dir = tmp_path / "service-definitions"
    named = write_td(tmp_path / "task-definitions" / "backend-3.json", "backend", 3)
    by_content = write_td(tmp_path / "task-definitions" / "whatever.json", "web", 4)
    assert find_task_definition(task_definition_reference("backend:3"), base_dir=sd_dir, source="s") == named
    assert find_task_definition(task_definition_reference("web:4"), base_dir=sd_dir, source="s") == by_content
    assert find_task_definition(task_definition_reference("web"), base_dir=sd_dir, source="s") == by_content
    with pytest.raises(InvalidInput, match="no task definition of that family and revision"):
        find_task_definition(task_definition_reference("web:5"), base_dir=sd_dir, source="s")


def test_an_ambiguous_family_asks_for_a_revision(tmp_path):
    write_td(tmp_path / "task-definitions" / "a.json", "backend")
    write_td(tmp_path / "task-definitions" / "b.json", "backend")
    with pytest.raises(InvalidInput, match="matches a.json and b.json"):
        find_task_definition(task_definition_reference("backend"), base_dir=tmp_path, source="s")


def test_read_service_definition_tells_create_from_update(tmp_path):
    path = tmp_path / "sd.json"
    path.write_text(json.dumps({"serviceName": "backend", "taskDefinition": "backend"}))
    assert read_service_definition(path)[1] == CREATE_SERVICE
    path.write_text(json.dumps({"service": "backend"}))
    assert read_service_definition(path)[1] == UPDATE_SERVICE
    path.write_text("{nope")
    with pytest.raises(InvalidInput, match=r"is not valid JSON: .* at line 1, column 2\.$"):
        read_service_definition(path)
    with pytest.raises(InvalidInput, match="does not exist"):
        read_service_definition(tmp_path / "missing.json")


# -- the deploy request (cli/service_definition.py) -------------------------------------------

from bgctl.cli.service_definition import ignored_line, request_from_service_definition  # noqa: E402
from bgctl.core.hooks import HookTargetType, TimeoutAction  # noqa: E402
from bgctl.core.settings import Settings  # noqa: E402
from bgctl.core.strategy import Strategy  # noqa: E402

SMOKE_TEST = "arn:aws:lambda:us-east-1:123456789012:function:smoke-test"
EXAMPLE = ROOT / "examples/service-definitions/backend.json"


def project(tmp_path: Path, config: str = "", **env) -> Settings:
    """Settings whose configuration file is `config` (BGCTL_CONFIG) and whose state is under tmp_path."""
    (tmp_path / "bgctl.toml").write_text(config)
    return Settings.parse({"BGCTL_CONFIG": str(tmp_path / "bgctl.toml"), "BGCTL_MINUTE": "2s", **env}, tmp_path)


MAPPED = f'[functions."{SMOKE_TEST}"]\nhandler = "{ROOT}/examples/hooks/smoke_test.py:lambda_handler"\n'


def sd_file(tmp_path: Path, data: dict) -> Path:
    data = {**data, "taskDefinition": str(ROOT / "examples/task-definitions/backend-green.json")}
    path = tmp_path / "sd.json"
    path.write_text(json.dumps(data))
    return path


def test_the_example_is_the_seed_deployment_in_ecs_minutes(tmp_path):
    request, sd = request_from_service_definition(project(tmp_path, MAPPED), EXAMPLE)
    assert request.target == "green"  # no state yet: the slot beside the default production
    assert request.revision.family == "ecs-service-connect-backend" and "GREEN" in " ".join(request.revision.command)
    assert request.revision.source.endswith("examples/task-definitions/backend-green.json")
    assert request.test_rule == TestTrafficRule("x-amzn-ecs-bluegreen-test", "test")
    assert request.bake_seconds == 5 * 2.0 and request.minute_seconds == 2.0
    (hook,) = request.hooks
    assert (hook.target_type, hook.target, hook.stages) == (
        HookTargetType.AWS_LAMBDA, SMOKE_TEST, (Stage.POST_TEST_TRAFFIC_SHIFT,))
    assert (hook.timeout.minutes, hook.timeout.action) == (5, TimeoutAction.ROLLBACK)
    assert request.shift.strategy == Strategy.BLUE_GREEN
    assert (request.names.service, request.names.cluster) == ("backend", "ecs-service-connect")
    assert ignored_line(sd) == (f"{EXAMPLE}: ignored here (no local equivalent): networkConfiguration, "
                                "deploymentConfiguration.lifecycleHooks[].roleArn.")


def test_command_line_options_override_the_file(tmp_path):
    request, _ = request_from_service_definition(
        project(tmp_path, MAPPED), EXAMPLE, target="blue", bake_time="0", test_header="x-try=1",
        hooks=("PRE_SCALE_UP=true",), pause_at="POST_TEST_TRAFFIC_SHIFT", alarm_5xx_percent="10")
    assert (request.target, request.bake_seconds, request.test_rule) == ("blue", 0, TestTrafficRule("x-try", "1"))
    assert [h.target_type for h in request.hooks] == [HookTargetType.AWS_LAMBDA, HookTargetType.COMMAND]
    assert (request.pause_at, request.alarm_5xx_percent) == (Stage.POST_TEST_TRAFFIC_SHIFT, 10.0)


def test_fields_left_out_keep_the_services_settings(tmp_path):
    config = ('[deployment]\nbake_time = "7s"\n[test_traffic_rule]\nheader = "x-kit"\n'
              '[[hooks]]\nstage = "POST_SCALE_UP"\ncommand = "true"\n')
    request, _ = request_from_service_definition(project(tmp_path, config), sd_file(tmp_path, {"service": "backend"}))
    assert (request.bake_seconds, request.test_rule) == (7.0, TestTrafficRule("x-kit"))
    assert [(h.target_type, h.target) for h in request.hooks] == [(HookTargetType.COMMAND, "true")]
    assert request.shift.strategy == Strategy.BLUE_GREEN and request.names.cluster == "default"


def test_linear_minutes_follow_bgctl_minute(tmp_path):
    path = sd_file(tmp_path, {"service": "backend", "deploymentConfiguration": {
        "strategy": "LINEAR", "bakeTimeInMinutes": 0, "linearConfiguration": {"stepPercent": 25.0, "stepBakeTimeInMinutes": 3},
        "alarms": {"alarmNames": ["backend-5xx"], "enable": True, "rollback": False}}})
    request, _ = request_from_service_definition(project(tmp_path), path)
    assert (request.shift.strategy, request.shift.step_percent, request.shift.step_bake_seconds) == (
        Strategy.LINEAR, 25.0, 6.0)
    assert (request.alarm_5xx_percent, request.alarm_rollback) == (5.0, False)


def test_no_default_service_definition_asks_for_a_slot(tmp_path):
    from bgctl.cli.service_definition import default_service_definition

    with pytest.raises(InvalidInput, match=r"^Give the slot to deploy .* in bgctl.toml\)\.$"):
        default_service_definition(project(tmp_path))
