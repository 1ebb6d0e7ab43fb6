"""Deployments through the ECS lifecycle, against real Envoy and nginx containers."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.integration.conftest import BLUE, GREEN, REPO, SEED_HEADER, Traffic, status_json, until

# RECONCILE_SERVICE runs only when green's tasks already run as the deployment starts (as in ECS,
# only when another revision is ACTIVE); the seed's deployment starts at PRE_SCALE_UP.
STAGES = [
    "PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT", "PRE_PRODUCTION_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP",
]


def container_state(kit, slot):
    return status_json(kit)["containers"].get(f"backend-{slot}", {}).get("status")


def wait_for_stage(kit, stage, timeout=60):
    def reached():
        d = status_json(kit)["deployment"]
        return d if d and d["stage"] == stage and d["status"] == "IN_PROGRESS" else None

    return until(reached, timeout, interval=0.2)


def deploy_in_background(kit, *args):
    return subprocess.Popen([sys.executable, "-m", "bgctl", "deploy", *args], cwd=REPO, env=kit.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_the_seed_transcript(blue_serves):
    seed_transcript(blue_serves)


def seed_transcript(kit):
    """The seed's walkthrough from blue in production: curl without and with the test header
    at the pause after TEST_TRAFFIC_SHIFT, then green in production. Also run on the official
    images (test_official_images.py)."""
    before = kit.get("/")
    assert_seed_response(before, BLUE)

    paused = kit.bgctl("deploy", "green", "--pause-at", "POST_TEST_TRAFFIC_SHIFT", "--bake-time", "0")
    assert paused.returncode == 0, paused.stderr
    assert "⏸ Paused after POST_TEST_TRAFFIC_SHIFT" in paused.stdout
    for stage in STAGES[:5]:
        assert f"▶ {stage}" in paused.stdout and f"✓ {stage}" in paused.stdout
    assert "PRE_PRODUCTION_TRAFFIC_SHIFT" not in paused.stdout and "RECONCILE_SERVICE" not in paused.stdout

    during = kit.get("/")
    tagged = kit.get("/", SEED_HEADER)
    assert_seed_response(during, BLUE)
    assert_seed_response(tagged, GREEN)
    d = status_json(kit)["deployment"]
    assert (d["target"], d["status"], d["stage"], d["paused"]) == ("green", "IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT", True)
    assert status_json(kit)["weights"] == {"blue": 100, "green": 0}

    resumed = kit.bgctl("continue")
    assert resumed.returncode == 0, resumed.stderr
    assert "SUCCESSFUL" in resumed.stdout
    for stage in STAGES[5:]:
        assert f"✓ {stage}" in resumed.stdout
    after = [kit.get("/", headers).text for headers in ({}, SEED_HEADER) for _ in range(5)]
    assert after == [GREEN] * 10
    report = status_json(kit)
    assert report["production"] == "green"
    assert report["weights"] == {"blue": 0, "green": 100}
    assert report["deployment"]["status"] == "SUCCESSFUL"
    assert [r["stage"] for r in report["deployment"]["history"]] == STAGES
    assert all(r["ended"] >= r["started"] for r in report["deployment"]["history"])
    assert report["containers"]["backend-blue"]["status"] == "exited"


def assert_seed_response(response, body):
    """What the seed's `curl -v` shows: status, the three headers, the body."""
    assert response.status_code == 200
    assert response.text == body
    assert response.headers["server"] == "envoy"
    assert response.headers["content-type"] == "application/octet-stream,text/plain"
    assert response.headers["x-envoy-upstream-service-time"].isdigit()


def test_rollback_from_the_pause(blue_serves):
    kit = blue_serves
    assert kit.bgctl("deploy", "green", "--pause-at", "POST_TEST_TRAFFIC_SHIFT").returncode == 0
    assert kit.get("/", SEED_HEADER).text == GREEN
    result = kit.bgctl("rollback")
    assert result.returncode == 0, result.stderr
    assert "ROLLBACK_SUCCESSFUL" in result.stdout
    assert [kit.get("/", h).text for h in ({}, SEED_HEADER)] == [BLUE, BLUE]
    report = status_json(kit)
    assert report["production"] == "blue"
    assert report["deployment"]["status"] == "ROLLBACK_SUCCESSFUL"
    assert report["containers"]["backend-green"]["status"] == "exited"


