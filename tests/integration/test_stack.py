"""`bgctl up` and `status` against real Envoy and nginx containers."""

import json
import subprocess

from tests.integration.conftest import up_or_fail


def test_seed_first_curl(kit):
    response = kit.get("/")
    assert response.status_code == 200
    assert response.text == "Hello from BACKEND BLUE"
    assert response.headers["server"] == "envoy"
    assert response.headers["content-type"] == "application/octet-stream,text/plain"
    assert response.headers["x-envoy-upstream-service-time"].isdigit()
    assert response.raw.version == 11  # HTTP/1.1


def test_health_endpoint_of_the_frontend(kit):
    response = kit.get("/health")
    assert (response.status_code, response.text) == (200, "OK")


def test_up_again_is_idempotent_and_builds_nothing(kit):
    before = subprocess.run(["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={kit.project}"],
                            capture_output=True, text=True).stdout.split()
    result = up_or_fail(kit)
    assert "already running" in result.stdout
    assert "Building" not in result.stderr and "Pulling" not in result.stderr
    after = subprocess.run(["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={kit.project}"],
                           capture_output=True, text=True).stdout.split()
    assert sorted(before) == sorted(after)
    assert kit.get("/").text == "Hello from BACKEND BLUE"


def test_status_json_contract(kit):
    result = kit.bgctl("status", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["production"] == "blue"
    assert report["weights"] == {"blue": 100, "green": 0}
    assert report["deployment"] is None
    assert report["routes"]["live"] is True
    assert report["containers"]["backend-blue"]["health"] == "healthy"
    assert report["containers"]["frontend"]["status"] == "running"
    assert "backend-green" not in report["containers"]  # green starts only when a deployment asks


def test_status_human_form(kit):
    result = kit.bgctl("status")
    assert result.returncode == 0
    assert f"Project {kit.project}: blue serves production at {kit.url}/" in result.stdout
    assert "blue 100%, green 0%" in result.stdout


def test_published_ports_listen_on_loopback_only(kit):
    ids = subprocess.run(["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={kit.project}"],
                         capture_output=True, text=True).stdout.split()
    bindings = []
    for container in ids:
        ports = json.loads(subprocess.run(["docker", "inspect", "--format", "{{json .NetworkSettings.Ports}}",
                                           container], capture_output=True, text=True).stdout) or {}
        bindings += [b for value in ports.values() if value for b in value]
    assert {int(b["HostPort"]) for b in bindings} == {kit.http_port, kit.admin_port}
    assert {b["HostIp"] for b in bindings} == {"127.0.0.1"}
