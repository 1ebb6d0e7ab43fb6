"""The pytest plugin in a repository of its own: a failing test gets the deployment record in
its report, `bgctl watch --project` run from another folder sees its deployment, and the
session's stack is gone afterwards.

(`.ci/run` also runs examples/user-project/ with bgctl installed from a wheel.)
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
GREEN = REPO / "examples" / "task-definitions" / "backend-green.json"


def test_a_failing_test_reports_the_deployment_record_and_leaves_no_stack(pytester):
    pytester.makeini("[pytest]\nbgctl_minute = 1s\n")
    pytester.makepyfile(f"""
        import json, subprocess, sys

        def test_green_in_the_test_window(bgctl_stack, bgctl_deployment, tmp_path):
            print("project", bgctl_stack.project)
            d = bgctl_deployment
            d.start({str(GREEN)!r}, test_header="x-preview=yes")
            assert (d.source, d.target) == ("blue", "green")
            # another terminal, in another folder, with nothing of the stack's environment
            watched = subprocess.run([sys.executable, "-m", "bgctl", "watch", "--once", "--json",
                                      "--project", bgctl_stack.project], cwd=tmp_path,
                                     capture_output=True, text=True, env={{"PATH": "/usr/bin:/bin"}})
            assert watched.returncode == 0, watched.stderr
            view = json.loads(watched.stdout)
            print("watched", view["deployment"]["stage"], view["deployment"]["paused"], view["production"])
            assert d.get("/").slot == "blue"
            answer = d.get("/", test=True)
            assert (answer.status, answer.slot) == (200, "green")
            assert answer.text == "Hello from BACKEND BLUE"  # wrong on purpose: green answered
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")

    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "AssertionError" in out and "Hello from BACKEND GREEN (v2.0)" in out
    record = out.split("bgctl deployment record", 1)[1]
    assert re.search(r'"serviceDeploymentArn": "arn:aws:ecs:[^"]+:service-deployment/', record)
    assert '"status": "IN_PROGRESS"' in record  # paused in the test window when the test failed
    commands = record.split("bgctl commands", 1)[1]
    assert f"$ bgctl deploy green --task-definition {GREEN} --pause-at POST_TEST_TRAFFIC_SHIFT" in commands
    assert "Paused after POST_TEST_TRAFFIC_SHIFT" in commands

    assert "watched POST_TEST_TRAFFIC_SHIFT True blue" in out

    project = re.search(r"project (bgctl-pytest-[0-9a-f]+)", out).group(1)
    assert f"bgctl: stack {project} at http://127.0.0.1:" in out
    assert f"watch it from another terminal: bgctl watch --project {project}" in out
    left = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}"],
                          capture_output=True, text=True, check=True).stdout.split()
    assert left == []