def test_rollback_during_bake_from_another_terminal(blue_serves):
    kit = blue_serves
    deploying = deploy_in_background(kit, "green", "--bake-time", "5m")
    try:
        wait_for_stage(kit, "BAKE_TIME")
        assert kit.get("/").text == GREEN
        started = time.monotonic()
        result = kit.bgctl("rollback")
        took = time.monotonic() - started
        assert result.returncode == 0, result.stderr
        assert "ROLLBACK_SUCCESSFUL" in result.stdout
        assert deploying.wait(30) == 1  # the deployment did not succeed
    finally:
        if deploying.poll() is None:
            deploying.kill()
    assert took < 30
    assert [kit.get("/", h).text for h in ({}, SEED_HEADER)] == [BLUE, BLUE]
    report = status_json(kit)
    assert report["deployment"]["status"] == "ROLLBACK_SUCCESSFUL"
    assert report["deployment"]["reason"] == "Rollback requested by the user."
    assert report["containers"]["backend-green"]["status"] == "exited"
    assert report["containers"]["backend-blue"]["status"] == "running"


def test_failing_hook_rolls_back_and_green_never_sees_untagged_traffic(blue_serves, tmp_path):
    kit = blue_serves
    log = tmp_path / "hooks.log"
    record = f'echo "$BGCTL_STAGE rollback=$BGCTL_ROLLBACK" >> {log}'
    with Traffic(kit) as untagged:
        result = kit.bgctl("deploy", "green", "--bake-time", "0",
                           "--hook", f"TEST_TRAFFIC_SHIFT={record}",
                           "--hook", f"PRODUCTION_TRAFFIC_SHIFT={record}",
                           "--hook", "POST_TEST_TRAFFIC_SHIFT=echo smoke test failed >&2; exit 3")
    assert result.returncode == 1
    # ECS runs the two traffic-shift hooks again during a rollback.
    assert log.read_text().splitlines() == [
        "TEST_TRAFFIC_SHIFT rollback=",
        "TEST_TRAFFIC_SHIFT rollback=1",
        "PRODUCTION_TRAFFIC_SHIFT rollback=1",
    ]
    assert "hook `echo smoke test failed >&2; exit 3`: FAILED (exit status 3" in result.stdout
    assert "ROLLBACK_SUCCESSFUL" in result.stdout
    assert len(untagged.answers) > 20
    assert untagged.bodies() == {BLUE}
    assert untagged.failures() == []
    report = status_json(kit)
    assert report["production"] == "blue"
    assert report["deployment"]["status"] == "ROLLBACK_SUCCESSFUL"
    assert "POST_TEST_TRAFFIC_SHIFT hook" in report["deployment"]["reason"]
    assert report["containers"]["backend-green"]["status"] == "exited"


def test_candidate_that_never_gets_healthy_rolls_back(blue_serves, tmp_path):
    kit = blue_serves
    taskdef = json.loads((REPO / "examples/task-definitions/backend-green.json").read_text())
    container = taskdef["containerDefinitions"][0]
    container["healthCheck"] = {"command": ["CMD-SHELL", "wget -q --spider http://localhost:3999/health || exit 1"],
                                "interval": 5, "timeout": 2, "retries": 2, "startPeriod": 0}
    path = tmp_path / "unhealthy.json"
    path.write_text(json.dumps(taskdef))
    with Traffic(kit) as untagged:
        result = kit.bgctl("deploy", "green", "--task-definition", str(path), "--bake-time", "0")
    assert result.returncode == 1
    assert "never became healthy" in result.stdout
    assert "ROLLBACK_SUCCESSFUL" in result.stdout
    assert untagged.bodies() == {BLUE} and untagged.failures() == []
    assert status_json(kit)["deployment"]["stage"] == "SCALE_UP"
    assert kit.get("/", SEED_HEADER).text == BLUE


