"""The Engine API adapters against real Docker: slot tasks, their watch, the Envoy container."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from dataclasses import replace

import pytest
import requests
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from bgctl.adapters.docker_engine import DockerEngine, EnvoyContainer
from bgctl.adapters.envoy_admin import EnvoyAdmin
from bgctl.adapters.images import standin_images
from bgctl.adapters.project_files import load_task_definition
from bgctl.adapters.route_delivery import CONTAINER_ROUTES_DIR, ROUTE_FILE, RoutePublisher
from bgctl.adapters.slot_tasks import DockerSlotTasks
from bgctl.core.errors import BgctlError
from bgctl.core.taskdef import HealthCheck
from bgctl.core.traffic import TrafficState
from tests.integration.conftest import BLUE, REPO

GREEN_TASKDEF = load_task_definition(REPO / "examples" / "task-definitions" / "backend-green.json")
SLOW_GREEN = "Slow Hello from BACKEND GREEN (v2.0)"


@pytest.fixture(scope="module")
def engine():
    engine = DockerEngine.connect()
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def tasks(kit, engine):
    return DockerSlotTasks(kit.settings, standin_images(REPO), engine=engine)


@pytest.fixture
def green(tasks):
    """Green running its shipped revision; stopped again afterwards."""
    addresses = tasks.start("green", None, timeout=120)
    yield addresses
    tasks.stop("green", timeout=5)


def inspect(container: str) -> dict:
    return json.loads(subprocess.run(["docker", "inspect", container], capture_output=True, text=True,
                                     check=True).stdout)[0]


def eventually(predicate, seconds: float):
    """`predicate()` once it is truthy; fails the test after `seconds`."""
    retrying = Retrying(stop=stop_after_delay(seconds), wait=wait_fixed(0.01),
                        retry=retry_if_result(lambda value: not value), reraise=True)
    try:
        return retrying(predicate)
    except Exception:
        pytest.fail(f"not within {seconds}s")


def test_state_of_the_production_slot_and_of_a_slot_never_started(kit, tasks):
    blue = tasks.state("blue")
    assert (blue.status, blue.health) == ("running", "healthy")
    assert blue.container == f"{kit.project}-backend-blue-1"
    assert blue.image == inspect(blue.container)["Config"]["Image"]
    assert tasks.state("green") is None


def test_start_returns_once_healthy_with_the_address_on_the_project_network(kit, tasks, green):
    state = tasks.state("green")
    assert (state.status, state.health) == ("running", "healthy")
    networks = inspect(state.container)["NetworkSettings"]["Networks"]
    assert green == (networks[f"{kit.project}_default"]["IPAddress"],)
    answer = requests.get(f"http://{green[0]}:3000/", timeout=5)
    assert answer.text == "Hello from BACKEND GREEN (v2.0)"


def test_the_watch_notices_a_kill_at_once(kit, tasks, green):
    watch = tasks.watch("green")
    try:
        assert watch.problem() is None
        subprocess.run(["docker", "kill", f"{kit.project}-backend-green-1"], check=True, capture_output=True)
        killed = time.monotonic()
        problem = eventually(watch.problem, 5)
        # The die event arrives within milliseconds of `docker kill` returning; a
        # health check would take an interval and a poll another.
        assert time.monotonic() - killed < 0.5
        assert "stopped" in problem and "137" in problem
    finally:
        watch.close()
        watch.close()  # the engine closes every watch it opens, sometimes twice


def test_stop_lets_an_in_flight_request_finish(kit, tasks, green):
    # /slow sends its headers at once and its body at 64 bytes a second (~3 s):
    # once the headers are here, the request is in flight.
    slow = requests.get(f"http://{green[0]}:3000/slow", stream=True, timeout=30)
    assert slow.status_code == 200
    done = threading.Thread(target=lambda: tasks.stop("green", timeout=30))
    done.start()
    assert slow.text == SLOW_GREEN
    done.join(30)
    container = f"{kit.project}-backend-green-1"
    assert tasks.state("green").status == "exited"
    assert inspect(container)["State"]["ExitCode"] == 0  # nginx quit on its own, not killed


def test_start_fails_fast_when_the_task_exits(tasks):
    broken = replace(GREEN_TASKDEF, entry_point=("/bin/sh", "-c"), command=("echo no; exit 3",))
    started = time.monotonic()
    try:
        with pytest.raises(BgctlError, match=r"backend-green's container exited \(exit code 3\)"):
            tasks.start("green", broken, timeout=120)
        assert time.monotonic() - started < 30
    finally:
        tasks.stack.set_slot_override("green", None)


def test_start_fails_fast_when_the_task_turns_unhealthy(tasks):
    sick = replace(GREEN_TASKDEF, health_check=HealthCheck(("CMD-SHELL", "exit 1"), interval=1, timeout=2,
                                                           retries=1, start_period=0))
    started = time.monotonic()
    try:
        with pytest.raises(BgctlError, match="backend-green's health check failed"):
            tasks.start("green", sick, timeout=120)
        assert time.monotonic() - started < 30
    finally:
        tasks.stop("green", timeout=5)
        tasks.stack.set_slot_override("green", None)


def test_in_container_write_is_what_envoy_serves(kit, engine):
    """The Docker Desktop path of route delivery: write and rename inside the Envoy container."""
    settings = kit.settings
    envoy = EnvoyAdmin(settings.admin_url, socket_path=settings.admin_socket)
    publisher = RoutePublisher(settings.routes_dir, envoy, EnvoyContainer(engine, settings), delivery="container")
    publication = publisher.publish(TrafficState("blue"))
    assert publication.delivery == "container"
    assert envoy.rds_status().version == publication.version
    # The routes directory is bind-mounted: the host sees exactly what was written inside.
    on_host = json.loads((settings.routes_dir / ROUTE_FILE).read_text())
    assert on_host["version_info"] == publication.version
    assert not list(settings.routes_dir.glob(".*.tmp"))
    assert kit.get("/").text == BLUE


def test_in_container_write_keeps_every_character(kit, engine):
    container = EnvoyContainer(engine, kit.settings)
    text = "quotes \" ' $HOME `x` \\ 日本語\n" * 3
    container.write_file(CONTAINER_ROUTES_DIR, "bgctl-test.txt", text)
    try:
        assert (kit.settings.routes_dir / "bgctl-test.txt").read_text() == text
    finally:
        (kit.settings.routes_dir / "bgctl-test.txt").unlink()


def test_remove_project_leaves_nothing_of_the_project(engine):
    """The pytest plugin's last resort when `bgctl down` cannot run: a running container on the
    project's network with a volume, all gone, and another project's things untouched."""
    project, other = f"bgremove-{time.monotonic_ns()}", f"bgkeep-{time.monotonic_ns()}"
    client = engine.client
    image = standin_images(REPO).nginx
    try:
        for name in (project, other):
            label = {"com.docker.compose.project": name}
            network = client.networks.create(f"{name}_default", labels=label)
            volume = client.volumes.create(f"{name}_data", labels=label)
            client.containers.run(image, ["sleep", "300"], detach=True, labels=label,
                                  network=network.name, volumes={volume.name: {"bind": "/data"}})
        assert len(engine.leftovers(project)) == 3

        engine.remove_project(project)

        assert engine.leftovers(project) == []
        assert sorted(thing.split()[0] for thing in engine.leftovers(other)) == ["container", "network", "volume"]
    finally:
        engine.remove_project(project)
        engine.remove_project(other)
