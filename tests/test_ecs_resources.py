"""Task definitions and clusters as ECS answers them, and references to them as ECS accepts them."""

import json
from pathlib import Path

import pytest

from bgctl.adapters.ecs_model import output_problems, parse_output
from bgctl.core.ecs_resources import (
    TaskDefinitionReference,
    cluster_answer,
    cluster_name,
    compatibilities,
    created_cluster,
    deregistered,
    latest_active,
    missing_cluster,
    registered_task_definition,
    task_definition_answer,
)
from bgctl.core.errors import InvalidInput

REPO = Path(__file__).resolve().parent.parent
BLUE = json.loads((REPO / "revisions" / "backend-blue.json").read_text())
ARN = "arn:aws:ecs:us-east-1:123456789012"
TAGS = [{"key": "team", "value": "payments"}]


def test_a_registered_task_definition_is_the_request_with_what_ecs_adds():
    kept = registered_task_definition({**BLUE, "tags": TAGS}, revision=3, now=1700000000.12345)
    definition = kept["taskDefinition"]
    assert {k: v for k, v in definition.items() if k in BLUE} == BLUE
    assert definition["taskDefinitionArn"] == f"{ARN}:task-definition/ecs-service-connect-backend:3"
    assert (definition["revision"], definition["status"]) == (3, "ACTIVE")
    assert definition["registeredAt"] == 1700000000.123
    assert definition["compatibilities"] == ["EC2", "FARGATE"]
    assert "tags" not in definition and kept["tags"] == TAGS


@pytest.mark.parametrize("operation", ["RegisterTaskDefinition", "DescribeTaskDefinition"])
def test_answers_have_only_what_botocore_knows_and_parse(operation):
    kept = registered_task_definition({**BLUE, "tags": TAGS}, revision=1, now=1700000000.0)
    answer = task_definition_answer(kept, include_tags=True)
    assert output_problems(operation, answer) == []
    parsed = parse_output(operation, answer)
    assert parsed["taskDefinition"]["registeredAt"].timestamp() == 1700000000.0
    assert parsed["tags"] == TAGS
    assert "tags" not in task_definition_answer(kept, include_tags=False)


def test_deregistered_is_inactive_with_its_time_and_still_parses():
    kept = deregistered(registered_task_definition(BLUE, revision=1, now=1000.0), now=2000.5)
    assert kept["taskDefinition"]["status"] == "INACTIVE"
    assert kept["taskDefinition"]["deregisteredAt"] == 2000.5
    assert output_problems("DeregisterTaskDefinition", {"taskDefinition": kept["taskDefinition"]}) == []
    parse_output("DeregisterTaskDefinition", {"taskDefinition": kept["taskDefinition"]})


@pytest.mark.parametrize("required, expected", [
    ([], ["EC2", "FARGATE"]),
    (["FARGATE"], ["EC2", "FARGATE"]),
    (["EC2"], ["EC2"]),
    (["EXTERNAL"], ["EC2", "EXTERNAL"]),
])
def test_compatibilities(required, expected):
    assert compatibilities(required) == expected


@pytest.mark.parametrize("text, family, revision", [
    ("backend", "backend", None),
    ("backend:7", "backend", 7),
    (f"{ARN}:task-definition/backend:7", "backend", 7),
    ("arn:aws:ecs:eu-west-1:999999999999:task-definition/my_app-2:12", "my_app-2", 12),
])
def test_task_definition_references_ecs_accepts(text, family, revision):
    reference = TaskDefinitionReference.parse(text)
    assert (reference.family, reference.revision) == (family, revision)


@pytest.mark.parametrize("text", ["", "backend:", "backend:0", "backend:x", "a/b", "../x:1", "a:1:2",
                                  f"{ARN}:service/default/backend", "arn:aws:ecs:x"])
def test_task_definition_references_ecs_refuses(text):
    with pytest.raises(InvalidInput) as info:
        TaskDefinitionReference.parse(text)
    assert str(info.value).count(".") >= 1 and "\n" not in str(info.value)


def test_latest_active_skips_inactive_revisions():
    one, two = (registered_task_definition(BLUE, revision=r, now=0) for r in (1, 2))
    assert latest_active([one, two])["taskDefinition"]["revision"] == 2
    assert latest_active([one, deregistered(two, now=1)])["taskDefinition"]["revision"] == 1
    assert latest_active([deregistered(one, now=1)]) is None


def test_cluster_names_from_names_arns_and_nothing():
    assert cluster_name(None) == "default"
    assert cluster_name("prod") == "prod"
    assert cluster_name(f"{ARN}:cluster/prod") == "prod"
    with pytest.raises(InvalidInput):
        cluster_name(f"{ARN}:service/prod/backend")


def test_a_cluster_counts_its_active_services_and_tasks():
    kept = created_cluster({"clusterName": "prod", "tags": TAGS,
                            "settings": [{"name": "containerInsights", "value": "enabled"}]})
    services = [{"status": "ACTIVE", "runningCount": 2, "pendingCount": 1},
                {"status": "ACTIVE", "runningCount": 1, "pendingCount": 0},
                {"status": "INACTIVE", "runningCount": 0}]
    answer = cluster_answer(kept, services)
    assert answer["clusterArn"] == f"{ARN}:cluster/prod"
    assert (answer["activeServicesCount"], answer["runningTasksCount"], answer["pendingTasksCount"]) == (2, 3, 1)
    assert answer["tags"] == TAGS and answer["settings"][0]["value"] == "enabled"
    assert output_problems("CreateCluster", {"cluster": answer}) == []
    parse_output("CreateCluster", {"cluster": answer})


def test_described_clusters_carry_tags_and_settings_only_when_included():
    kept = created_cluster({"clusterName": "prod", "tags": TAGS})
    plain = cluster_answer(kept, [], include=())
    assert plain["tags"] == [] and "settings" not in plain
    full = cluster_answer(kept, [], include=["TAGS", "SETTINGS"])
    assert full["tags"] == TAGS and full["settings"] == [{"name": "containerInsights", "value": "disabled"}]
    answer = {"clusters": [plain, full], "failures": [missing_cluster("gone"), missing_cluster("a/b")]}
    assert answer["failures"] == [{"arn": f"{ARN}:cluster/gone", "reason": "MISSING"},
                                  {"arn": "a/b", "reason": "MISSING"}]
    assert output_problems("DescribeClusters", answer) == []
    parse_output("DescribeClusters", answer)
