"""The API's operations dispatched as `bgctl serve` dispatches them, against an ECS store in a temporary folder."""

import json
from pathlib import Path

import pytest

from bgctl.adapters.ecs_model import output_problems, parse_output
from bgctl.adapters.ecs_store import EcsStore
from bgctl.api.clusters import cluster_names, resolve_cluster
from bgctl.api.operations import Api, ApiError, dispatch, supported
from bgctl.api.task_definitions import resolve_task_definition
from bgctl.core.settings import Settings

REPO = Path(__file__).resolve().parent.parent
BLUE = json.loads((REPO / "revisions" / "backend-blue.json").read_text())
GREEN = json.loads((REPO / "revisions" / "backend-green.json").read_text())
FAMILY = "ecs-service-connect-backend"
ARN = "arn:aws:ecs:us-east-1:123456789012"


@pytest.fixture
def api(tmp_path) -> Api:
    return Api(settings=Settings.parse({}, tmp_path), store=EcsStore(tmp_path / "ecs"))


def call(api: Api, operation: str, body: dict) -> dict:
    """`operation`'s answer, checked as an SDK would read it."""
    answer = dispatch(api, operation, body)
    assert output_problems(operation, answer) == []
    parse_output(operation, answer)
    return json.loads(json.dumps(answer))  # what goes on the wire


def refused(api: Api, operation: str, body: dict) -> ApiError:
    with pytest.raises(ApiError) as info:
        dispatch(api, operation, body)
    return info.value


def test_an_unsupported_operation_names_the_supported_ones(api):
    error = refused(api, "RunTask", {"taskDefinition": FAMILY})
    assert error.type_name == "UnsupportedFeatureException"
    assert error.message.startswith("RunTask is not supported by bgctl serve; it supports ")
    for name in ("RegisterTaskDefinition", "DescribeTaskDefinition", "ListTaskDefinitions",
                 "DeregisterTaskDefinition", "CreateCluster", "DescribeClusters", "ListClusters"):
        assert name in supported() and name in error.message


def test_invalid_input_is_invalid_parameter_in_botocores_words_and_changes_nothing(api):
    error = refused(api, "RegisterTaskDefinition", {**BLUE, "containerDefinitions": "nginx"})
    assert error.type_name == "InvalidParameterException"
    assert error.message == ('Invalid type for parameter containerDefinitions, value: nginx, '
                             "type: <class 'str'>, valid types: <class 'list'>, <class 'tuple'>.")
    error = refused(api, "ListTaskDefinitions", {"sort": "NEWEST"})
    assert error.message == "Invalid value for parameter sort, value: NEWEST, valid values: ASC, DESC."
    assert api.store.families() == []


def test_register_twice_gives_revisions_1_and_2_and_describe_by_family_the_latest(api):
    first = call(api, "RegisterTaskDefinition", BLUE)["taskDefinition"]
    second = call(api, "RegisterTaskDefinition", GREEN)["taskDefinition"]
    assert (first["revision"], second["revision"]) == (1, 2)
    assert second["taskDefinitionArn"] == f"{ARN}:task-definition/{FAMILY}:2"
    assert call(api, "DescribeTaskDefinition", {"taskDefinition": FAMILY})["taskDefinition"] == second
    assert call(api, "DescribeTaskDefinition", {"taskDefinition": f"{FAMILY}:1"})["taskDefinition"] == first
    by_arn = call(api, "DescribeTaskDefinition", {"taskDefinition": first["taskDefinitionArn"]})
    assert by_arn["taskDefinition"] == first
    assert second["containerDefinitions"] == GREEN["containerDefinitions"]


def test_tags_are_described_when_included(api):
    tags = [{"key": "team", "value": "payments"}]
    assert call(api, "RegisterTaskDefinition", {**BLUE, "tags": tags})["tags"] == tags
    assert "tags" not in call(api, "DescribeTaskDefinition", {"taskDefinition": FAMILY})
    assert call(api, "DescribeTaskDefinition", {"taskDefinition": FAMILY, "include": ["TAGS"]})["tags"] == tags


def test_a_definition_the_kit_cannot_run_still_registers_as_ecs_would(api):
    worker = {"family": "worker", "containerDefinitions": [{"name": "w", "image": "busybox"}]}
    assert call(api, "RegisterTaskDefinition", worker)["taskDefinition"]["revision"] == 1


def test_unknown_task_definitions_are_client_exceptions_in_ecs_words(api):
    for reference in ("nope", "nope:3", f"{ARN}:task-definition/nope:1"):
        error = refused(api, "DescribeTaskDefinition", {"taskDefinition": reference})
        assert (error.type_name, error.message) == ("ClientException", "Unable to describe task definition.")
    error = refused(api, "DescribeTaskDefinition", {"taskDefinition": "../etc:1"})
    assert error.type_name == "ClientException" and error.message.startswith("Unable to describe task definition: ")
    assert refused(api, "RegisterTaskDefinition", {**BLUE, "family": "a/b"}).type_name == "ClientException"


