"""`bgctl watch` on a real stack: the JSON for scripts, and the plain lines in a pipe."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading

from bgctl.adapters.load_generator import Traffic
from tests.integration.conftest import REPO, until


def test_once_json_shows_the_paused_deployment_and_the_traffic(blue_serves):
    kit = blue_serves
    with Traffic(kit.url, 2):
        paused = kit.bgctl("deploy", "green", "--pause-at", "POST_TEST_TRAFFIC_SHIFT", "--bake-time", "0")
        assert paused.returncode == 0, paused.stderr
        result = kit.bgctl("watch", "--once", "--json")
    assert result.returncode == 0, result.stderr
    view = json.loads(result.stdout)
    assert view["production"] == "blue"
    assert view["weights"] == {"blue": 100, "green": 0}
    d = view["deployment"]
    assert (d["status"], d["stage"], d["paused"], d["awaiting"]) == ("IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT", True, [])
    assert view["slots"]["blue"]["rps"] > 0
    assert view["slots"]["green"]["errors_per_s"] == 0 and view["slots"]["blue"]["errors_per_s"] == 0
    assert kit.bgctl("rollback").returncode == 0


def test_in_a_pipe_it_prints_a_line_per_change_and_quits_on_ctrl_c(blue_serves):
    kit = blue_serves
    watcher = subprocess.Popen([sys.executable, "-m", "bgctl", "watch"], cwd=REPO, env=kit.env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(watcher.stdout), daemon=True)
    reader.start()
    try:
        with Traffic(kit.url, 2):
            until(lambda: any("production blue" in text for text in lines), timeout=20)
            deployed = kit.bgctl("deploy", "green", "--bake-time", "0")
            assert deployed.returncode == 0, deployed.stderr
            until(lambda: any("green SUCCESSFUL" in text and "green 0 rps" not in text for text in lines), timeout=20)
    finally:
        watcher.send_signal(signal.SIGINT)
        code = watcher.wait(timeout=20)
        reader.join(10)
    stderr = watcher.stderr.read()
    assert code == 0 and "Traceback" not in stderr, stderr
    assert all("\x1b" not in text for text in lines)  # no colour in a pipe
    shown = [text.split(" | ", 1)[1] for text in lines]  # without the clock
    assert all(a != b for a, b in zip(shown, shown[1:])), lines  # a line per change, not per tick
    in_progress = [text for text in lines if "IN_PROGRESS" in text]
    assert in_progress, lines
    assert lines.index(in_progress[0]) < max(i for i, text in enumerate(lines) if "SUCCESSFUL" in text)
    assert "weights blue 0% green 100%" in lines[-1]


def test_when_the_stack_is_not_up_it_says_so_in_one_sentence(fresh_kit):
    result = fresh_kit.bgctl("watch", "--once", "--json")
    assert result.returncode == 1
    assert result.stderr == f"bgctl: The stack {fresh_kit.project} is not up; start it with bgctl up.\n"
    assert result.stdout == ""


def test_a_project_with_no_container_is_one_sentence(tmp_path):
    result = subprocess.run([sys.executable, "-m", "bgctl", "watch", "--once", "--project", "bgctl-no-such-stack"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr == "bgctl: No container of Compose project bgctl-no-such-stack exists; is its stack up?\n"
    assert result.stdout == ""
