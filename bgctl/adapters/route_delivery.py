"""Delivering route files to Envoy and confirming them live.

A publish writes the rendered routes under a new, unique `version_info`,
renames the file into the directory Envoy watches, then polls Envoy's stats
until that exact version is live — or until Envoy counts a rejection, in
which case the previous file is put back (so a restarted Envoy still starts
on good routes) and the reason is read from Envoy's log.

Two ways in. On native Linux a rename on the host, in the bind-mounted
directory, reaches Envoy in milliseconds. On Docker Desktop host file events
do not reliably cross into the VM, so when a host rename shows no effect
within `host_wait` seconds the file is written and renamed inside the
container instead (a `docker exec`), and that way is kept for later publishes.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from bgctl.adapters.envoy_admin import EnvoyAdmin, RdsStatus
from bgctl.core.errors import RouteNotConfirmed, RouteRejected
from bgctl.core.routes import render_file
from bgctl.core.traffic import TrafficState
from bgctl.adapters.state_file import write_atomically

ROUTE_FILE = "backend.yaml"
CONTAINER_ROUTES_DIR = "/etc/envoy/routes"
_REJECTION = re.compile(r"config update rejected: (.*)$", re.MULTILINE)


class EnvoyContainer(Protocol):
    def write_file(self, directory: str, name: str, content: str) -> None: ...

    def logs_since(self, since: datetime) -> str: ...


@dataclass(frozen=True)
class Publication:
    version: str
    delivery: str
    seconds: float


def new_version(content_key: str) -> str:
    """Unique per publish (time), with a short digest of what was published."""
    digest = hashlib.sha256(content_key.encode()).hexdigest()[:8]
    return f"{time.time_ns():x}-{digest}"


def write_initial(routes_dir: Path, state: TrafficState) -> str:
    """The route file Envoy starts with (it refuses to start without one)."""
    version = new_version(json.dumps(state.to_dict(), sort_keys=True))
    write_atomically(routes_dir / ROUTE_FILE, render_file(state, version))
    return version


class RoutePublisher:
    def __init__(
        self,
        routes_dir: Path,
        envoy: EnvoyAdmin,
        container: EnvoyContainer | None,
        *,
        delivery: str = "host-rename",
        host_wait: float = 1.0,
        timeout: float = 10.0,
        poll_interval: float = 0.0005,
    ) -> None:
        self.routes_dir = routes_dir
        self.envoy = envoy
        self.container = container
        self.delivery = delivery
        self.host_wait = host_wait
        self.timeout = timeout
        self.poll_interval = poll_interval
        # Envoy's status after our last publish, and the file it took: the next
        # publish's baseline and restore point, so a switch costs no extra round
        # trip or file read. bgctl's lock makes this process the only publisher
        # while it lives.
        self._last: RdsStatus | None = None
        self._last_content: str | None = None

    def publish(self, state: TrafficState) -> Publication:
        return self.publish_text(state, render_file)

    def publish_text(self, state: TrafficState, renderer) -> Publication:
        """Publish what `renderer(state, version)` returns (tests use it to force a bad file)."""
        version = new_version(json.dumps(state.to_dict(), sort_keys=True))
        content = renderer(state, version)
        path = self.routes_dir / ROUTE_FILE
        if self._last is not None:
            previous, baseline = self._last_content, self._last
        else:
            previous = path.read_text() if path.exists() else None
            baseline = self.envoy.rds_status()
        started_wall = datetime.now(timezone.utc)
        started = time.perf_counter()

        if self.delivery == "host-rename":
            write_atomically(path, content)
            outcome = self._wait(version, baseline, self.host_wait if self.container else self.timeout)
            if outcome is None and self.container is not None:
                self.delivery = "container"
        if self.delivery == "container":
            assert self.container is not None
            self.container.write_file(CONTAINER_ROUTES_DIR, ROUTE_FILE, content)
            outcome = self._wait(version, baseline, self.timeout)

        if outcome is None:
            self._last = None
            raise RouteNotConfirmed(
                f"Envoy did not report routes {version} within {self.timeout:g}s; "
                "check the service-connect container's logs."
            )
        self._last, self._last_content = outcome, content
        if outcome.version != version:
            self._last = None  # the restore below is counted too
            self._restore(previous)
            raise RouteRejected(version, self._rejection_reason(started_wall))
        return Publication(version, self.delivery, time.perf_counter() - started)

    def _wait(self, version: str, baseline: RdsStatus, seconds: float) -> RdsStatus | None:
        """Envoy's status once it took `version` or counted a rejection; None on time-out.

        A hand loop, not tenacity: Envoy takes a rename in well under a
        millisecond and the first poll usually sees it, so the loop's own cost
        is the switch's cost; tenacity's per-attempt bookkeeping would be most
        of it.
        """
        deadline = time.monotonic() + seconds
        while True:
            status = self.envoy.rds_status()
            if status.version == version or status.rejected > baseline.rejected:
                return status
            if time.monotonic() >= deadline:
                return None
            time.sleep(self.poll_interval)

    def _restore(self, previous: str | None) -> None:
        if previous is None:
            return
        path = self.routes_dir / ROUTE_FILE
        if self.delivery == "container" and self.container is not None:
            self.container.write_file(CONTAINER_ROUTES_DIR, ROUTE_FILE, previous)
        else:
            write_atomically(path, previous)

    def _rejection_reason(self, since: datetime) -> str:
        container = self.container
        if container is None:
            return "see Envoy's log"
        # Envoy logs the reason just after it counts the rejection.
        reading = Retrying(stop=stop_after_delay(2.0), wait=wait_fixed(0.05), retry=retry_if_result(lambda found: not found))
        try:
            found = reading(lambda: _REJECTION.findall(container.logs_since(since)))
        except RetryError:
            return "no reason in Envoy's log"
        return " ".join(found[-1].split())


def routes_version_on_disk(routes_dir: Path) -> str | None:
    try:
        return json.loads((routes_dir / ROUTE_FILE).read_text()).get("version_info")
    except (OSError, ValueError):
        return None