def test_deregister_makes_a_revision_inactive_and_still_describable(api):
    call(api, "RegisterTaskDefinition", BLUE)
    call(api, "RegisterTaskDefinition", GREEN)
    gone = call(api, "DeregisterTaskDefinition", {"taskDefinition": f"{FAMILY}:2"})["taskDefinition"]
    assert gone["status"] == "INACTIVE" and gone["deregisteredAt"] >= gone["registeredAt"]
    assert call(api, "DescribeTaskDefinition", {"taskDefinition": f"{FAMILY}:2"})["taskDefinition"] == gone
    assert call(api, "DescribeTaskDefinition", {"taskDefinition": FAMILY})["taskDefinition"]["revision"] == 1
    # A new revision's number is never one used before.
    assert call(api, "RegisterTaskDefinition", GREEN)["taskDefinition"]["revision"] == 3
    assert refused(api, "DeregisterTaskDefinition", {"taskDefinition": FAMILY}).type_name == "ClientException"
    error = refused(api, "DeregisterTaskDefinition", {"taskDefinition": f"{FAMILY}:9"})
    assert error.message == "The specified task definition does not exist."


def test_resolve_task_definition_refuses_unknown_and_inactive_ones(api):
    call(api, "RegisterTaskDefinition", BLUE)
    call(api, "RegisterTaskDefinition", GREEN)
    call(api, "DeregisterTaskDefinition", {"taskDefinition": f"{FAMILY}:1"})
    assert resolve_task_definition(api, FAMILY)["revision"] == 2
    with pytest.raises(ApiError, match="^TaskDefinition is inactive$"):
        resolve_task_definition(api, f"{FAMILY}:1")
    with pytest.raises(ApiError, match=r"^TaskDefinition not found\.$"):
        resolve_task_definition(api, "other")


def test_list_filters_sorts_and_pages(api):
    for body in (BLUE, GREEN, {**BLUE, "family": "a-first"}, GREEN):
        call(api, "RegisterTaskDefinition", body)
    call(api, "DeregisterTaskDefinition", {"taskDefinition": f"{FAMILY}:2"})
    arn = lambda family, revision: f"{ARN}:task-definition/{family}:{revision}"  # noqa: E731
    active = [arn("a-first", 1), arn(FAMILY, 1), arn(FAMILY, 3)]
    assert call(api, "ListTaskDefinitions", {})["taskDefinitionArns"] == active
    assert call(api, "ListTaskDefinitions", {"sort": "DESC"})["taskDefinitionArns"] == active[::-1]
    assert call(api, "ListTaskDefinitions", {"status": "INACTIVE"})["taskDefinitionArns"] == [arn(FAMILY, 2)]
    assert call(api, "ListTaskDefinitions", {"familyPrefix": "a-first"})["taskDefinitionArns"] == active[:1]
    first = call(api, "ListTaskDefinitions", {"maxResults": 2})
    assert first["taskDefinitionArns"] == active[:2]
    rest = call(api, "ListTaskDefinitions", {"maxResults": 2, "nextToken": first["nextToken"]})
    assert rest == {"taskDefinitionArns": active[2:]}
    assert refused(api, "ListTaskDefinitions", {"nextToken": "garbage"}).type_name == "InvalidParameterException"
    assert refused(api, "ListTaskDefinitions", {"maxResults": 101}).type_name == "InvalidParameterException"


def test_clusters_create_idempotently_and_describe_missing_ones_as_failures(api):
    created = call(api, "CreateCluster", {"clusterName": "prod", "tags": [{"key": "a", "value": "b"}]})["cluster"]
    assert (created["clusterName"], created["status"]) == ("prod", "ACTIVE")
    assert created["clusterArn"] == f"{ARN}:cluster/prod"
    assert call(api, "CreateCluster", {"clusterName": "prod"})["cluster"] == created
    described = call(api, "DescribeClusters", {"clusters": ["prod", f"{ARN}:cluster/prod", "gone"]})
    assert [c["clusterName"] for c in described["clusters"]] == ["prod", "prod"]
    assert described["failures"] == [{"arn": f"{ARN}:cluster/gone", "reason": "MISSING"}]
    assert call(api, "DescribeClusters", {})["clusters"][0]["clusterName"] == "default"
    assert call(api, "ListClusters", {})["clusterArns"] == [f"{ARN}:cluster/default", f"{ARN}:cluster/prod"]
    assert cluster_names(api) == ["default", "prod"]
    assert refused(api, "CreateCluster", {"clusterName": "a b"}).type_name == "InvalidParameterException"


def test_resolve_cluster(api):
    call(api, "CreateCluster", {"clusterName": "prod"})
    assert resolve_cluster(api, None) == "default"
    assert resolve_cluster(api, "default") == "default"
    assert resolve_cluster(api, f"{ARN}:cluster/prod") == "prod"
    for missing in ("staging", "../prod", f"{ARN}:service/prod/x"):
        with pytest.raises(ApiError) as info:
            resolve_cluster(api, missing)
        assert (info.value.type_name, info.value.message) == ("ClusterNotFoundException", "Cluster not found.")
