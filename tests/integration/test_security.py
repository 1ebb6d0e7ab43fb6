"""Security defaults: loopback-only ports, an admin interface the tasks cannot
reach, route files and state the tasks cannot write, and a secret test header."""

import json
import secrets
import subprocess

from tests.integration.conftest import BLUE, GREEN, status_json

TASKS = ("frontend", "backend-blue")


def exec_in(kit, service, *command):
    return subprocess.run(["docker", "exec", f"{kit.project}-{service}-1", *command], capture_output=True, text=True)


def test_envoy_admin_is_not_reachable_from_the_tasks(kit):
    for service in TASKS:
        # The read-only listener refuses what could stop or change the proxy...
        quit_ = exec_in(kit, service, "wget", "-O-", "--post-data=", "http://backend:9901/quitquitquit")
        assert quit_.returncode != 0, quit_.stdout
        assert "403" in quit_.stderr
        dump = exec_in(kit, service, "wget", "-O-", "http://backend:9901/config_dump")
        assert dump.returncode != 0 and "403" in dump.stderr
        # ...and the admin socket itself is not in the task's file system.
        assert exec_in(kit, service, "ls", "/var/run/envoy-admin").returncode != 0
    assert kit.get("/").text == BLUE  # Envoy still serving
    assert status_json(kit)["routes"]["live"] is True


def test_route_files_and_state_are_not_mounted_in_the_tasks(kit):
    state_dir = str(kit.settings.state_dir)
    for service in TASKS:
        mounts = json.loads(subprocess.run(
            ["docker", "inspect", "--format", "{{json .Mounts}}", f"{kit.project}-{service}-1"],
            capture_output=True, text=True, check=True).stdout)
        assert [m for m in mounts if m.get("Source", "").startswith(state_dir)] == []
        assert exec_in(kit, service, "ls", "/etc/envoy/routes").returncode != 0
    envoy_mounts = json.loads(subprocess.run(
        ["docker", "inspect", "--format", "{{json .Mounts}}", f"{kit.project}-service-connect-1"],
        capture_output=True, text=True, check=True).stdout)
    assert {m["Destination"] for m in envoy_mounts} == {"/etc/envoy/bootstrap", "/etc/envoy/routes",
                                                         "/var/run/envoy-admin"}
    assert [m["RW"] for m in envoy_mounts if m["Destination"] == "/etc/envoy/bootstrap"] == [False]


def test_a_secret_test_header_value_keeps_guessers_on_production(kit):
    secret = secrets.token_hex(16)
    result = kit.bgctl("deploy", "green", "--test-header", f"x-amzn-ecs-bluegreen-test={secret}",
                       "--pause-at", "POST_TEST_TRAFFIC_SHIFT")
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        assert kit.get("/", {"x-amzn-ecs-bluegreen-test": "test"}).text == BLUE  # the seed's value
        assert kit.get("/", {"x-amzn-ecs-bluegreen-test": secret[:-1]}).text == BLUE
        assert kit.get("/", {"x-amzn-ecs-blue-green-test": secret}).text == BLUE
        assert kit.get("/", {"x-amzn-ecs-bluegreen-test": secret}).text == GREEN
        # The published (read-only) admin port does not give the secret away.
        import requests

        dump = requests.get(f"http://127.0.0.1:{kit.admin_port}/config_dump", timeout=5)
        assert dump.status_code == 403 and secret not in dump.text
    finally:
        assert kit.bgctl("rollback").returncode == 0
