"""Docker through its Engine API (the Docker SDK for Python), over the socket.

The hot paths -- a container's state and health, exec, logs, the event
stream -- are HTTP requests on one pool of keep-alive connections, not
`docker` CLI processes: each of those starts a Go runtime (~50-100 ms and a
good share of a core) to make the very same request. Compose itself stays
with python-on-whales (adapters/compose.py).

Errors from the engine become one sentence here; callers never see a
docker.errors exception.
"""

from __future__ import annotations

import io
import queue
import tarfile
import threading
import time
from datetime import datetime
from typing import Iterable

import docker
import requests
from docker.errors import DockerException, NotFound

from bgctl.core.errors import BgctlError, DockerUnreachable
from bgctl.core.services import ServiceState
from bgctl.core.settings import Settings
from bgctl.core.topology import ENVOY_SERVICE

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
WORKING_DIR_LABEL = "com.docker.compose.project.working_dir"
NUMBER_LABEL = "com.docker.compose.container-number"
# Engine calls that should answer at once; the event stream has no time limit.
REQUEST_TIMEOUT = 30


class DockerEngine:
    """The containers of Compose projects, as the Docker Engine sees them."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client
        self.api = client.api

    @classmethod
    def connect(cls) -> "DockerEngine":
        """The engine DOCKER_HOST (or the default socket) names, once it answers a ping."""
        try:
            client = docker.from_env(timeout=REQUEST_TIMEOUT)
            client.ping()
        except (DockerException, requests.RequestException) as exc:
            raise DockerUnreachable(
                "Docker is not reachable: start the Docker Engine (or check DOCKER_HOST and your permissions)."
            ) from exc
        return cls(client)

    def ping(self) -> None:
        try:
            self.client.ping()
        except (DockerException, requests.RequestException) as exc:
            raise DockerUnreachable(
                "Docker is not reachable: start the Docker Engine (or check DOCKER_HOST and your permissions)."
            ) from exc

    def close(self) -> None:
        self.client.close()

    # -- containers by Compose service ----------------------------------

    def inspect(self, project: str, service: str) -> dict | None:
        """The service's container as `docker inspect` shows it, or None when there is none.

        Compose v2 names it `<project>-<service>-1`: one request. The labels
        are the fallback (another naming scheme, or a container number > 1).
        """
        try:
            attrs = self.api.inspect_container(f"{project}-{service}-1")
            labels = attrs["Config"].get("Labels") or {}
            if labels.get(PROJECT_LABEL) == project and labels.get(SERVICE_LABEL) == service:
                return attrs
        except NotFound:
            pass
        except (DockerException, requests.RequestException) as exc:
            raise _failure(f"inspect {service}'s container", exc) from exc
        found = self._list(project, service)
        # A running one first: that is the one serving.
        found.sort(key=lambda c: c.get("State") != "running")
        for summary in found:
            try:
                return self.api.inspect_container(summary["Id"])
            except NotFound:
                continue  # removed while we looked
            except (DockerException, requests.RequestException) as exc:
                raise _failure(f"inspect {service}'s container", exc) from exc
        return None

    def inspect_all(self, project: str, service: str) -> list[dict]:
        """Every container of the service (a slot runs desiredCount of them), as `docker inspect` shows it,
        in Compose's numbering."""
        found = []
        for summary in self._list(project, service):
            try:
                found.append(self.api.inspect_container(summary["Id"]))
            except NotFound:
                continue  # removed while we looked
            except (DockerException, requests.RequestException) as exc:
                raise _failure(f"inspect {service}'s containers", exc) from exc
        return sorted(found, key=lambda a: int((a["Config"].get("Labels") or {}).get(NUMBER_LABEL) or 0))

    def service_states(self, project: str, service: str) -> tuple[ServiceState, ...]:
        return tuple(service_state(attrs) for attrs in self.inspect_all(project, service))

    def service_state(self, project: str, service: str) -> ServiceState | None:
        attrs = self.inspect(project, service)
        return None if attrs is None else service_state(attrs)

    def services(self, project: str) -> dict[str, ServiceState]:
        """One container per service of the project (a running one first), by service."""
        found: dict[str, ServiceState] = {}
        for service, states in self.tasks(project).items():
            found[service] = next((s for s in states if s.status == "running"), states[0])
        return found

    def tasks(self, project: str) -> dict[str, tuple[ServiceState, ...]]:
        """Every container of the project, running or not, by service."""
        found: dict[str, list[ServiceState]] = {}
        for summary in sorted(self._list(project), key=lambda c: c.get("Names", [""])[0]):
            try:
                state = service_state(self.api.inspect_container(summary["Id"]))
            except NotFound:
                continue  # removed while we looked
            except (DockerException, requests.RequestException) as exc:
                raise _failure("list the project's containers", exc) from exc
            found.setdefault(state.service, []).append(state)
        return {service: tuple(states) for service, states in found.items()}

    def leftovers(self, project: str) -> list[str]:
        """Anything of the project Docker still has: containers, networks, volumes."""
        label = {"label": f"{PROJECT_LABEL}={project}"}
        try:
            found = [f"container {c['Names'][0].lstrip('/')}" for c in self.api.containers(all=True, filters=label)]
            found += [f"network {n['Name']}" for n in self.api.networks(filters=label)]
            found += [f"volume {v['Name']}" for v in (self.api.volumes(filters=label).get("Volumes") or [])]
        except (DockerException, requests.RequestException) as exc:
            raise _failure("list the project's containers, networks and volumes", exc) from exc
        return found

    def remove_project(self, project: str) -> None:
        """Everything of the project Docker has, removed by force: containers, then networks and
        volumes (a last resort when `bgctl down` could not run; Compose's graceful stop is not
        needed for containers nobody will use again)."""
        label = {"label": f"{PROJECT_LABEL}={project}"}
        try:
            for container in self.api.containers(all=True, filters=label):
                self._ignoring_gone(self.api.remove_container, container["Id"], v=True, force=True)
            for network in self.api.networks(filters=label):
                self._ignoring_gone(self.api.remove_network, network["Id"])
            for volume in self.api.volumes(filters=label).get("Volumes") or []:
                self._ignoring_gone(self.api.remove_volume, volume["Name"], force=True)
        except (DockerException, requests.RequestException) as exc:
            raise _failure("remove the project's containers, networks and volumes", exc) from exc

    @staticmethod
    def _ignoring_gone(remove, *args, **kwargs) -> None:
        try:
            remove(*args, **kwargs)
        except NotFound:
            pass

    def project_folder(self, project: str) -> str | None:
        """The folder a Compose project was started from (its containers' working_dir label); None
        when no container of the project exists."""
        for container in self._list(project):
            folder = (container.get("Labels") or {}).get(WORKING_DIR_LABEL)
            if folder:
                return folder
        return None

    def image_exists(self, image: str) -> bool:
        try:
            self.api.inspect_image(image)
        except NotFound:
            return False
        except (DockerException, requests.RequestException) as exc:
            raise _failure(f"look up the image {image}", exc) from exc
        return True

    def pull(self, image: str) -> str | None:
        """Pull `image` from its registry: None once it is here, else the engine's reason."""
        try:
            self.client.images.pull(image)
        except (DockerException, requests.RequestException) as exc:
            return str(exc)
        return None

    # -- acting on one container -------------------------------------------

    def exec(self, container: str, argv: list[str]) -> tuple[int, str]:
        """Run `argv` in `container`; its exit code and its output (stdout and stderr)."""
        try:
            exec_id = self.api.exec_create(container, argv, stdout=True, stderr=True)["Id"]
            output = self.api.exec_start(exec_id)
            code = self.api.exec_inspect(exec_id)["ExitCode"]
        except (DockerException, requests.RequestException) as exc:
            raise _failure(f"run {argv[0]} in {container}", exc) from exc
        return (code if code is not None else -1), output.decode(errors="replace")

    def logs_since(self, container: str, since: datetime) -> str:
        try:
            raw = self.api.logs(container, stdout=True, stderr=True, since=since.timestamp())
        except (DockerException, requests.RequestException) as exc:
            raise _failure(f"read {container}'s log", exc) from exc
        return raw.decode(errors="replace")

    def stop(self, container: str, *, timeout: float) -> None:
        """The container's stop signal, then SIGKILL after `timeout` seconds."""
        try:
            self.api.stop(container, timeout=max(0, int(timeout)))
        except NotFound:
            return
        except (DockerException, requests.RequestException) as exc:
            raise _failure(f"stop {container}", exc) from exc

    def join(self, network: str, attrs: dict, aliases: Iterable[str] = ()) -> None:
        """Connect the container (its inspect) to `network` with `aliases`, unless it is connected already.

        Connecting a running container adds an interface and touches nothing else it has."""
        if network in ((attrs.get("NetworkSettings") or {}).get("Networks") or {}):
            return
        try:
            self.api.connect_container_to_network(attrs["Id"], network, aliases=list(aliases) or None)
        except (DockerException, requests.RequestException) as exc:
            raise _failure(f"connect {attrs.get('Name', attrs['Id']).lstrip('/')} to network {network}", exc) \
                from exc

    # -- the event stream --------------------------------------------------

    def events(self, project: str, service: str | None = None, *,
               actions: Iterable[str] = ("start", "die", "health_status")) -> "EventFeed":
        """Container events of the project (or one service) from now on, as they happen."""
        labels = [f"{PROJECT_LABEL}={project}"] + ([f"{SERVICE_LABEL}={service}"] if service else [])
        return EventFeed(self.api, {"type": "container", "label": labels, "event": list(actions)})

    def _list(self, project: str, service: str | None = None) -> list[dict]:
        labels = [f"{PROJECT_LABEL}={project}"] + ([f"{SERVICE_LABEL}={service}"] if service else [])
        try:
            return self.api.containers(all=True, filters={"label": labels})
        except (DockerException, requests.RequestException) as exc:
            raise _failure("list the project's containers", exc) from exc


