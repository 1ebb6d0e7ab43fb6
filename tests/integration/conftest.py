"""Real containers: each test module gets its own Compose project and free ports.

There is no skip for a missing Docker: in CI (and anywhere) a missing engine
fails these tests loudly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from bgctl.adapters.project_files import load_settings
from bgctl.core.settings import Settings
from tests.envoy_host import free_port

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


# A module's tests that take `blue_serves` start from a known state whatever ran
# before, so they may run on several workers, each with its own stack; at most
# this many stacks per module.
MOST_STACKS_PER_MODULE = 4
TESTS_PER_STACK = 4
# Started first under -n (a worker takes groups in collection order; tests/conftest.py
# keeps xdist from reordering them), longest first: the modules' time in a CI run at
# -n 4 (strategies ~550 s, Lambda hooks ~360, PAUSE hooks ~265, records ~245, ...).
# A stale list costs minutes, never correctness.
LONGEST_FIRST = ("test_strategies.py", "test_lambda_hooks.py", "test_pause_hooks.py", "test_records.py",
                 "test_api_deployments.py", "test_desired_count.py", "test_deploy.py", "test_zero_downtime.py",
                 "test_faults.py", "test_action.py", "test_watch.py", "test_api_pipeline.py",
                 "test_api_own_services.py", "test_lifecycle.py", "test_demo.py")


def pytest_configure(config):
    """bgctl's bytecode, written once: with PYTHONDONTWRITEBYTECODE set (as in CI) each of the
    hundreds of `bgctl` processes these tests start would compile its ~100 modules from source
    again (~0.2 s of CPU each). Python reads .pyc files whatever that variable says."""
    if sys.dont_write_bytecode:
        import compileall

        compileall.compile_dir(REPO / "bgctl", quiet=2)


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups into the test ids
def pytest_collection_modifyitems(config, items):
    """Every test in this folder needs Docker: `-m "not integration"` runs the unit tests alone.

    Also the groups for `pytest -n N --dist loadgroup` (.ci/run): a group runs on
    one worker, in order. A module is one group — its tests share a stack and may
    rely on the ones before — except for its `blue_serves` tests, which are dealt
    round-robin into a few groups so that a long module does not bound the run.
    """
    def rank(item) -> int:
        path = Path(str(item.fspath)).resolve()
        if path.parent == HERE and path.name in LONGEST_FIRST:  # not the unit tests of the same name
            return LONGEST_FIRST.index(path.name)
        return len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: each module keeps its own order
    by_module: dict[str, list] = {}
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.integration)
        by_module.setdefault(item.nodeid.split("::")[0], []).append(item)
    for module, module_items in by_module.items():
        independent = [i for i in module_items if "blue_serves" in getattr(i, "fixturenames", ())]
        groups = max(1, min(MOST_STACKS_PER_MODULE, -(-len(independent) // TESTS_PER_STACK)))
        for item in module_items:
            n = independent.index(item) % groups if item in independent else 0
            item.add_marker(pytest.mark.xdist_group(f"{module}#{n}"))


def pytest_collection_finish(session):
    """Refuse, rather than run order-dependent modules split over workers.

    pytest-xdist marks a grouped test by rewriting its id; pytest 9.2 ignores
    that rewrite (pytest-xdist issue #1386), so every test would be its own group.
    """
    if getattr(session.config.option, "loadgroup", False) and any("@" not in i.nodeid for i in session.items):
        message = ("pytest-xdist cannot group tests with this pytest (pytest-xdist#1386); "
                   "install pytest<9.2 (the test extra pins it) or run without -n.")
        print(f"\n{message}", file=sys.__stderr__, flush=True)  # xdist shows a worker's error as an INTERNALERROR
        raise pytest.UsageError(message)


@dataclass
class Kit:
    """One Compose project of the kit, driven through the real `bgctl` entry point."""

    project: str
    http_port: int
    admin_port: int
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def new(cls, prefix: str = "bgtest") -> "Kit":
        return cls(f"{prefix}-{uuid.uuid4().hex[:8]}", free_port(), free_port())

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "COMPOSE_PROJECT_NAME": self.project,
            "BGCTL_HTTP_PORT": str(self.http_port),
            "BGCTL_ADMIN_PORT": str(self.admin_port),
            **self.extra_env,
        }

    @property
    def settings(self) -> Settings:
        return load_settings(self.env, REPO)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def bgctl(self, *args: str, timeout: float = 600, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "bgctl", *args],
            cwd=REPO, env={**self.env, **(env or {})}, capture_output=True, text=True, timeout=timeout,
        )

    def get(self, path: str = "/", headers: dict[str, str] | None = None) -> requests.Response:
        return requests.get(self.url + path, headers=headers or {}, timeout=10)

    def leftovers(self) -> list[str]:
        label = f"label=com.docker.compose.project={self.project}"
        found = []
        for kind in ("container", "network", "volume"):
            extra = ["-a"] if kind == "container" else []
            out = subprocess.run(["docker", kind, "ls", *extra, "-q", "--filter", label],
                                 capture_output=True, text=True, check=True).stdout.split()
            found += [f"{kind} {name}" for name in out]
        return found

    def teardown(self) -> None:
        self.bgctl("down", timeout=120)
        if self.leftovers():  # last resort, so that a failed test leaves nothing running
            subprocess.run(["docker", "compose", "-p", self.project, "down", "-v", "--remove-orphans"],
                           cwd=REPO, capture_output=True)


def up_or_fail(kit: Kit) -> subprocess.CompletedProcess:
    result = kit.bgctl("up")
    assert result.returncode == 0, f"bgctl up failed: {result.stderr}"
    return result


@pytest.fixture(scope="module")
def kit():
    """A running stack shared by the tests of one module."""
    k = Kit.new()
    try:
        up_or_fail(k)
        yield k
    finally:
        k.teardown()


@pytest.fixture
def fresh_kit():
    """A project of its own, not started; removed afterwards whatever happened."""
    k = Kit.new()
    try:
        yield k
    finally:
        k.teardown()


BLUE = "Hello from BACKEND BLUE"
GREEN = "Hello from BACKEND GREEN (v2.0)"
SEED_HEADER = {"x-amzn-ecs-bluegreen-test": "test"}


class Traffic:
    """Requests through the ingress from a background thread, every answer kept.

    Each request is (monotonic start, monotonic end, status or error, body).
    """

    def __init__(self, kit: Kit, headers: dict[str, str] | None = None, pause: float = 0.005) -> None:
        import threading

        self.kit = kit
        self.headers = headers or {}
        self.pause = pause
        self.answers: list[tuple[float, float, int | str, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Traffic":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        import time

        session = requests.Session()
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                response = session.get(self.kit.url + "/", headers=self.headers, timeout=10)
                self.answers.append((started, time.monotonic(), response.status_code, response.text))
            except requests.RequestException as exc:
                self.answers.append((started, time.monotonic(), type(exc).__name__, ""))
            time.sleep(self.pause)

    def bodies(self) -> set[str]:
        return {body for *_, body in self.answers}

    def failures(self) -> list[tuple]:
        return [a for a in self.answers if a[2] != 200]


def until(condition, timeout: float = 60.0, interval: float = 0.05):
    """`condition()`'s first truthy value, polled every `interval` s; fails the test after `timeout` s."""
    return Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(interval), retry=retry_if_result(lambda v: not v),
                    retry_error_callback=lambda state: pytest.fail(f"not within {timeout}s"))(condition)


