"""ECS services as `bgctl serve` describes them: DescribeServices' Service from a record and deployments."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from bgctl.adapters.ecs_model import output_problems, parse_output
from bgctl.core.arns import ServiceNames
from bgctl.core.ecs_records import KeptDeployment
from bgctl.core.ecs_services import (OWN, BACKEND, FRONTEND, INACTIVE, ServiceView, as_update_input,
                                     current_task_definition, describe_service, kit_role, merged_definition,
                                     revision_source, same_revision, task_definition_arn)
from bgctl.core.service_definition import UPDATE_SERVICE, parse_service_definition
from bgctl.core.stages import Stage, Status
from bgctl.core.taskdef import parse_task_definition
from bgctl.core.traffic import TestTrafficRule
from tests.test_ecs_records import make, through

REPO_REVISIONS = Path(__file__).resolve().parents[1] / "revisions"
NAMES = ServiceNames("backend")
BLUE_ARN = NAMES.task_definition_arn("ecs-service-connect-backend", 1)
GREEN_ARN = NAMES.task_definition_arn("ecs-service-connect-backend", 2)
SC = {"enabled": True, "namespace": "service-connect.local", "services": [
    {"portName": "backend-port", "discoveryName": "backend", "clientAliases": [
        {"port": 3000, "dnsName": "backend",
         "testTrafficRules": {"header": {"name": "x-amzn-ecs-bluegreen-test", "value": {"exact": "test"}}}}]}]}
BACKEND_INPUT = {"serviceName": "backend", "taskDefinition": "ecs-service-connect-backend:1", "desiredCount": 1,
                 "deploymentConfiguration": {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 5},
                 "serviceConnectConfiguration": SC, "launchType": "FARGATE"}
FRONTEND_INPUT = {"serviceName": "frontend", "taskDefinition": "ecs-service-connect-frontend:1", "desiredCount": 1,
                  "loadBalancers": [{"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:"
                                                       "targetgroup/frontend/0123456789abcdef",
                                     "containerName": "frontend", "containerPort": 80}]}


def revision(slot: str, number: int):
    text = (REPO_REVISIONS / f"backend-{slot}.json").read_text()
    return parse_task_definition(text, source=revision_source("ecs-service-connect-backend", number))


def record(definition=BACKEND_INPUT, **overrides) -> dict:
    base = {"serviceName": definition["serviceName"], "clusterName": "default",
            "role": kit_role(definition), "status": "ACTIVE", "definition": definition,
            "taskDefinition": BLUE_ARN, "createdTaskDefinition": BLUE_ARN, "createdAt": 900.0, "updatedAt": 900.0}
    base.update(overrides)
    return base


def described(view: ServiceView) -> dict:
    service = describe_service(view)
    answer = {"services": [service], "failures": []}
    assert output_problems("DescribeServices", answer) == []
    parse_output("DescribeServices", json.dumps(answer))
    return service


def stable(service: dict) -> bool:
    """What `aws ecs wait services-stable` accepts."""
    return len(service["deployments"]) == 1 and service["runningCount"] == service["desiredCount"]


def green_deployment(**overrides) -> KeptDeployment:
    k = make(revision=revision("green", 2), names=NAMES, **overrides)
    return replace(k, source_revision=revision("blue", 1))


def test_the_kit_role_of_a_definition():
    assert kit_role(BACKEND_INPUT) == BACKEND
    assert kit_role(FRONTEND_INPUT) == FRONTEND
    # Any other service runs on a stack of its own (whether it can be reached is checked there).
    assert kit_role({"serviceName": "worker", "taskDefinition": "w:1"}) == OWN
    other_port = json.loads(json.dumps(SC).replace("3000", "8080"))
    assert kit_role({**BACKEND_INPUT, "serviceConnectConfiguration": other_port}) == OWN
    other_name = json.loads(json.dumps(SC).replace('"backend"', '"orders"'))
    assert kit_role({**BACKEND_INPUT, "serviceConnectConfiguration": other_name}) == OWN
    web = {**FRONTEND_INPUT, "loadBalancers": [{**FRONTEND_INPUT["loadBalancers"][0], "containerName": "web"}]}
    assert kit_role(web) == OWN


def test_an_update_keeps_what_it_leaves_out_and_merges_the_deployment_configuration():
    merged = merged_definition(BACKEND_INPUT, {"service": "backend", "taskDefinition": "x:2",
                                               "forceNewDeployment": True,
                                               "deploymentConfiguration": {"bakeTimeInMinutes": 1}})
    assert merged["taskDefinition"] == "x:2"
    assert merged["serviceConnectConfiguration"] == SC
    assert merged["deploymentConfiguration"] == {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1}
    assert "service" not in merged and "forceNewDeployment" not in merged


def test_the_merged_definition_parses_as_update_service_input():
    sd = parse_service_definition(as_update_input(BACKEND_INPUT, "backend", "default"), source="Service backend",
                                  operation=UPDATE_SERVICE)
    assert sd.test_rule == TestTrafficRule("x-amzn-ecs-bluegreen-test", "test")
    assert sd.bake_minutes == 5 and sd.service == "backend" and sd.cluster == "default"


def test_a_revision_names_its_task_definition():
    assert task_definition_arn(revision("green", 2), NAMES) == GREEN_ARN
    assert task_definition_arn(None, NAMES) is None
    assert same_revision(revision("blue", 1), replace(revision("blue", 7), source="shipped"))
    assert not same_revision(revision("blue", 1), revision("green", 2))


def test_a_settled_service_is_stable_with_one_primary_deployment():
    service = described(ServiceView(record(), running=1, now=1000.0))
    assert stable(service)
    [primary] = service["deployments"]
    assert primary["status"] == "PRIMARY" and primary["rolloutState"] == "COMPLETED"
    assert primary["taskDefinition"] == BLUE_ARN and primary["launchType"] == "FARGATE"
    assert service["events"][0]["message"] == "(service backend) has reached a steady state."


def test_no_running_task_is_not_stable():
    service = described(ServiceView(record(), running=0))
    assert not stable(service)
    assert service["deployments"][0]["pendingCount"] == 1


def test_while_the_worker_works_without_a_record_the_service_is_not_stable():
    updating = record(taskDefinition=GREEN_ARN, previousTaskDefinition=BLUE_ARN, updatedAt=950.0)
    service = described(ServiceView(updating, running=1, working=True))
    assert [d["status"] for d in service["deployments"]] == ["PRIMARY", "ACTIVE"]
    assert service["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    assert not stable(service)
    # A new service with nothing running yet: one deployment, none running.
    assert not stable(described(ServiceView(record(), running=0, working=True)))


@pytest.mark.parametrize("stage", [Stage.PRE_SCALE_UP, Stage.BAKE_TIME, Stage.CLEAN_UP])
def test_a_deployment_in_progress_has_a_primary_and_an_active_entry_until_it_ends(stage):
    k = green_deployment(status=Status.IN_PROGRESS, stage=stage, history=through(stage, ended=False))
    view = ServiceView(record(taskDefinition=GREEN_ARN, previousTaskDefinition=BLUE_ARN), (k,), running=1,
                       candidate_running=1)
    service = described(view)
    primary, active = service["deployments"]
    assert (primary["status"], primary["taskDefinition"], primary["rolloutState"]) == \
        ("PRIMARY", GREEN_ARN, "IN_PROGRESS")
    assert (active["status"], active["taskDefinition"]) == ("ACTIVE", BLUE_ARN)
    assert service["runningCount"] == 2 and not stable(service)
    assert service["currentServiceDeployment"] == NAMES.service_deployment_arn(k.deployment.id)
    assert "has started service deployment" in service["events"][0]["message"]


def test_a_successful_deployment_settles_on_its_task_definition():
    k = green_deployment(status=Status.SUCCESSFUL, stage=Stage.CLEAN_UP, history=through(Stage.CLEAN_UP),
                         finished=1011.0)
    service = described(ServiceView(record(taskDefinition=GREEN_ARN, previousTaskDefinition=BLUE_ARN), (k,),
                                    running=1))
    assert stable(service) and service["taskDefinition"] == GREEN_ARN
    messages = [e["message"] for e in service["events"]]
    assert messages[0] == "(service backend) has reached a steady state."
    assert messages[1].endswith("completed.") and messages[-1].startswith("(service backend) was created")


def test_a_rolled_back_deployment_leaves_the_service_on_the_source_task_definition():
    k = green_deployment(status=Status.ROLLBACK_SUCCESSFUL, stage=Stage.CLEAN_UP, finished=1011.0,
                         reason="Hook hook-1 at POST_TEST_TRAFFIC_SHIFT returned FAILED.")
    view = ServiceView(record(taskDefinition=GREEN_ARN, previousTaskDefinition=BLUE_ARN), (k,), running=1)
    assert current_task_definition(view) == BLUE_ARN
    service = described(view)
    assert stable(service)
    [primary] = service["deployments"]
    assert primary["taskDefinition"] == BLUE_ARN and "rolled back" in primary["rolloutStateReason"]
    # The source ran its shipped revision (no task definition): the service's previous one names it.
    view = ServiceView(view.record, (replace(k, source_revision=None),), running=1)
    assert current_task_definition(view) == BLUE_ARN


def test_a_deleted_service_is_inactive_with_no_deployments():
    service = described(ServiceView(record(status=INACTIVE, deletedAt=1200.0), running=1, now=1200.0))
    assert service["status"] == "INACTIVE" and service["deployments"] == [] and service["desiredCount"] == 0
    assert "containers keep running" in service["events"][0]["message"]


def test_the_frontend_describes_its_load_balancer():
    frontend_arn = NAMES.task_definition_arn("ecs-service-connect-frontend", 1)
    service = described(ServiceView(record(FRONTEND_INPUT, taskDefinition=frontend_arn,
                                           createdTaskDefinition=frontend_arn), running=1))
    assert service["loadBalancers"] == FRONTEND_INPUT["loadBalancers"] and stable(service)


def test_a_redeployment_after_a_rollback_is_the_services_task_definition_before_its_record_exists():
    # UpdateService to green again after green rolled back: until the worker writes the new
    # deployment's record, the latest one is the rollback, which must not undo the new ask.
    k = green_deployment(status=Status.ROLLBACK_SUCCESSFUL, stage=Stage.CLEAN_UP, finished=1011.0,
                         reason="Rollback requested by the user.")
    asked = record(taskDefinition=GREEN_ARN, previousTaskDefinition=BLUE_ARN, updatedAt=1050.0,
                   deploymentRequestedAt=1050.0)
    service = described(ServiceView(asked, (k,), running=1, working=True))
    assert service["taskDefinition"] == GREEN_ARN
    assert [(d["status"], d["taskDefinition"]) for d in service["deployments"]] == \
        [("PRIMARY", GREEN_ARN), ("ACTIVE", BLUE_ARN)]
    # A settings-only update since the rollback asks for no deployment: the rollback still holds.
    settings_only = record(taskDefinition=GREEN_ARN, previousTaskDefinition=BLUE_ARN, updatedAt=1050.0)
    assert current_task_definition(ServiceView(settings_only, (k,), running=1)) == BLUE_ARN
