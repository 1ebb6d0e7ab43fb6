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
        return self.engine.service_state(self.project, slot_service(slot))

    def start(self, slot: str, revision: Revision | None, *, timeout: float) -> tuple[str, ...]:
        """Run `slot` with `revision` (None: the shipped one) and return its addresses once healthy.

        One `compose up` without `--wait`: Compose's wait polls the container
        every few hundred milliseconds; the engine's `health_status` event
        says it the moment the check passes, and `die` or `unhealthy` fail at
        once instead of at the time-out.
        """
        service = slot_service(slot)
        override = None if revision is None else compose_override(
            revision, service=service, image=self.images.resolve(revision.image),
            healthcheck_profile=self.settings.healthcheck,
        )
        self.stack.set_slot_override(slot, override)
        # A container that has just died may still be torn down: until then the
        # engine's list (what Compose reads) says "running", and `compose up`
        # would take the start for a no-op. An inspect waits for the teardown.
        self.engine.inspect(self.project, service)
        deadline = time.monotonic() + timeout
        feed = self.engine.events(self.project, service)
        try:
            self.stack.up([service], wait=False, timeout=max(1, int(timeout)))
            return self._healthy(service, feed, deadline, timeout)
        finally:
            feed.close()

    def stop(self, slot: str, *, timeout: float) -> None:
        """Stop `slot`'s task without cutting a request it is serving.

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
        service = slot_service(slot)
        attrs = self.engine.inspect(self.project, service)
        if attrs is None or attrs["State"].get("Status") != "running":
            return
        container = attrs["Id"]
        feed = self.engine.events(self.project, service, actions=("die",))
        try:
            try:
                code, _ = self.engine.exec(container, ["nginx", "-s", "quit"])
            except BgctlError:
                code = -1
            if code != 0:
                # Not an nginx task: its stop signal and the whole grace period.
                self.engine.stop(container, timeout=timeout)
                return
            linger = min(self.linger, timeout)
            if _wait_for(feed, container, ("die",), time.monotonic() + linger) is not None:
                return
        finally:
            feed.close()
        self.engine.stop(container, timeout=max(1.0, linger))

    def watch(self, slot: str) -> "SlotWatch":
        return SlotWatch(self.engine, self.project, slot_service(slot))

    def _healthy(self, service: str, feed: EventFeed, deadline: float, timeout: float) -> tuple[str, ...]:
        attrs = self.engine.inspect(self.project, service)
        if attrs is None:
            raise BgctlError(f"Compose started {service} but Docker has no container for it")
        container = attrs["Id"]
        while True:
            state = attrs["State"]
            health = (state.get("Health") or {}).get("Status")
            if state.get("Status") == "running" and health in (None, "healthy"):
                return addresses(attrs)
            if state.get("Status") != "running" and state.get("Status") != "created":
                raise BgctlError(f"{service}'s container {state.get('Status')} (exit code {state.get('ExitCode')})")
            if health == "unhealthy":
                raise BgctlError(f"{service}'s health check failed")
            event = _wait_for(feed, container, ("start", "die", "health_status"), deadline)
            if event is None:
                raise BgctlError(f"{service} was not healthy within {timeout:g}s")
            # The event says what changed; the inspect after it has the rest (exit code, addresses).
            attrs = self.engine.api.inspect_container(container)


class SlotWatch:
    """ports.TaskWatch: a slot's container stopping or turning unhealthy, from the event stream.

    The engine pushes `die` and `health_status` as they happen; a daemon
    thread queues them (adapters/docker_engine.EventFeed), and `problem()`
    only reads the queue, so asking costs nothing and never waits.
    """

    def __init__(self, engine: DockerEngine, project: str, service: str) -> None:
        self.service = service
        self._feed = engine.events(project, service, actions=("die", "health_status"))
        attrs = engine.inspect(project, service)
        self._container = attrs["Id"] if attrs else None
        self._problem: str | None = None
        if attrs is None:
            self._problem = f"{service}'s container was removed."
        elif attrs["State"].get("Status") != "running":
            self._problem = f"{service}'s container {attrs['State'].get('Status')}."
        elif (attrs["State"].get("Health") or {}).get("Status") == "unhealthy":
            self._problem = f"{service}'s container turned unhealthy."

    def problem(self) -> str | None:
        for event in self._feed.pending():
            if self._problem is not None or event.get("id") != self._container:
                continue
            action = event_action(event)
            if action == "die":
                code = (event.get("Actor") or {}).get("Attributes", {}).get("exitCode", "?")
                self._problem = f"{self.service}'s container stopped (exit code {code})."
            elif action == "health_status: unhealthy":
                self._problem = f"{self.service}'s container turned unhealthy."
        return self._problem

    def close(self) -> None:
        self._feed.close()


def _wait_for(feed: EventFeed, container: str, actions: tuple[str, ...], deadline: float) -> dict | None:
    """The next event of `container` whose action starts with one of `actions`; None at `deadline`."""
    while (left := deadline - time.monotonic()) > 0:
        event = feed.next(left)
        if event is None:
            if feed.ended:
                raise BgctlError("Docker's event stream ended (is the engine still running?)")
            continue
        if event.get("id") == container and event_action(event).startswith(actions):
            return event
    return None
