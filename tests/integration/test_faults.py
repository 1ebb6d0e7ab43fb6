"""Faults, each with what the user sees: Envoy or the frontend restarted, a dead
Docker, an unwritable route directory, a route file Envoy rejects."""

import shutil
import subprocess
import sys
import time

import pytest

from bgctl.adapters.load_generator import Traffic

from tests.integration.conftest import BLUE, GREEN, REPO, SEED_HEADER, status_json, until


def restart(kit, service):
    # -t 1: the seed's nginx tasks run a shell as PID 1 that ignores the stop
    # signal, so a plain restart would wait out the 30 s grace period.
    subprocess.run(["docker", "restart", "-t", "1", f"{kit.project}-{service}-1"], check=True, capture_output=True)


def wait_for_answer(kit, body, headers=None, timeout=30):
    """When the ingress first answered 200 with `body`."""
    def answered():
        try:
            response = kit.get("/", headers)
        except Exception:
            return None
        return time.monotonic() if response.status_code == 200 and response.text == body else None

    return until(answered, timeout)


def test_envoy_restarted_while_paused_comes_back_on_the_recorded_routes(blue_serves):
    kit = blue_serves
    assert kit.bgctl("deploy", "green", "--pause-at", "POST_TEST_TRAFFIC_SHIFT", "--bake-time", "0").returncode == 0
    restart(kit, "service-connect")
    wait_for_answer(kit, BLUE)
    assert kit.get("/", SEED_HEADER).text == GREEN  # the test window's routes, from the route file
    report = status_json(kit)
    assert report["routes"]["live"] is True
    assert report["deployment"]["paused"] is True
    result = kit.bgctl("continue")
    assert result.returncode == 0, result.stdout + result.stderr
    assert kit.get("/").text == GREEN


def test_envoy_restarted_during_bake_the_deployment_completes(blue_serves):
    kit = blue_serves
    deploying = subprocess.Popen([sys.executable, "-m", "bgctl", "deploy", "green", "--bake-time", "8s"],
                                 cwd=REPO, env=kit.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        until(lambda: (status_json(kit)["deployment"] or {}).get("stage") == "BAKE_TIME", 60, interval=0.2)
        restart(kit, "service-connect")
        wait_for_answer(kit, GREEN)
        code = deploying.wait(60)
    finally:
        if deploying.poll() is None:
            deploying.kill()
    out = deploying.stdout.read()
    assert code == 0, out + deploying.stderr.read()
    assert "SUCCESSFUL" in out
    report = status_json(kit)
    assert report["production"] == "green" and report["routes"]["live"] is True
    assert report["containers"]["backend-blue"]["status"] == "exited"


def test_frontend_restarted_traffic_resumes_by_itself(kit):
    body = kit.get("/").text
    with Traffic(kit.url, 2, pause=0.01) as traffic:
        until(lambda: traffic.answers)  # traffic flows before the restart
        restarted = time.monotonic()
        restart(kit, "frontend")
        back = wait_for_answer(kit, body, timeout=15)
        # A client may still be waiting out a connect time-out (1 s) from the outage:
        # wait until both clients have answers to requests they started after `back`.
        until(lambda: len({a.client for a in list(traffic.answers) if a.started > back}) == 2, 15)
    ok_after = [a for a in traffic.answers if a.started > back]
    assert ok_after and all(a.ok for a in ok_after)
    print(f"frontend restart: answering again {back - restarted:.2f}s after `docker restart -t 1` began; "
          f"{len(traffic.failures())} of {len(traffic.answers)} requests failed meanwhile")


def test_docker_unreachable_during_deploy_changes_nothing(blue_serves):
    kit = blue_serves
    before = (kit.settings.state_dir / "state.json").read_bytes()
    result = kit.bgctl("deploy", "green", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert result.returncode == 1
    assert result.stderr == (
        "bgctl: Docker is not reachable: start the Docker Engine (or check DOCKER_HOST and your permissions).\n"
    )
    assert (kit.settings.state_dir / "state.json").read_bytes() == before
    assert kit.get("/").text == BLUE


def test_unwritable_route_directory_is_refused_before_anything_changes(blue_serves):
    kit = blue_serves
    routes = kit.settings.routes_dir
    if shutil.which("chattr") is None:
        pytest.fail("chattr (e2fsprogs) is needed to make a directory unwritable for root")
    before = (kit.settings.state_dir / "state.json").read_bytes()
    subprocess.run(["chattr", "+i", str(routes)], check=True)
    try:
        result = kit.bgctl("deploy", "green", "--bake-time", "0")
    finally:
        subprocess.run(["chattr", "-i", str(routes)], check=True)
    assert result.returncode == 1
    assert result.stderr.startswith(f"bgctl: {routes} is not writable (")
    assert result.stderr.count("\n") == 1
    assert (kit.settings.state_dir / "state.json").read_bytes() == before
    assert status_json(kit)["containers"].get("backend-green", {}).get("status") != "running"
    assert kit.get("/").text == BLUE


@pytest.mark.parametrize("stage", ["TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT"])
def test_a_route_file_envoy_rejects_rolls_the_deployment_back(blue_serves, stage):
    kit = blue_serves
    result = kit.bgctl("deploy", "green", "--bake-time", "0", env={"BGCTL_FAULT_REJECT_ROUTES_AT": stage})
    assert result.returncode == 1
    assert "Envoy rejected routes" in result.stdout and "no such field: 'domainz'" in result.stdout
    assert "ROLLBACK_SUCCESSFUL" in result.stdout
    report = status_json(kit)
    assert report["production"] == "blue" and report["routes"]["live"] is True
    assert report["deployment"]["stage"] == stage
    assert [kit.get("/", h).text for h in ({}, SEED_HEADER)] == [BLUE, BLUE]
