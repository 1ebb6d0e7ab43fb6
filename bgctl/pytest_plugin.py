"""bgctl's pytest plugin: test your service's ECS blue/green deployment against a real local stack.

`pip install bgctl` registers it (a `pytest11` entry point): a repository with
its own task definitions, service definition and bgctl.toml needs no clone of
bgctl, only Docker Engine with Compose v2, as `bgctl up` does. The stack runs
from a folder of its own, a copy of the kit's files that bgctl carries, and
your files are given to bgctl by absolute path.

Fixtures
--------
``bgctl_stack`` (session)
    The kit, running for this test session: its own Compose project
    (``bgctl-pytest-<random>``) and free 127.0.0.1 ports for the ingress and
    Envoy's read-only admin. ``bgctl down`` runs at the end of the session
    whether the tests passed, failed or were interrupted.

    - ``.url``: the ingress ("the ALB"), ``http://127.0.0.1:PORT``
    - ``.project``: the Compose project name
    - ``.bgctl(*args)``: run a bgctl command against this stack (a CompletedProcess);
      ``.checked(*args)`` raises ``CommandFailed`` when it exits non-zero
    - ``.status()``, ``.describe(ID)``: what ``bgctl status --json`` and
      ``bgctl describe ID --json`` print, parsed
    - ``.get(path, headers=None)``: a GET through the ingress, as an ``Answer``

    Under pytest-xdist each worker has a stack of its own.

    When it is up the session prints where it answers and how to watch it live
    from another terminal: ``bgctl watch --project bgctl-pytest-<random>``.

``bgctl_deployment`` (function)
    A deployment, driven from the test. Before the test no deployment is in
    progress (one left paused is rolled back) and production runs
    ``bgctl_production_task_definition`` (deployed first when it does not).

    - ``.start(task_definition=None, *, service_definition=None, hooks=(), bake_time=None,
      test_header=None)``: ``bgctl deploy ... --pause-at POST_TEST_TRAFFIC_SHIFT``, so it
      returns in the test window: requests with the test header reach the candidate, all
      others production. With neither file, bgctl.toml's ``service_definition`` is deployed.
      Returns the record; raises ``DeploymentFailed`` when the deployment did not get there
      (a hook failed, the candidate never became healthy, ...).
    - ``.get(path="/", *, test=False, headers=None)``: a GET through the ingress, with the
      test traffic rule's header when ``test`` is true; ``Answer(status, text, headers, slot)``.
    - ``.source``, ``.target``: production's slot and the candidate's (``"blue"``/``"green"``)
    - ``.test_header``: the test traffic rule as ``(name, value)`` (value None: any value)
    - ``.continue_()``: ``bgctl continue``: production to the candidate, bake, clean up
    - ``.rollback()``: ``bgctl rollback``: all traffic back to the source, candidate stopped
    - ``.record``: the deployment as ``bgctl describe ID --json`` describes it (ECS's
      DescribeServiceDeployments' ``serviceDeployments[0]``)

    When a test that used it fails, the deployment record and the bgctl
    commands the test ran are attached to its report (sections "bgctl
    deployment record" and "bgctl commands").

Which slot answered is read from Envoy's per-cluster counters
(``cluster.backend-<slot>.upstream_rq_total``) just before and after the
request, so the responses are the application's own, byte for byte. Send
requests one at a time while you read ``.slot``; with other traffic to the
stack in flight it may say None.

Settings (ini options, e.g. in pytest.ini; relative paths from the ini file's folder)
---------------------------------------------------------------------------------------
- ``bgctl_config``: your bgctl.toml (default: bgctl.toml beside the ini file, if there is one)
- ``bgctl_production_task_definition``: the task definition production runs before each
  deployment (default: the kit's shipped blue revision)
- ``bgctl_minute``: BGCTL_MINUTE for the stack, e.g. ``1s``: a 5-minute bake lasts 5 s
- ``bgctl_hooks``: lifecycle hooks for every ``start()``, one ``STAGE=COMMAND`` a line

Hook commands given here or to ``start(hooks=...)`` run in the ini file's
folder; ``[[hooks]]`` in bgctl.toml run in the stack's folder (give them
absolute paths) and in every deployment, the one that restores
``bgctl_production_task_definition`` too. Lambda functions mapped in
bgctl.toml run from its folder, as always. To compute the settings instead,
override the session fixture ``bgctl_options`` in a conftest.py and return a
``BgctlOptions``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PAUSE_STAGE = "POST_TEST_TRAFFIC_SHIFT"
PROJECT_PREFIX = "bgctl-pytest"
# bgctl deploy, continue and rollback return when the deployment is done; a
# stack's first `up` may build the offline images (minutes).
COMMAND_TIMEOUT = 900.0
_HOOK = re.compile(r"^\s*(?P<stage>[A-Za-z_]+)\s*=(?P<command>.+)$", re.DOTALL)


class CommandFailed(Exception):
    """A bgctl command exited with an error: its arguments, exit code and output."""

    def __init__(self, args: Iterable[str], returncode: int, stdout: str, stderr: str) -> None:
        self.command = tuple(args)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        said = stderr.strip() or stdout.strip()[-2000:]
        super().__init__(f"bgctl {' '.join(self.command)} exited {returncode}: {said}")


class DeploymentFailed(CommandFailed):
    """The deployment did not reach where it was asked to go (the test window, SUCCESSFUL, ROLLBACK_SUCCESSFUL)."""


@dataclass(frozen=True)
class Answer:
    """One response through the ingress, and the backend slot that answered it (None: not known).
    `headers` are the response's, looked up without regard to case."""

    status: int
    text: str
    headers: Mapping[str, str]
    slot: str | None


