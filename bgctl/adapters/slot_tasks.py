"""A slot's tasks as Docker containers: lifecycle/ports.SlotTasks and TaskWatch.

Compose starts a slot (one `docker compose up` for its service, so that the
container is exactly what compose.yaml and the slot's revision override
describe); everything else -- state, health, stop, death -- goes through the
Engine API and its event stream (adapters/docker_engine.py). Health and
death are pushed by the engine as they happen, so nothing polls.
"""

from __future__ import annotations

import time

from bgctl.adapters.compose import Stack
from bgctl.adapters.docker_engine import DockerEngine, EventFeed, addresses, event_action
from bgctl.adapters.images import ImageSet
from bgctl.core.compose_override import compose_override
from bgctl.core.errors import BgctlError
from bgctl.core.services import ServiceState
from bgctl.core.settings import Settings
from bgctl.core.taskdef import Revision
from bgctl.core.topology import slot_service

# After `nginx -s quit`, how long nginx may wait for idle keep-alive
# connections before the rest is stopped outright (see DockerSlotTasks.stop).
LINGER = 3.0


class DockerSlotTasks:
    def __init__(self, settings: Settings, images: ImageSet, *, engine: DockerEngine | None = None,
                 stack: Stack | None = None, linger: float = LINGER) -> None:
        self.settings = settings
        self.images = images
        self.engine = engine or DockerEngine.connect()
        self.stack = stack or Stack(settings, engine=self.engine)
        self.linger = linger

    @property
    def project(self) -> str:
        return self.settings.project_name

    def state(self, slot: str) -> ServiceState | None:
        return self.engine.service_state(self.project, slot_service(slot, self.settings.service))

    def all_tasks(self, slot: str) -> tuple[ServiceState, ...]:
        return self.engine.service_states(self.project, slot_service(slot, self.settings.service))

    def start(self, slot: str, revision: Revision | None, *, timeout: float, count: int = 1) -> tuple[str, ...]:
        """Run `count` tasks of `revision` (None: the shipped one) in `slot`; their addresses once all are healthy.

        One `compose up --scale` without `--wait`: Compose's wait polls the
        containers every few hundred milliseconds; the engine's
        `health_status` event says it the moment a check passes, and `die` or
        `unhealthy` fail at once instead of at the time-out. The same call
        replaces a lost task: Compose starts a stopped container again, and an
        unhealthy one is stopped first so that it is started afresh.
        """
        service = slot_service(slot, self.settings.service)
        override = None if revision is None else compose_override(
            revision, service=service, image=self.images.resolve(revision.image),
            healthcheck_profile=self.settings.healthcheck,
        )
        self.stack.set_slot_override(slot, override)
        # A container that has just died may still be torn down: until then the
        # engine's list (what Compose reads) says "running", and `compose up`
        # would take the start for a no-op. An inspect waits for the teardown.
        for attrs in self.engine.inspect_all(self.project, service):
            if _status(attrs) == ("running", "unhealthy"):
                self.engine.stop(attrs["Id"], timeout=0)
        deadline = time.monotonic() + timeout
        feed = self.engine.events(self.project, service)
        try:
            self.stack.up([service], wait=False, timeout=max(1, int(timeout)), scales={service: count})
            return self._healthy(service, count, feed, deadline, timeout)
        finally:
            feed.close()

    def stop(self, slot: str, *, timeout: float) -> None:
        """Stop all of `slot`'s tasks without cutting a request they are serving.

        The seed's tasks run `/bin/sh -c "... && nginx -g 'daemon off;'"`, so
        PID 1 is the shell, which ignores the stop signal: a plain stop would
        wait out the grace period and then kill nginx mid-request. Asking
        nginx itself to quit (SIGQUIT: finish in-flight requests, then exit)
        ends the shell too, and the container stops on its own -- the `die`
        event says when.

        nginx then still waits for idle keep-alive connections, which Envoy's
        pool may hold until its idle timeout (50 s). Callers drain first (Envoy
        reports no request in flight to the slot, and Envoy is the slot's only
        client), so after `linger` seconds the rest is stopped outright,
        through the Engine API: a `compose stop` would start a CLI process to
        make the same request.
        """
        service = slot_service(slot, self.settings.service)
        running = [a["Id"] for a in self.engine.inspect_all(self.project, service) if _status(a)[0] == "running"]
        if not running:
            return
        feed = self.engine.events(self.project, service, actions=("die",))
        linger = min(self.linger, timeout)
        quitting: set[str] = set()
        try:
            for container in running:
                try:
                    code, _ = self.engine.exec(container, ["nginx", "-s", "quit"])
                except BgctlError:
                    code = -1
                if code == 0:
                    quitting.add(container)
                else:
                    # Not an nginx task: its stop signal and the whole grace period.
                    self.engine.stop(container, timeout=timeout)
            deadline = time.monotonic() + linger
            while quitting and (event := _wait_for(feed, quitting, ("die",), deadline)) is not None:
                quitting.discard(event["id"])
        finally:
            feed.close()
        for container in quitting:
            self.engine.stop(container, timeout=max(1.0, linger))

    def watch(self, slot: str) -> "SlotWatch":
        return SlotWatch(self.engine, self.project, slot_service(slot, self.settings.service))

    def _healthy(self, service: str, count: int, feed: EventFeed, deadline: float,
                 timeout: float) -> tuple[str, ...]:
        while True:
            containers = self.engine.inspect_all(self.project, service)
            if len(containers) < count:
                raise BgctlError(f"Compose started {service} but Docker has {len(containers)} of its "
                                 f"{count} containers")
            for attrs in containers:
                status, health = _status(attrs)
                name = service if count == 1 else _task_name(attrs, self.project)
                if status not in ("running", "created"):
                    state = attrs["State"]
                    raise BgctlError(f"{name}'s container {status} (exit code {state.get('ExitCode')})")
                if health == "unhealthy":
                    raise BgctlError(f"{name}'s health check failed")
            if all(_status(a)[0] == "running" and _status(a)[1] in (None, "healthy") for a in containers):
                return tuple(address for attrs in containers
                             for address in addresses(attrs, leaving_out=self.settings.kit_network))
            # The event says what changed; the inspect after it has the rest (exit code, addresses).
            if _wait_for(feed, {a["Id"] for a in containers}, ("start", "die", "health_status"), deadline) is None:
                raise BgctlError(f"{service} was not healthy within {timeout:g}s")


