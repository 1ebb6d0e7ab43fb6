"""ECS's desiredCount: a slot runs N tasks of its revision behind its one Envoy cluster, and a task
of the candidate killed during bake is replaced while its sibling serves -- only the requests it had
in flight fail; the others are retried onto the sibling."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import docker
import pytest
import requests

from tests.integration.conftest import BLUE, GREEN, REPO, Traffic, status_json, until

# Clients sending requests through the ingress while the task dies.
LOAD_CLIENTS = 4


@pytest.fixture(scope="module")
def engine():
    client = docker.from_env()
    yield client
    client.close()


def green_tasks(engine, kit) -> list:
    labels = [f"com.docker.compose.project={kit.project}", "com.docker.compose.service=backend-green"]
    return engine.containers.list(filters={"label": labels})


def healthy(containers) -> list:
    return [c for c in containers if c.status == "running" and c.attrs["State"].get("Health", {}).get("Status") == "healthy"]


def envoy_hosts(kit, cluster: str) -> dict[str, dict[str, str]]:
    """Envoy's /clusters (the read-only admin port): each endpoint of `cluster` with its stats."""
    text = requests.get(f"http://127.0.0.1:{kit.admin_port}/clusters", timeout=5).text
    hosts: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        parts = line.split("::")
        if len(parts) == 4 and parts[0] == cluster and parts[1][:1].isdigit():
            hosts.setdefault(parts[1], {})[parts[2]] = parts[3]
    return hosts


def test_an_invalid_desired_count_changes_nothing(kit):
    result = kit.bgctl("deploy", "green", "--desired-count", "11")
    assert result.returncode == 2
    assert result.stderr.strip() == "bgctl: --desired-count must be a whole number of tasks from 1 to 10, not '11'."
    assert status_json(kit)["deployment"] is None


def test_two_tasks_serve_behind_one_cluster(kit, engine):
    started = time.monotonic()
    result = kit.bgctl("deploy", "green", "--desired-count", "2", "--bake-time", "0")
    two = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    tasks = green_tasks(engine, kit)
    assert len(healthy(tasks)) == 2, [(c.name, c.status) for c in tasks]
    hosts = until(lambda: (h := envoy_hosts(kit, "backend-green")) and len(h) == 2 and h)
    addresses = {c.attrs["NetworkSettings"]["Networks"][n]["IPAddress"] for c in tasks
                 for n in c.attrs["NetworkSettings"]["Networks"]}
    assert {h.rsplit(":", 1)[0] for h in hosts} <= addresses
    before = {h: int(s.get("rq_success", 0)) for h, s in hosts.items()}
    assert {kit.get("/").text for _ in range(20)} == {GREEN}
    after = {h: int(s.get("rq_success", 0)) for h, s in envoy_hosts(kit, "backend-green").items()}
    assert all(after[h] > before[h] for h in hosts), (before, after)  # round robin: both answered

    shown = kit.bgctl("status")
    assert "Tasks:      green 2/2 healthy" in shown.stdout, shown.stdout
    assert status_json(kit)["tasks"] == {"green": {"desired": 2, "running": 2, "healthy": 2}}
    described = json.loads(kit.bgctl("describe", "--json").stdout)["serviceDeployments"][0]
    assert described["targetServiceRevision"]["requestedTaskCount"] == 2
    assert described["targetServiceRevision"]["runningTaskCount"] == 2

    # Back to one task of blue; both green tasks are stopped in CLEAN_UP.
    started = time.monotonic()
    result = kit.bgctl("deploy", "blue", "--desired-count", "1", "--bake-time", "0")
    one = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert green_tasks(engine, kit) == [] and kit.get("/").text == BLUE
    print(f"\ndeploy with desired count 2: {two:.1f}s; back with desired count 1: {one:.1f}s")


def test_a_task_killed_during_bake_is_replaced_and_only_its_requests_in_flight_fail(kit, engine):
    assert status_json(kit)["production"] == "blue"
    deploy = subprocess.Popen([sys.executable, "-m", "bgctl", "deploy", "green", "--desired-count", "2",
                               "--bake-time", "40s"], cwd=REPO, env=kit.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        until(lambda: (status_json(kit)["deployment"] or {}).get("stage") == "BAKE_TIME", timeout=120, interval=0.2)
        assert len(healthy(green_tasks(engine, kit))) == 2
        clients = [Traffic(kit) for _ in range(LOAD_CLIENTS)]
        for client in clients:
            client.__enter__()
        try:
            # The kill and its replacement must fall in the bake, which a loaded machine shortens from
            # this side: `bgctl status` above and the clients starting take seconds at load 15.
            until(lambda: sum(len(c.answers) for c in clients) > 100, timeout=30)
            victim = green_tasks(engine, kit)[-1]
            victim.kill()
            killed = time.monotonic()
            # A replacement: two healthy green tasks again, then a while more of load on both.
            until(lambda: len(healthy(green_tasks(engine, kit))) == 2 and time.monotonic() > killed + 2,
                  timeout=60, interval=0.1)
            replaced = time.monotonic() - killed
            settled = sum(len(c.answers) for c in clients)
            until(lambda: sum(len(c.answers) for c in clients) > settled + 200, timeout=30)
        finally:
            for client in clients:
                client.__exit__(None, None, None)
        stdout, stderr = deploy.communicate(timeout=120)
    finally:
        if deploy.poll() is None:
            deploy.kill()
    assert deploy.returncode == 0, stdout + stderr
    total = sum(len(c.answers) for c in clients)
    failures = [f for c in clients for f in c.failures()]
    print(f"\nkilled {victim.name}: {len(failures)} of {total} requests failed "
          f"({[f[2] for f in failures]}); replacement healthy after {replaced:.1f}s")
    assert "starting a replacement" in stdout, stdout
    assert len(failures) <= LOAD_CLIENTS, failures  # at most one request in flight per client
    report = status_json(kit)
    assert (report["deployment"]["status"], report["production"]) == ("SUCCESSFUL", "green")
    assert len(healthy(green_tasks(engine, kit))) == 2
    assert report["tasks"] == {"green": {"desired": 2, "running": 2, "healthy": 2}}
    assert {kit.get("/").text for _ in range(10)} == {GREEN}