def test_in_progress_hook_is_called_again_with_its_details(blue_serves, tmp_path):
    kit = blue_serves
    log = tmp_path / "calls.log"
    script = tmp_path / "hook.sh"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "call details=[$BGCTL_HOOK_DETAILS] stage=$BGCTL_STAGE target=$BGCTL_TARGET_SLOT" >> {log}\n'
        'if [ -z "$BGCTL_HOOK_DETAILS" ]; then\n'
        '  echo \'{"hookStatus": "IN_PROGRESS", "callBackDelay": 1, "hookDetails": {"checks": 1}}\'\n'
        "else\n"
        '  curl -s -H "$BGCTL_TEST_HEADER: $BGCTL_TEST_HEADER_VALUE" "$BGCTL_INGRESS_URL/" >> ' f"{log}\n"
        '  echo \'{"hookStatus": "SUCCEEDED"}\'\n'
        "fi\n"
    )
    script.chmod(0o755)
    result = kit.bgctl("deploy", "green", "--bake-time", "0", "--hook", f"POST_TEST_TRAFFIC_SHIFT={script}")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = log.read_text().splitlines()
    assert lines[0] == "call details=[] stage=POST_TEST_TRAFFIC_SHIFT target=green"
    assert lines[1] == 'call details=[{"checks": 1}] stage=POST_TEST_TRAFFIC_SHIFT target=green'
    assert lines[2] == GREEN  # the hook reached the candidate with the test header
    assert "IN_PROGRESS" in result.stdout and "SUCCEEDED" in result.stdout


def test_kill_9_during_bake_then_continue_does_not_restart_the_bake(blue_serves):
    kit = blue_serves
    # 30 s: on a loaded machine one `bgctl status` can take seconds, and the window in which
    # to kill it (a third of the bake done, the bake not over) must outlast a few of them.
    deploying = deploy_in_background(kit, "green", "--bake-time", "30s")
    bake = wait_for_stage(kit, "BAKE_TIME")
    # A third of the bake done, so that resuming must not bake all of it again.
    until(lambda: (status_json(kit)["deployment"]["bake_remaining"] or 30) <= 20, 60, interval=0.2)
    os.kill(deploying.pid, signal.SIGKILL)
    deploying.wait(10)
    report = status_json(kit)
    d = report["deployment"]
    assert (d["status"], d["stage"], d["interrupted"]) == ("IN_PROGRESS", "BAKE_TIME", True)
    assert any("interrupted at BAKE_TIME" in w for w in report["warnings"])
    assert kit.get("/").text == GREEN  # production stays where it was
    bake_started = next(r["started"] for r in d["history"] if r["stage"] == "BAKE_TIME")
    resumed_at = time.monotonic()
    result = kit.bgctl("continue")
    took = time.monotonic() - resumed_at
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Resuming an interrupted deployment at BAKE_TIME" in result.stdout
    assert took < 30  # only what was left of the bake
    history = {r["stage"]: r for r in status_json(kit)["deployment"]["history"]}
    assert history["BAKE_TIME"]["started"] == bake_started
    assert 30 <= history["BAKE_TIME"]["seconds"] < 40
    assert status_json(kit)["deployment"]["status"] == "SUCCESSFUL"
    del bake


def test_kill_9_then_rollback_recovers(blue_serves):
    kit = blue_serves
    deploying = deploy_in_background(kit, "green", "--bake-time", "5m")
    wait_for_stage(kit, "BAKE_TIME")
    os.kill(deploying.pid, signal.SIGKILL)
    deploying.wait(10)
    result = kit.bgctl("rollback")
    assert result.returncode == 0, result.stdout + result.stderr
    assert [kit.get("/", h).text for h in ({}, SEED_HEADER)] == [BLUE, BLUE]
    assert status_json(kit)["deployment"]["status"] == "ROLLBACK_SUCCESSFUL"


def test_a_second_concurrent_deploy_is_refused(blue_serves):
    kit = blue_serves
    deploying = deploy_in_background(kit, "green", "--bake-time", "5m")
    try:
        wait_for_stage(kit, "BAKE_TIME")
        second = kit.bgctl("deploy", "green", "--bake-time", "0")
        assert second.returncode == 1
        assert second.stderr == (f"bgctl: Another bgctl (pid {deploying.pid}) is changing this stack; "
                                 "wait for it to finish or stop it first.\n")
    finally:
        kit.bgctl("rollback")
        deploying.wait(30)