class EventFeed:
    """Docker's event stream for some containers, read by a daemon thread into a queue.

    Subscribed when constructed, so an event caused after the constructor
    returns is never missed. (Not `since`: that would replay the same
    container's events from before a restart, which look just like new
    ones.) The thread is a daemon: it never holds up exit.
    """

    def __init__(self, api: docker.APIClient, filters: dict) -> None:
        self._events: queue.Queue[dict | None] = queue.Queue()
        self._stream = api.events(filters=filters, decode=True)
        self._ended = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True, name="docker-events")
        self._thread.start()

    @property
    def ended(self) -> bool:
        """Whether the stream is over (closed, or the engine went away) and every event taken."""
        return self._ended.is_set() and self._events.empty()

    def next(self, timeout: float) -> dict | None:
        """The next event, or None after `timeout` seconds (at once when the stream has ended)."""
        if self.ended:
            return None
        try:
            return self._events.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None

    def pending(self) -> list[dict]:
        """Every event that arrived and was not taken yet, without waiting."""
        found = []
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return found
            if event is not None:
                found.append(event)

    def close(self) -> None:
        try:
            self._stream.close()
        except Exception:  # already closed by the engine or by a failed read
            pass

    def _read(self) -> None:
        try:
            for event in self._stream:
                self._events.put(event)
        except Exception:  # the socket closed under us: close() or the engine went away
            pass
        finally:
            self._ended.set()
            self._events.put(None)