@dataclass(frozen=True)
class BgctlOptions:
    """What the stack runs with. `folder`: where relative paths and hook commands start from."""

    folder: Path
    config: Path | None = None
    production_task_definition: Path | None = None
    minute: str | None = None
    hooks: tuple[str, ...] = ()

    @classmethod
    def from_ini(cls, config: pytest.Config) -> "BgctlOptions":
        folder = Path(config.inipath).parent if config.inipath else Path(config.rootpath)
        configured = resolve_path(config.getini("bgctl_config"), folder)
        default = folder / "bgctl.toml"
        return cls(
            folder=folder,
            config=configured or (default if default.is_file() else None),
            production_task_definition=resolve_path(config.getini("bgctl_production_task_definition"), folder),
            minute=config.getini("bgctl_minute").strip() or None,
            hooks=tuple(line for line in config.getini("bgctl_hooks") if line.strip()),
        )


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("bgctl_config", "bgctl: your bgctl.toml (default: bgctl.toml beside the ini file)", default="")
    parser.addini("bgctl_production_task_definition",
                  "bgctl: the task definition production runs before each deployment", default="")
    parser.addini("bgctl_minute", "bgctl: how long one ECS minute lasts in the stack (BGCTL_MINUTE), e.g. 1s",
                  default="")
    parser.addini("bgctl_hooks", "bgctl: lifecycle hooks for every deployment, STAGE=COMMAND, one a line",
                  type="linelist", default=[])


# -- pure helpers ------------------------------------------------------------------------------


def resolve_path(value: str | os.PathLike | None, folder: Path) -> Path | None:
    """`value` as an absolute path, relative ones from `folder`; None for an empty value."""
    if value is None or str(value).strip() == "":
        return None
    path = Path(str(value).strip()).expanduser()
    return path if path.is_absolute() else folder / path


def hook_in(folder: Path, text: str) -> str:
    """A `STAGE=COMMAND` hook option whose command runs in `folder` (bgctl runs shell hooks in the
    stack's folder, which is not the user's repository)."""
    match = _HOOK.match(text)
    if match is None:
        raise ValueError(f"A hook is STAGE=COMMAND, e.g. POST_TEST_TRAFFIC_SHIFT=./smoke-test.sh, not {text!r}.")
    return f"{match['stage']}=cd {shlex.quote(str(folder))} && {match['command'].strip()}"


def stack_env(base: Mapping[str, str], *, project: str, http_port: int, admin_port: int,
              config: Path | None, minute: str | None) -> dict[str, str]:
    """The environment every bgctl command of the stack runs with."""
    env = {k: v for k, v in base.items() if k != "BGCTL_CONFIG"}
    env.update({"COMPOSE_PROJECT_NAME": project, "BGCTL_HTTP_PORT": str(http_port),
                "BGCTL_ADMIN_PORT": str(admin_port)})
    if config is not None:
        env["BGCTL_CONFIG"] = str(config)
    if minute is not None:
        env["BGCTL_MINUTE"] = minute
    return env


