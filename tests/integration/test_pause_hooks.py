"""PAUSE hooks and hook timeouts (timeoutConfiguration), with ECS minutes made short by BGCTL_MINUTE."""

from __future__ import annotations

import time

from tests.integration.conftest import BLUE, GREEN, SEED_HEADER, definition, status_json, until

FOREVER = "arn:aws:lambda:us-east-1:123456789012:function:forever"


def config_with_forever(tmp_path) -> dict[str, str]:
    """A function that always answers IN_PROGRESS: only its timeoutConfiguration ends it."""
    config = tmp_path / "bgctl.toml"
    config.write_text(f'[functions."{FOREVER}"]\n'
                      'command = "echo \'{\\"hookStatus\\": \\"IN_PROGRESS\\", \\"callBackDelay\\": 1}\'"\n')
    return {"BGCTL_CONFIG": str(config), "BGCTL_MINUTE": "2s"}


def test_two_pause_hooks_continued_by_id(blue_serves, tmp_path):
    kit = blue_serves
    pause = {"targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"]}
    result = kit.bgctl("deploy", "--service-definition", definition(tmp_path, [pause, pause]))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PAUSE hook hook-1, hook-2 awaiting action" in result.stdout
    assert (kit.get("/").text, kit.get("/", SEED_HEADER).text) == (BLUE, GREEN)
    awaiting = status_json(kit)["deployment"]["awaiting_action"]
    assert [(a["hook_id"], a["stage"], a["timed_out"]) for a in awaiting] == [
        ("hook-1", "POST_TEST_TRAFFIC_SHIFT", False), ("hook-2", "POST_TEST_TRAFFIC_SHIFT", False)]
    assert all(a["deadline"] > time.time() + 3600 for a in awaiting)  # ECS's default: 24 h

    result = kit.bgctl("continue", "--hook-id", "hook-2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PAUSE hook hook-1 awaiting action" in result.stdout
    assert status_json(kit)["deployment"]["paused"] is True

    wrong = kit.bgctl("continue", "--hook-id", "hook-2")
    assert wrong.returncode == 2 and "No PAUSE hook hook-2 awaits action (awaiting: hook-1)." in wrong.stderr

    result = kit.bgctl("continue", "--hook-id", "hook-1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert status_json(kit)["deployment"]["status"] == "SUCCESSFUL"
    assert kit.get("/").text == GREEN


def test_a_pause_timeout_applies_its_rollback(blue_serves, tmp_path):
    kit = blue_serves
    pause = {"targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
             "timeoutConfiguration": {"timeoutInMinutes": 1, "action": "ROLLBACK"}}
    result = kit.bgctl("deploy", "--service-definition", definition(tmp_path, [pause]), env={"BGCTL_MINUTE": "2s"})
    assert result.returncode == 0, result.stdout + result.stderr
    paused = time.time()
    # The pause expires 2 s after it began, whoever looks; then `continue` finds it TIMED_OUT.
    until(lambda: time.time() > paused + 2.5, timeout=30, interval=0.1)
    # Nobody applied it yet: status says so and changes nothing.
    shown = kit.bgctl("status")
    assert "PAUSE hook-1 at POST_TEST_TRAFFIC_SHIFT timed out at " in shown.stdout
    assert "the next bgctl continue or rollback applies its ROLLBACK" in shown.stdout
    d = status_json(kit)["deployment"]
    assert d["status"] == "IN_PROGRESS" and d["awaiting_action"][0]["timed_out"] is True
    result = kit.bgctl("continue", env={"BGCTL_MINUTE": "2s"})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "PAUSE timed out while no bgctl ran: hook-1 at POST_TEST_TRAFFIC_SHIFT at " in result.stdout
    assert "timed out after 1 minutes; action ROLLBACK" in result.stdout
    report = status_json(kit)
    assert report["deployment"]["status"] == "ROLLBACK_SUCCESSFUL" and report["production"] == "blue"


def test_a_hook_timeout_with_rollback_rolls_back(blue_serves, tmp_path):
    kit = blue_serves
    hook = {"targetType": "AWS_LAMBDA", "hookTargetArn": FOREVER, "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
            "timeoutConfiguration": {"timeoutInMinutes": 2, "action": "ROLLBACK"}}
    started = time.monotonic()
    result = kit.bgctl("deploy", "--service-definition", definition(tmp_path, [hook]), env=config_with_forever(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "timed out after 2 minutes; action ROLLBACK" in result.stdout
    assert time.monotonic() - started >= 4.0  # 2 ECS minutes of 2 s, IN_PROGRESS calls included
    assert result.stdout.count("IN_PROGRESS") >= 3
    report = status_json(kit)
    assert report["deployment"]["status"] == "ROLLBACK_SUCCESSFUL" and kit.get("/").text == BLUE


def test_a_hook_timeout_with_continue_goes_on(blue_serves, tmp_path):
    kit = blue_serves
    hook = {"targetType": "AWS_LAMBDA", "hookTargetArn": FOREVER, "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
            "timeoutConfiguration": {"timeoutInMinutes": 1, "action": "CONTINUE"}}
    result = kit.bgctl("deploy", "--service-definition", definition(tmp_path, [hook]), env=config_with_forever(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "timed out after 1 minutes; action CONTINUE" in result.stdout
    assert status_json(kit)["deployment"]["status"] == "SUCCESSFUL" and kit.get("/").text == GREEN
