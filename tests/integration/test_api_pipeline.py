"""The README's pipeline: examples/ecs-api/pipeline.sh, aws CLI calls only, against `bgctl serve`.

The stack is not up before: create-service brings it up, as ECS starts a new
service's tasks. The script's output is what its user reads: the seed's answers
before, during the paused test window (green for the test header, blue for
production) and after.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.envoy_host import free_port
from tests.integration.conftest import BLUE, GREEN, REPO, Serve

SCRIPT = REPO / "examples" / "ecs-api" / "pipeline.sh"


@pytest.fixture
def served(fresh_kit):
    fresh_kit.extra_env.update({"BGCTL_API_PORT": str(free_port()), "BGCTL_MINUTE": "1s"})
    with Serve(fresh_kit):
        yield fresh_kit


def test_the_pipeline_script_deploys_green_through_the_ecs_api(served):
    env = {**served.env, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        env.pop(name, None)
    started = time.monotonic()
    result = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=600)
    took = time.monotonic() - started
    print(f"pipeline.sh took {took:.1f}s")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    # Before the update, at the pause, and after: the seed's answers.
    assert lines[lines.index("== services") + 3] == BLUE
    assert f"test traffic: {GREEN}" in lines
    assert f"production:   {BLUE}" in lines
    assert "deployment SUCCESSFUL" in lines
    assert lines[-1] == GREEN
    assert served.get("/").text == GREEN
    status = served.bgctl("status", "--json")
    assert '"production": "green"' in status.stdout
