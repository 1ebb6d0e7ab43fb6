"""Envoy's admin API: readiness, what routes are live, per-cluster counters.

bgctl reaches the admin interface through its Unix socket (bind-mounted from
the container) — the only way in that nothing on the Compose network has, and
the fastest (no Docker port proxy). Where the socket cannot be used (Docker
Desktop, whose bind mounts do not carry sockets across its VM), it falls back
to the read-only admin listener published on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from bgctl.core.errors import BgctlError
from bgctl.core.routes import ROUTE_CONFIG_NAME

EGRESS_STAT_PREFIX = "egress"
# Envoy restarting (a `docker restart`, a crash) takes a second or two; admin
# calls wait that long before giving up.
RECONNECT_FOR = 15.0


class EnvoyUnreachable(BgctlError):
    pass


@dataclass(frozen=True)
class RdsStatus:
    """What Envoy says about the backend route config.

    `version` changes only when an update is accepted; `rejected` counts the
    updates Envoy refused (bad content) or failed to read.
    """

    version: str
    rejected: int


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class EnvoyAdmin:
    """GETs on one keep-alive connection: the publisher polls in a tight loop."""

    def __init__(self, base_url: str, *, socket_path: Path | None = None, timeout: float = 2.0,
                 reconnect_for: float = RECONNECT_FOR) -> None:
        self.base_url = base_url.rstrip("/")
        self.socket_path = socket_path
        self.timeout = timeout
        self.reconnect_for = reconnect_for
        self._conn: http.client.HTTPConnection | None = None

    @property
    def transport(self) -> str:
        return "unix-socket" if self._use_socket() else "tcp"

    def ready(self) -> bool:
        try:
            status, _ = self._get("/ready", retry=False)
        except EnvoyUnreachable:
            return False
        return status == 200

    def rds_status(self) -> RdsStatus:
        prefix = f"http.{EGRESS_STAT_PREFIX}.rds.{ROUTE_CONFIG_NAME}."
        stats = self.stats(rf"^{_re(prefix)}(version_text|update_rejected|update_failure)$")
        return RdsStatus(
            version=str(stats.get(prefix + "version_text", "")),
            rejected=int(stats.get(prefix + "update_rejected", 0)) + int(stats.get(prefix + "update_failure", 0)),
        )

    def stats(self, regex: str) -> dict[str, int | str]:
        _, body = self._get("/stats?" + urlencode({"format": "json", "filter": regex}))
        return {i["name"]: i["value"] for i in json.loads(body).get("stats", []) if "name" in i and "value" in i}

    def cluster_counters(self, cluster: str) -> dict[str, int]:
        prefix = f"cluster.{cluster}."
        raw = self.stats(rf"^{_re(prefix)}(upstream_rq_2xx|upstream_rq_5xx|upstream_rq_active|upstream_rq_total"
                         r"|membership_total|membership_healthy)$")
        return {name[len(prefix):]: int(value) for name, value in raw.items()}

    def cluster_hosts(self, cluster: str) -> list[dict]:
        """The endpoints Envoy knows for `cluster`, with their health flags."""
        _, body = self._get("/clusters?format=json")
        for status in json.loads(body).get("cluster_statuses", []):
            if status.get("name") == cluster:
                return status.get("host_statuses", [])
        return []

    # -- transport ---------------------------------------------------------

    def _use_socket(self) -> bool:
        return self.socket_path is not None and self.socket_path.exists()

    def _connect(self) -> http.client.HTTPConnection:
        if self._use_socket():
            return _UnixConnection(str(self.socket_path), self.timeout)
        url = urlsplit(self.base_url)
        return http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=self.timeout)

    def _get(self, path: str, *, retry: bool = True) -> tuple[int, bytes]:
        deadline = time.monotonic() + (self.reconnect_for if retry else 0)
        while True:
            try:
                if self._conn is None:
                    self._conn = self._connect()
                self._conn.request("GET", path)
                response = self._conn.getresponse()
                body = response.read()
                if response.status >= 500:
                    raise OSError(f"Envoy's admin answered {response.status}")
                return response.status, body
            except (OSError, http.client.HTTPException) as exc:
                self._conn = None  # a fresh connection next time (Envoy restarted, socket recreated)
                if time.monotonic() >= deadline:
                    raise EnvoyUnreachable(f"Envoy's admin interface does not answer ({exc}).") from exc
                time.sleep(0.1)


def _re(text: str) -> str:
    return text.replace(".", r"\.")
