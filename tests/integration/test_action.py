"""The GitHub Action's steps (scripts/action-deploy.sh), run here as a plain script.

The same script that action.yml calls deploys this repository's example service
definition, with a test command as the POST_TEST_TRAFFIC_SHIFT hook, on a stack
of its own; a failing test command rolls the deployment back and the script says
so with exit status 1, as the action fails the job. The record is left behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import BLUE, GREEN, REPO, Kit

SCRIPT = REPO / "scripts" / "action-deploy.sh"
SMOKE_TEST_ARN = "arn:aws:lambda:us-east-1:123456789012:function:smoke-test"


@pytest.fixture(scope="module")
def action_kit():
    k = Kit.new("bgaction")
    try:
        yield k
    finally:
        k.teardown()


def run_script(kit: Kit, mode: str, work, **inputs: str) -> subprocess.CompletedProcess:
    env = {**kit.env, "BGCTL_MINUTE": "2s", "INPUT_WORKING_DIRECTORY": str(work), "RECORD_DIR": "record",
           **{f"INPUT_{k.upper()}": v for k, v in inputs.items()}}
    env.pop("BGCTL_CONFIG", None)
    # The script calls `bgctl` as the action's job would: the one installed beside this Python.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(["bash", str(SCRIPT), mode], cwd=work, env=env, capture_output=True, text=True, timeout=300)


def user_repository(tmp_path, kit: Kit):
    """A user's folder: the example service definition and a configuration whose smoke-test Lambda hits this stack."""
    (tmp_path / "config.toml").write_text(
        "[test_traffic_rule]\nheader = \"x-amzn-ecs-bluegreen-test\"\nvalue = \"test\"\n\n"
        f'[functions."{SMOKE_TEST_ARN}"]\n'
        f'handler = "{REPO / "examples/hooks/smoke_test.py"}:lambda_handler"\n'
        f'environment = {{ ALB_URL = "{kit.url}/", EXPECTED_RESPONSE = "Hello from BACKEND GREEN" }}\n'
    )
    (tmp_path / "checks").mkdir()
    return tmp_path


def test_the_action_deploys_the_service_definition_and_its_test_command_sees_green(action_kit, tmp_path):
    work = user_repository(tmp_path, action_kit)
    # The user's test command runs in their folder, with the test header's details.
    command = ('curl -fsS -H "$BGCTL_TEST_HEADER: $BGCTL_TEST_HEADER_VALUE" "$BGCTL_INGRESS_URL/" > checks/test-window.txt'
               ' && curl -fsS "$BGCTL_INGRESS_URL/" > checks/production.txt')
    result = run_script(action_kit, "deploy", work, service_definition=str(REPO / "examples/service-definitions/backend.json"),
                        config="config.toml", test_command=command, bake_time="0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (work / "checks/test-window.txt").read_text() == GREEN
    assert (work / "checks/production.txt").read_text() == BLUE
    assert action_kit.get("/").text == GREEN
    described = json.loads((work / "record/describe.json").read_text())
    assert described["serviceDeployments"][0]["status"] == "SUCCESSFUL"
    assert any((work / "record/deployments").iterdir())


def test_a_failing_test_command_rolls_back_and_the_script_exits_1(action_kit, tmp_path):
    work = user_repository(tmp_path, action_kit)
    # Green serves production now: the example's task definition goes to blue, and the test says no.
    result = run_script(action_kit, "deploy", work, task_definition=str(REPO / "examples/task-definitions/backend-blue.json"),
                        config="config.toml", test_command="test -f no-such-file", bake_time="0")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "rolled back" in result.stderr
    assert action_kit.get("/").text == GREEN
    described = json.loads((work / "record/describe.json").read_text())
    assert described["serviceDeployments"][0]["status"] == "ROLLBACK_SUCCESSFUL"


def test_down_removes_the_stack(action_kit, tmp_path):
    result = run_script(action_kit, "down", tmp_path)
    assert result.returncode == 0, result.stderr
    assert action_kit.leftovers() == []
