"""`bgctl serve` answering boto3 and the aws CLI: task definitions, clusters, errors, and the serve's own life.

No stack is needed for these operations: a project of its own (`fresh_kit`,
never started) and a free BGCTL_API_PORT.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import botocore.exceptions
import pytest
import requests

from tests.envoy_host import free_port
from tests.integration.conftest import REPO, Kit, Serve, status_json

FAMILY = "ecs-service-connect-backend"
ARN = "arn:aws:ecs:us-east-1:123456789012"
TARGET = "AmazonEC2ContainerServiceV20141113."


@pytest.fixture(scope="module")
def kit():
    k = Kit.new("bgapi")
    k.extra_env["BGCTL_API_PORT"] = str(free_port())
    try:
        yield k
    finally:
        k.teardown()


@pytest.fixture(scope="module")
def serve(kit):
    with Serve(kit) as server:
        yield server


@pytest.fixture(scope="module")
def ecs(serve):
    return boto3.client("ecs", endpoint_url=serve.url, region_name="us-east-1",
                        aws_access_key_id="any", aws_secret_access_key="thing")


def aws(serve: Serve, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """The aws CLI as a pipeline runs it, pointed at the kit by AWS_ENDPOINT_URL_ECS."""
    env = {**os.environ, "AWS_ENDPOINT_URL_ECS": serve.url, "AWS_ACCESS_KEY_ID": "x",
           "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1",
           # Nothing of the machine's own AWS configuration applies.
           "AWS_CONFIG_FILE": str(tmp_path / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials")}
    return subprocess.run([sys.executable, "-m", "awscli", "ecs", *args, "--output", "json"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def aws_json(serve: Serve, tmp_path: Path, *args: str) -> dict:
    result = aws(serve, tmp_path, *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_seeds_task_definitions_register_as_revisions_1_and_2(serve, ecs, tmp_path):
    blue = aws_json(serve, tmp_path, "register-task-definition",
                    "--cli-input-json", "file://revisions/backend-blue.json")["taskDefinition"]
    assert (blue["family"], blue["revision"], blue["status"]) == (FAMILY, 1, "ACTIVE")
    assert blue["taskDefinitionArn"] == f"{ARN}:task-definition/{FAMILY}:1"
    green = ecs.register_task_definition(**json.loads((REPO / "revisions/backend-green.json").read_text()))
    assert green["taskDefinition"]["revision"] == 2
    assert green["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert "Hello from BACKEND GREEN" in green["taskDefinition"]["containerDefinitions"][0]["command"][2]


def test_describe_by_family_revision_and_arn(serve, ecs, tmp_path):
    latest = ecs.describe_task_definition(taskDefinition=FAMILY)["taskDefinition"]
    assert latest["revision"] == 2 and latest["compatibilities"] == ["EC2", "FARGATE"]
    assert latest["registeredAt"].tzinfo is not None  # a timestamp boto3 parsed
    first = aws_json(serve, tmp_path, "describe-task-definition", "--task-definition", f"{FAMILY}:1")
    assert first["taskDefinition"]["revision"] == 1
    by_arn = ecs.describe_task_definition(taskDefinition=f"{ARN}:task-definition/{FAMILY}:1")
    assert by_arn["taskDefinition"]["containerDefinitions"] == \
        json.loads((REPO / "revisions/backend-blue.json").read_text())["containerDefinitions"]
    with pytest.raises(botocore.exceptions.ClientError) as info:
        ecs.describe_task_definition(taskDefinition="nope")
    assert info.value.response["Error"] == {"Code": "ClientException", "Message": "Unable to describe task definition."}


def test_list_pages_through_boto3s_paginator_and_the_cli(serve, ecs, tmp_path):
    pages = ecs.get_paginator("list_task_definitions").paginate(PaginationConfig={"PageSize": 1})
    arns = [arn for page in pages for arn in page["taskDefinitionArns"]]
    assert arns == [f"{ARN}:task-definition/{FAMILY}:1", f"{ARN}:task-definition/{FAMILY}:2"]
    listed = aws_json(serve, tmp_path, "list-task-definitions", "--family-prefix", FAMILY, "--sort", "DESC")
    assert listed["taskDefinitionArns"] == arns[::-1]


def test_deregister_leaves_the_revision_inactive_and_describable(serve, ecs, tmp_path):
    gone = aws_json(serve, tmp_path, "deregister-task-definition", "--task-definition", f"{FAMILY}:1")
    assert gone["taskDefinition"]["status"] == "INACTIVE" and "deregisteredAt" in gone["taskDefinition"]
    assert ecs.describe_task_definition(taskDefinition=f"{FAMILY}:1")["taskDefinition"]["status"] == "INACTIVE"
    assert ecs.list_task_definitions()["taskDefinitionArns"] == [f"{ARN}:task-definition/{FAMILY}:2"]
    assert ecs.list_task_definitions(status="INACTIVE")["taskDefinitionArns"] == [f"{ARN}:task-definition/{FAMILY}:1"]


def test_clusters(serve, ecs, tmp_path):
    created = aws_json(serve, tmp_path, "create-cluster", "--cluster-name", "ci")["cluster"]
    assert (created["clusterArn"], created["status"]) == (f"{ARN}:cluster/ci", "ACTIVE")
    described = ecs.describe_clusters(clusters=["ci", "default", "missing"])
    assert [c["clusterName"] for c in described["clusters"]] == ["ci", "default"]
    assert described["failures"] == [{"arn": f"{ARN}:cluster/missing", "reason": "MISSING"}]
    assert ecs.list_clusters()["clusterArns"] == [f"{ARN}:cluster/ci", f"{ARN}:cluster/default"]


def test_an_operation_outside_the_subset_names_the_supported_ones(serve, ecs, tmp_path):
    with pytest.raises(botocore.exceptions.ClientError) as info:
        ecs.run_task(taskDefinition=FAMILY)
    error = info.value.response["Error"]
    assert error["Code"] == "UnsupportedFeatureException"
    assert error["Message"].startswith("RunTask is not supported by bgctl serve; it supports ")
    assert "RegisterTaskDefinition" in error["Message"] and "DescribeClusters" in error["Message"]
    result = aws(serve, tmp_path, "run-task", "--task-definition", FAMILY)
    assert result.returncode != 0
    assert "(UnsupportedFeatureException) when calling the RunTask operation: RunTask is not supported" in result.stderr


def test_invalid_input_is_refused_in_aws_shape_and_changes_nothing(serve, ecs):
    before = ecs.list_task_definitions()["taskDefinitionArns"]
    response = requests.post(serve.url + "/", timeout=10, data=json.dumps({"famly": FAMILY, "containerDefinitions": []}),
                             headers={"X-Amz-Target": TARGET + "RegisterTaskDefinition",
                                      "Content-Type": "application/x-amz-json-1.1"})
    assert response.status_code == 400
    body = response.json()
    assert body["__type"] == "InvalidParameterException"
    assert body["message"].startswith('Missing required parameter in input: "family"; '
                                      'Unknown parameter in input: "famly", must be one of: family, ')
    assert ecs.list_task_definitions()["taskDefinitionArns"] == before


def test_status_names_the_running_serve(serve, kit):
    assert status_json(kit)["api"] == {"url": serve.url, "pid": serve.process.pid}
    text = kit.bgctl("status")
    assert f"ECS API:    {serve.url} (bgctl serve, pid {serve.process.pid})" in text.stdout.splitlines()


def test_a_second_serve_of_the_project_is_refused(serve, kit):
    result = kit.bgctl("serve", timeout=30)
    assert result.returncode == 1
    assert result.stderr == (f"bgctl: bgctl serve already runs for project {kit.project} "
                             f"(pid {serve.process.pid}, {serve.url}).\n")


def test_a_taken_port_is_one_sentence_naming_bgctl_api_port(serve, kit):
    other = Kit.new("bgapi")
    other.extra_env["BGCTL_API_PORT"] = str(kit.settings.api_port)
    result = other.bgctl("serve", timeout=30)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "BGCTL_API_PORT" in result.stderr
    assert result.stderr.startswith(f"bgctl: 127.0.0.1:{kit.settings.api_port} is taken")
    assert not other.settings.api_file.exists()  # it never started, so there is nothing to take down


def test_terminating_serve_withdraws_api_json(serve, kit):
    assert kit.settings.api_file.exists()
    serve.stop()
    assert serve.process.returncode == 0
    assert not kit.settings.api_file.exists()
    assert status_json(kit)["api"] is None
    # What it kept is still there for the next serve.
    assert (kit.settings.ecs_dir / "task-definitions" / FAMILY / "2.json").is_file()


def test_down_stops_serve_and_removes_what_it_kept(kit):
    with Serve(kit) as server:
        result = kit.bgctl("down", timeout=120)
        assert result.returncode == 0, result.stderr
        assert server.process.wait(timeout=30) == 0
        assert not kit.settings.api_file.exists() and not kit.settings.ecs_dir.exists()