def test_round_trip_green_then_blue(blue_serves):
    kit = blue_serves
    assert kit.bgctl("deploy", "green", "--bake-time", "0").returncode == 0
    assert kit.get("/").text == GREEN
    back = kit.bgctl("deploy", "blue", "--bake-time", "0")
    assert back.returncode == 0, back.stderr
    assert [kit.get("/", h).text for h in ({}, SEED_HEADER)] == [BLUE, BLUE]
    report = status_json(kit)
    assert report["production"] == "blue"
    assert report["containers"]["backend-green"]["status"] == "exited"


@pytest.mark.parametrize("slot, file, body", [
    ("green", "backend-green.json", GREEN),
    ("green", "backend-blue.json", BLUE),
])
def test_deploy_from_the_seed_task_definitions(blue_serves, slot, file, body):
    kit = blue_serves
    result = kit.bgctl("deploy", slot, "--task-definition", str(REPO / "examples/task-definitions" / file),
                       "--bake-time", "0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ignored" in result.stdout.lower() or "ignored" in result.stderr.lower()
    assert kit.get("/").text == body
    assert kit.get("/").headers["content-type"] == "application/octet-stream,text/plain"


def test_deploy_from_a_different_task_definition(blue_serves, tmp_path):
    kit = blue_serves
    taskdef = {
        "family": "backend-v3",
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{
            "name": "api",
            "image": "nginx:alpine",
            "essential": True,
            "portMappings": [{"containerPort": 3000, "name": "api"}],
            "environment": [{"name": "VERSION", "value": "3.0"}],
            # $VERSION is the shell's (the task's environment), not Compose's.
            "command": ["/bin/sh", "-c",
                        "echo \"server { listen 3000; location / { return 200 'v3 says hi, version $VERSION'; } "
                        "location /ready { return 204; } }\" > /etc/nginx/conf.d/default.conf && nginx -g 'daemon off;'"],
            "healthCheck": {"command": ["CMD", "wget", "-q", "--spider", "http://localhost:3000/ready"],
                            "interval": 10, "timeout": 3, "retries": 2, "startPeriod": 5},
        }],
    }
    path = tmp_path / "v3.json"
    path.write_text(json.dumps(taskdef))
    result = kit.bgctl("deploy", "green", "--task-definition", str(path), "--bake-time", "0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert kit.get("/").text == "v3 says hi, version 3.0"
    assert status_json(kit)["production"] == "green"


def _snapshot(kit):
    state = (kit.settings.state_dir / "state.json").read_bytes()
    containers = {k: v["status"] for k, v in status_json(kit)["containers"].items()}
    return state, containers


@pytest.mark.parametrize("args, sentence", [
    (["deploy", "blue"], "bgctl: blue already serves production; deploy the other slot.\n"),
    (["deploy", "purple"], "bgctl: 'purple' is not a slot; use blue or green.\n"),
    (["rollback"], "bgctl: Nothing to roll back: no deployment is in progress.\n"),
    (["continue"], "bgctl: Nothing to continue: no deployment is in progress.\n"),
    (["deploy", "green", "--test-header", "bad header=1"],
     "bgctl: 'bad header' is not a header name a test traffic rule can match.\n"),
    (["deploy", "green", "--pause-at", "TEST_TRAFFIC_SHIFT"],
     "bgctl: A deployment cannot pause at TEST_TRAFFIC_SHIFT, as in ECS; choose another stage.\n"),
    (["deploy", "green", "--pause-at", "PRODUCTION_TRAFFIC_SHIFT"],
     "bgctl: A deployment cannot pause at PRODUCTION_TRAFFIC_SHIFT, as in ECS; choose another stage.\n"),
    (["deploy", "green", "--hook", "SCALE_UP=true"],
     "bgctl: ECS runs no lifecycle hooks at SCALE_UP; choose another stage.\n"),
    (["deploy", "green", "--hook", "BAKE_TIME=true"],
     "bgctl: ECS runs no lifecycle hooks at BAKE_TIME; choose another stage.\n"),
    (["deploy", "green", "--hook", "CLEAN_UP=true"],
     "bgctl: ECS runs no lifecycle hooks at CLEAN_UP; choose another stage.\n"),
    (["deploy", "green", "--bake-time", "soon"],
     "bgctl: --bake-time 'soon' is not a duration; use a number of seconds or a form like 90s, 5m, 1h.\n"),
    (["deploy", "green", "--bake-time", "25h"], "bgctl: --bake-time '25h' is longer than ECS allows (1440 minutes).\n"),
    (["deploy", "green", "--task-definition", "examples/task-definitions/frontend.json"], None),
    (["deploy", "green", "--task-definition", "/nonexistent.json"], None),
])
def test_refusals_change_nothing(blue_serves, args, sentence):
    kit = blue_serves
    before = _snapshot(kit)
    result = kit.bgctl(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    if sentence:
        assert result.stderr == sentence
    else:
        assert result.stderr.startswith("bgctl: ") and result.stderr.count("\n") == 1
    assert result.stdout == ""
    assert _snapshot(kit) == before
    assert kit.get("/").text == BLUE


def test_malformed_task_definition_names_line_and_column(blue_serves, tmp_path):
    kit = blue_serves
    path = tmp_path / "broken.json"
    path.write_text('{\n  "family": "x",\n  "containerDefinitions": [\n    {"name": "a" "image": "b"}\n  ]\n}\n')
    before = _snapshot(kit)
    result = kit.bgctl("deploy", "green", "--task-definition", str(path))
    assert result.returncode == 2
    assert "line 4, column" in result.stderr and result.stderr.count("\n") == 1
    assert _snapshot(kit) == before


def test_candidate_killed_during_bake_rolls_back_by_itself(blue_serves):
    kit = blue_serves
    deploying = deploy_in_background(kit, "green", "--bake-time", "2m")
    try:
        wait_for_stage(kit, "BAKE_TIME")
        with Traffic(kit) as traffic:
            until(lambda: traffic.answers)  # traffic flows before the kill
            killed_at = time.monotonic()
            subprocess.run(["docker", "kill", f"{kit.project}-backend-green-1"], check=True, capture_output=True)
            assert deploying.wait(30) == 1
            rolled_back_at = time.monotonic()
            rolled_back_after = rolled_back_at - killed_at
            # A request sent to green just before it died can take a connect
            # time-out (2 s) to fail: wait until the client is past it and
            # has answers to requests it started after the rollback.
            until(lambda: sum(1 for a in list(traffic.answers) if a[0] > rolled_back_at) >= 20, 15)
    finally:
        if deploying.poll() is None:
            deploying.kill()
    out = deploying.stdout.read()
    assert "The candidate green stopped (exited) before CLEAN_UP." in out
    assert rolled_back_after < 10
    report = status_json(kit)
    assert report["production"] == "blue"
    assert report["deployment"]["status"] == "ROLLBACK_SUCCESSFUL"
    assert kit.get("/").text == BLUE
    after = [a for a in traffic.answers if a[0] > rolled_back_at]
    assert after and all(a[2] == 200 and a[3] == BLUE for a in after)
    print(f"candidate killed: {len(traffic.failures())} of {len(traffic.answers)} requests failed; "
          f"rolled back {rolled_back_after:.2f}s after the kill")


def test_5xx_alarm_during_bake_rolls_back(blue_serves, tmp_path):
    kit = blue_serves
    taskdef = json.loads((REPO / "examples/task-definitions/backend-green.json").read_text())
    taskdef["containerDefinitions"][0]["command"] = [
        "/bin/sh", "-c",
        "echo 'server { listen 3000; location / { return 503 \"broken v2\"; } "
        "location /health { return 200 \"OK\"; } }' > /etc/nginx/conf.d/default.conf && nginx -g 'daemon off;'",
    ]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(taskdef))
    with Traffic(kit):
        result = kit.bgctl("deploy", "green", "--task-definition", str(path), "--bake-time", "2m",
                           "--alarm-5xx-percent", "10")
    assert result.returncode == 1, result.stdout
    assert "Alarm:" in result.stdout and "above 10%" in result.stdout
    report = status_json(kit)
    assert report["deployment"]["stage"] == "BAKE_TIME"
    assert report["deployment"]["status"] == "ROLLBACK_SUCCESSFUL"
    assert report["production"] == "blue"
    assert kit.get("/").text == BLUE