def answering_slot(before: Mapping[str, int], after: Mapping[str, int]) -> str | None:
    """The one slot whose request counter moved between two readings; None if none or several did."""
    moved = [slot for slot in after if after[slot] > before.get(slot, 0)]
    return moved[0] if len(moved) == 1 else None


def transcript(runs: Iterable[tuple[tuple[str, ...], int, str, str]]) -> str:
    """bgctl commands and what they printed, for a test report."""
    parts = []
    for args, code, out, err in runs:
        parts.append(f"$ bgctl {shlex.join(args)}   # exit {code}\n{out}{err}".rstrip())
    return "\n\n".join(parts) or "(no bgctl command ran)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the stack ---------------------------------------------------------------------------------


@dataclass
class BgctlStack:
    """One Compose project of the kit, run from its own folder with the real `bgctl` commands."""

    directory: Path
    project: str
    http_port: int
    admin_port: int
    env: dict[str, str]
    runs: list[tuple[tuple[str, ...], int, str, str]] = field(default_factory=list)
    _admin: object = field(default=None, repr=False)

    @classmethod
    def create(cls, options: BgctlOptions, base_env: Mapping[str, str] = os.environ) -> "BgctlStack":
        from bgctl.adapters.kit_files import copy_kit

        # Short: Envoy's admin socket lives in .bgctl/<project>/admin/ below it (108 bytes at most).
        directory = copy_kit(Path(tempfile.mkdtemp(prefix="bgctl-")) / "kit")
        project = f"{PROJECT_PREFIX}-{uuid.uuid4().hex[:8]}"
        http_port = free_port()
        admin_port = free_port()
        while admin_port == http_port:
            admin_port = free_port()
        env = stack_env(base_env, project=project, http_port=http_port, admin_port=admin_port,
                        config=options.config, minute=options.minute)
        return cls(directory, project, http_port, admin_port, env)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def bgctl(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess:
        """Run `bgctl ARGS` against this stack; the exit code is the caller's to read."""
        result = subprocess.run([sys.executable, "-m", "bgctl", *args], cwd=self.directory, env=self.env,
                                capture_output=True, encoding="utf-8", errors="replace", timeout=timeout)
        self.runs.append((tuple(args), result.returncode, result.stdout, result.stderr))
        return result

    def checked(self, *args: str, failure: type[CommandFailed] = CommandFailed) -> subprocess.CompletedProcess:
        result = self.bgctl(*args)
        if result.returncode != 0:
            raise failure(args, result.returncode, result.stdout, result.stderr)
        return result

    def status(self) -> dict:
        """What `bgctl status --json` prints (the same code, in this process)."""
        from bgctl.cli.status import run_status

        return run_status(self._settings()).to_dict()

    def describe(self, deployment_id: str) -> dict:
        """What `bgctl describe ID --json` prints (the same code, in this process)."""
        from bgctl.cli.describe import run_describe
        from bgctl.core.ecs_records import describe_service_deployments

        return describe_service_deployments(*run_describe(self._settings(), deployment_id))

    def state(self):
        """The stack's record, bgctl's State (None before `up`): read, not a command, so it costs no bgctl start."""
        from bgctl.adapters.state_file import StateFile

        return StateFile(self._settings().state_file).load()

    def get(self, path: str = "/", headers: Mapping[str, str] | None = None, *, timeout: float = 10.0) -> Answer:
        """A GET through the ingress, and which backend slot answered it (Envoy's counters)."""
        import requests

        before = self._counters()
        response = requests.get(self.url + path, headers=dict(headers or {}), timeout=timeout, allow_redirects=False)
        after = self._counters()
        return Answer(response.status_code, response.text, response.headers, answering_slot(before, after))

    def up(self) -> None:
        self.checked("up")

    def down(self) -> None:
        """Remove everything the stack created; then its folder."""
        try:
            try:
                removed = self.bgctl("down", timeout=300).returncode == 0
            except subprocess.TimeoutExpired:
                removed = False
            if not removed:  # last resort: nothing of the project may outlive the session
                from bgctl.adapters.docker_engine import DockerEngine

                engine = DockerEngine.connect()
                try:
                    engine.remove_project(self.project)
                finally:
                    engine.close()
        finally:
            shutil.rmtree(self.directory.parent, ignore_errors=True)

    def _settings(self):
        from bgctl.adapters.project_files import load_settings

        return load_settings(self.env, self.directory)

    def _counters(self) -> dict[str, int]:
        from bgctl.adapters.envoy_admin import EnvoyAdmin
        from bgctl.core.topology import SLOTS, cluster_for

        if self._admin is None:
            settings = self._settings()
            self._admin = EnvoyAdmin(settings.admin_url, socket_path=settings.admin_socket)
        names = {f"cluster.{cluster_for(slot)}.upstream_rq_total": slot for slot in SLOTS}
        stats = self._admin.stats("^(" + "|".join(re.escape(n) for n in names) + ")$")  # type: ignore[attr-defined]
        return {slot: int(stats.get(name, 0)) for name, slot in names.items()}


# -- the deployment helper ---------------------------------------------------------------------


class BgctlDeployment:
    """One deployment of the test, driven to the test window and on from there."""

    def __init__(self, stack: BgctlStack, options: BgctlOptions) -> None:
        self.stack = stack
        self.options = options
        self.id: str | None = None
        self._first_run = len(stack.runs)

    def start(self, task_definition: str | os.PathLike | None = None, *,
              service_definition: str | os.PathLike | None = None, hooks: Iterable[str] = (),
              bake_time: str | None = None, test_header: str | None = None) -> dict:
        """Deploy and stop in the test window (paused after POST_TEST_TRAFFIC_SHIFT); the record.

        Paths are relative to the ini file's folder. A task definition alone goes to the slot
        that does not serve production, as ECS would start it.
        """
        if self.id is not None:
            raise RuntimeError("This test has started its deployment already; bgctl_deployment runs one.")
        state = self.stack.state()
        args = ["deploy"]
        task_file = resolve_path(task_definition, self.options.folder)
        service_file = resolve_path(service_definition, self.options.folder)
        if service_file is not None:
            args += ["--service-definition", str(service_file)]
            if task_file is not None:
                args += ["--task-definition", str(task_file)]
        elif task_file is not None:
            args += [_other(state.traffic.production if state else None), "--task-definition", str(task_file)]
        args += ["--pause-at", PAUSE_STAGE]
        for hook in (*self.options.hooks, *hooks):
            args += ["--hook", hook_in(self.options.folder, hook)]
        if bake_time is not None:
            args += ["--bake-time", bake_time]
        if test_header is not None:
            args += ["--test-header", test_header]
        before = state.deployment.id if state is not None and state.deployment is not None else None
        result = self.stack.bgctl(*args)
        deployment = self._deployment()
        if deployment is not None and deployment.id != before:
            self.id = deployment.id
        if result.returncode != 0 or self.id is None or not deployment.paused:
            raise DeploymentFailed(args, result.returncode, result.stdout, result.stderr)
        return self.record

    def get(self, path: str = "/", *, test: bool = False, headers: Mapping[str, str] | None = None,
            timeout: float = 10.0) -> Answer:
        """A GET through the ingress; `test`: with the test traffic rule's header."""
        sent = dict(headers or {})
        if test:
            name, value = self.test_header
            sent[name] = value if value is not None else "1"  # the rule asks only for the header
        return self.stack.get(path, sent, timeout=timeout)

    def continue_(self) -> dict:
        """Production traffic to the candidate, bake, clean up; the record. DeploymentFailed
        unless the deployment succeeded."""
        return self._finish("continue", "SUCCESSFUL")

    def rollback(self) -> dict:
        """All traffic back to the source, the candidate stopped; the record."""
        return self._finish("rollback", "ROLLBACK_SUCCESSFUL")

    @property
    def source(self) -> str:
        return self._started().source

    @property
    def target(self) -> str:
        return self._started().target

    @property
    def test_header(self) -> tuple[str, str | None]:
        rule = self._started().test_rule
        return rule.header, rule.value

    @property
    def record(self) -> dict:
        """The deployment as `bgctl describe ID --json` (DescribeServiceDeployments) describes it."""
        return self.stack.describe(self._started().id)["serviceDeployments"][0]

    def report_sections(self) -> list[tuple[str, str]]:
        """What a failed test's report shows: the record, and the bgctl commands the test ran."""
        record = json.dumps(self.stack.describe(self.id), indent=2) if self.id is not None \
            else "No deployment was started by this test."
        return [("bgctl deployment record", record),
                ("bgctl commands", transcript(self.stack.runs[self._first_run:]))]

    def settle(self) -> None:
        """No deployment in progress, production on the configured revision: where each test starts."""
        state = self.stack.state()
        if state is not None and state.deployment is not None and not state.deployment.finished_:
            self.stack.checked("rollback")
            state = self.stack.state()
        wanted = self.options.production_task_definition
        if wanted is not None and state is not None and _production_source(state) != str(wanted):
            self.stack.checked("deploy", _other(state.traffic.production), "--task-definition", str(wanted),
                               "--bake-time", "0")
        self._first_run = len(self.stack.runs)

    def _finish(self, command: str, wanted: str) -> dict:
        self._started()
        result = self.stack.bgctl(command)
        deployment = self._deployment()
        if result.returncode != 0 or deployment is None or deployment.status.value != wanted:
            raise DeploymentFailed((command,), result.returncode, result.stdout, result.stderr)
        return self.record

    def _started(self):
        deployment = self._deployment() if self.id is not None else None
        if deployment is None or deployment.id != self.id:
            raise RuntimeError("No deployment was started; call start() first.")
        return deployment

    def _deployment(self):
        state = self.stack.state()
        return state.deployment if state is not None else None


def _production_source(state) -> str | None:
    """The task definition file production runs (None: the kit's shipped revision)."""
    revision = state.revisions.get(state.traffic.production)
    return revision.source if revision is not None else None


def _other(slot: str | None) -> str:
    return "blue" if slot == "green" else "green"


# -- fixtures and report -----------------------------------------------------------------------

_DEPLOYMENT = pytest.StashKey[BgctlDeployment]()


@pytest.fixture(scope="session")
def bgctl_options(pytestconfig: pytest.Config) -> BgctlOptions:
    """The stack's settings, from the ini options; override it in a conftest.py to compute them."""
    return BgctlOptions.from_ini(pytestconfig)


@pytest.fixture(scope="session")
def bgctl_stack(bgctl_options: BgctlOptions, pytestconfig: pytest.Config):
    """The kit running for this session, in its own Compose project and ports; removed at the end."""
    stack = BgctlStack.create(bgctl_options)
    try:
        stack.up()
        _announce(pytestconfig, announcement(stack.project, stack.url))
        yield stack
    finally:
        stack.down()


@pytest.fixture
def bgctl_deployment(request: pytest.FixtureRequest, bgctl_stack: BgctlStack,
                     bgctl_options: BgctlOptions) -> BgctlDeployment:
    """A deployment helper; the stack settled first (nothing in progress, production on its revision)."""
    deployment = BgctlDeployment(bgctl_stack, bgctl_options)
    request.node.stash[_DEPLOYMENT] = deployment
    deployment.settle()
    return deployment


def announcement(project: str, url: str) -> str:
    """The line that tells where the session's stack answers and how to watch it."""
    return f"bgctl: stack {project} at {url}; watch it from another terminal: bgctl watch --project {project}"


def _announce(config: pytest.Config, text: str) -> None:
    """`text` on the terminal now, not in a test's captured output (nothing on an xdist worker,
    which has no terminal)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    capture = config.pluginmanager.get_plugin("capturemanager")
    if capture is None:
        reporter.write_line(text)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(text)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    deployment = item.stash.get(_DEPLOYMENT, None)
    if deployment is None or not report.failed or report.when == "teardown":
        return
    try:
        sections = deployment.report_sections()
    except Exception as exc:  # the report must not hide the test's own failure
        sections = [("bgctl deployment record", f"could not be read: {type(exc).__name__}: {exc}")]
    report.sections.extend(sections)