class EnvoyContainer:
    """The Envoy (Service Connect) container, for route delivery's in-container path.

    Where host file events do not reach the container (Docker Desktop), the
    route file is written and renamed inside it. One exec carries the content
    as an argument and does both (~45 ms here); a `put_archive` of a tar
    plus an exec for the rename costs two round trips into the container
    (~85 ms), and the old `docker exec -i` a CLI process on top (~60-130 ms).
    Envoy only reloads on a rename *into* its watched directory, which is why
    a plain copy (what `put_archive` does) is never enough.
    """

    # Linux caps one argument at 128 KiB (MAX_ARG_STRLEN); larger files go by archive.
    MAX_ARGUMENT = 100_000

    def __init__(self, engine: DockerEngine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self._name: str | None = None

    @property
    def name(self) -> str:
        if self._name is None:
            attrs = self.engine.inspect(self.settings.project_name, ENVOY_SERVICE)
            if attrs is None:
                raise BgctlError(f"The {ENVOY_SERVICE} container does not exist; run bgctl up.")
            self._name = attrs["Name"].lstrip("/")
        return self._name

    def write_file(self, directory: str, name: str, content: str) -> None:
        """Write, then rename in place, inside the Envoy container."""
        tmp = f"{directory}/.{name}.bgctl.tmp"
        target = f"{directory}/{name}"
        data = content.encode()
        if len(data) <= self.MAX_ARGUMENT and "\0" not in content:
            argv = ["sh", "-c", 'printf %s "$1" > "$2" && mv -f "$2" "$3"', "sh", content, tmp, target]
        else:
            self._put(directory, f".{name}.bgctl.tmp", data)
            argv = ["mv", "-f", tmp, target]
        code, output = self.engine.exec(self.name, argv)
        if code != 0:
            raise BgctlError(f"Could not write {name} inside {self.name}: {' '.join(output.split()) or code}.")

    def logs_since(self, since: datetime) -> str:
        try:
            return self.engine.logs_since(self.name, since)
        except BgctlError:
            return ""

    def _put(self, directory: str, name: str, data: bytes) -> None:
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
            tar.addfile(info, io.BytesIO(data))
        try:
            self.engine.api.put_archive(self.name, directory, archive.getvalue())
        except (DockerException, requests.RequestException) as exc:
            raise _failure(f"copy {name} into {self.name}", exc) from exc


def service_state(attrs: dict) -> ServiceState:
    """A container's `inspect` document as the core reads it."""
    state = attrs.get("State") or {}
    config = attrs.get("Config") or {}
    labels = config.get("Labels") or {}
    name = attrs.get("Name", "").lstrip("/")
    # Docker keeps a stopped container's last health status (a slot stopped gracefully fails its
    # last checks: "unhealthy"); health means something only while the container runs.
    health = (state.get("Health") or {}).get("Status") if state.get("Status") == "running" else None
    return ServiceState(labels.get(SERVICE_LABEL, name), state.get("Status", "unknown"), health, name,
                        config.get("Image", ""))


def addresses(attrs: dict, *, leaving_out: str | None = None) -> tuple[str, ...]:
    """The container's IPv4 addresses on its networks (Compose: the project's network), but `leaving_out`'s."""
    networks = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
    return tuple(sorted(n["IPAddress"] for name, n in networks.items() if n.get("IPAddress") and name != leaving_out))


def published_ports(attrs: dict) -> set[int]:
    """Every host port the container (its `inspect`) is published on."""
    ports = (attrs.get("NetworkSettings") or {}).get("Ports") or {}
    return {int(b["HostPort"]) for bindings in ports.values() if bindings for b in bindings if b.get("HostPort")}


def published_on(attrs: dict) -> dict[int, int]:
    """The container's published ports: container port -> host port (its first binding)."""
    ports = (attrs.get("NetworkSettings") or {}).get("Ports") or {}
    return {int(key.split("/")[0]): int(bindings[0]["HostPort"]) for key, bindings in ports.items()
            if bindings and bindings[0].get("HostPort")}


def event_action(event: dict) -> str:
    """`start`, `die`, `health_status: healthy`, ... (older engines only set `status`)."""
    return event.get("Action") or event.get("status") or ""


def _failure(action: str, exc: Exception) -> BgctlError:
    detail = getattr(exc, "explanation", None) or str(exc)
    return BgctlError(f"Docker could not {action}: {' '.join(str(detail).split())}")