class SlotWatch:
    """ports.TaskWatch: any of a slot's containers stopping or turning unhealthy, from the event stream.

    The engine pushes `die` and `health_status` as they happen; a daemon
    thread queues them (adapters/docker_engine.EventFeed), and `problem()`
    only reads the queue, so asking costs nothing and never waits.
    """

    def __init__(self, engine: DockerEngine, project: str, service: str) -> None:
        self.service = service
        self._feed = engine.events(project, service, actions=("die", "health_status"))
        containers = engine.inspect_all(project, service)
        # One task: the service's name, as always; several: which of them.
        self._containers = {a["Id"]: service if len(containers) == 1 else _task_name(a, project) for a in containers}
        self._problem: str | None = None
        if not containers:
            self._problem = f"{service}'s container was removed."
        for attrs in containers:
            status, health = _status(attrs)
            if status != "running":
                self._problem = f"{self._containers[attrs['Id']]}'s container {status}."
            elif health == "unhealthy":
                self._problem = f"{self._containers[attrs['Id']]}'s container turned unhealthy."

    def problem(self) -> str | None:
        for event in self._feed.pending():
            name = self._containers.get(event.get("id", ""))
            if self._problem is not None or name is None:
                continue
            action = event_action(event)
            if action == "die":
                code = (event.get("Actor") or {}).get("Attributes", {}).get("exitCode", "?")
                self._problem = f"{name}'s container stopped (exit code {code})."
            elif action == "health_status: unhealthy":
                self._problem = f"{name}'s container turned unhealthy."
        return self._problem

    def close(self) -> None:
        self._feed.close()


def _status(attrs: dict) -> tuple[str | None, str | None]:
    """(Docker's status, the health check's status or None)."""
    state = attrs.get("State") or {}
    return state.get("Status"), (state.get("Health") or {}).get("Status")


def _task_name(attrs: dict, project: str) -> str:
    """Which of the slot's tasks: `backend-green-2` for the container `<project>-backend-green-2`."""
    name = attrs.get("Name", "").lstrip("/")
    return name[len(project) + 1:] if name.startswith(f"{project}-") else name


def _wait_for(feed: EventFeed, containers: set[str], actions: tuple[str, ...], deadline: float) -> dict | None:
    """The next event of one of `containers` whose action starts with one of `actions`; None at `deadline`."""
    while (left := deadline - time.monotonic()) > 0:
        event = feed.next(left)
        if event is None:
            if feed.ended:
                raise BgctlError("Docker's event stream ended (is the engine still running?)")
            continue
        if event.get("id") in containers and event_action(event).startswith(actions):
            return event
    return None