def status_json(kit: Kit) -> dict:

    result = kit.bgctl("status", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def blue_serves(kit):
    """Each test starts with blue in production and no deployment in progress."""
    report = status_json(kit)
    d = report["deployment"]
    if d and d["status"] in ("IN_PROGRESS", "ROLLBACK_IN_PROGRESS"):
        kit.bgctl("rollback")
        report = status_json(kit)  # asked again only when something changed
    if report["production"] != "blue":
        result = kit.bgctl("deploy", "blue", "--bake-time", "0")
        assert result.returncode == 0, result.stdout + result.stderr
    assert kit.get("/").text == BLUE
    return kit


def definition(tmp_path, hooks: list[dict]) -> str:
    """update-service's input: green's task definition, BLUE_GREEN without bake, the seed's test rule."""
    data = {
        "service": "backend", "taskDefinition": str(REPO / "examples" / "task-definitions" / "backend-green.json"),
        "deploymentConfiguration": {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 0, "lifecycleHooks": hooks},
        "serviceConnectConfiguration": {"enabled": True, "services": [{"portName": "p", "clientAliases": [
            {"port": 3000, "testTrafficRules": {"header": {"name": "x-amzn-ecs-bluegreen-test",
                                                           "value": {"exact": "test"}}}}]}]},
    }
    path = tmp_path / "service.json"
    path.write_text(json.dumps(data))
    return str(path)


class Serve:
    """`bgctl serve` for a Kit project, started as a user starts it (its own process), and a boto3
    ECS client pointed at it. The kit's extra_env must hold a free BGCTL_API_PORT."""

    def __init__(self, kit: Kit, log: Path | None = None) -> None:
        import tempfile
        self.kit = kit
        self.url = kit.settings.api_url
        self.log_path = log or Path(tempfile.mkstemp(prefix=f"{kit.project}-serve-", suffix=".log")[1])
        self.start()

    def start(self) -> None:
        import boto3
        from botocore.config import Config

        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "bgctl", "serve"], cwd=REPO, env=self.kit.env,
                                            stdout=log, stderr=subprocess.STDOUT)
        # No retries: a test sees each answer as a script's first call would.
        self.ecs = boto3.client("ecs", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id="any",
                                aws_secret_access_key="any", config=Config(retries={"max_attempts": 1}))

        def answers() -> bool:
            assert self.process.poll() is None, f"bgctl serve exited: {self.output()}"
            try:
                return requests.post(self.url, timeout=2).status_code > 0
            except requests.RequestException:
                return False

        until(answers, timeout=30)

    def output(self) -> str:
        return self.log_path.read_text()

    def kill_and_start_again(self) -> None:
        self.process.kill()
        self.process.wait(15)
        self.start()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(15)

    def __enter__(self) -> "Serve":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@contextmanager
def kit_serving(kit: Kit, log: Path, note: Callable[[], str] = lambda: "") -> Iterator[Serve]:
    """`bgctl serve` on a module's own kit; afterwards serve stopped, the kit removed, and `note()`
    and serve's output printed (pytest -s shows them)."""
    try:
        with Serve(kit, log=log) as server:
            yield server
    finally:
        kit.teardown()
        print(f"\n{note()}serve's output:\n{log.read_text() if log.exists() else ''}")
