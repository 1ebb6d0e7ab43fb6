"""Envoy's admin API: readiness, what routes are live, per-cluster counters."""

from __future__ import annotations

from dataclasses import dataclass

import http.client
import json
from urllib.parse import urlencode, urlsplit

import requests

from bgctl.routes import ROUTE_CONFIG_NAME

EGRESS_STAT_PREFIX = "egress"


@dataclass(frozen=True)
class RdsStatus:
    """What Envoy says about the backend route config.

    `version` changes only when an update is accepted; `rejected` counts the
    updates Envoy refused (bad content) or failed to read.
    """

    version: str
    rejected: int


class EnvoyAdmin:
    """A thin client; one keep-alive session so polling costs well under a millisecond."""

    def __init__(self, base_url: str, *, timeout: float = 2.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        self._fast: http.client.HTTPConnection | None = None

    def ready(self) -> bool:
        try:
            response = self._session.get(f"{self.base_url}/ready", timeout=self.timeout)
        except requests.RequestException:
            return False
        return response.status_code == 200

    def rds_status(self) -> RdsStatus:
        prefix = f"http.{EGRESS_STAT_PREFIX}.rds.{ROUTE_CONFIG_NAME}."
        stats = self._fast_stats(rf"^{_re(prefix)}(version_text|update_rejected|update_failure)$")
        return RdsStatus(
            version=str(stats.get(prefix + "version_text", "")),
            rejected=int(stats.get(prefix + "update_rejected", 0)) + int(stats.get(prefix + "update_failure", 0)),
        )

    def stats(self, regex: str) -> dict[str, int | str]:
        response = self._session.get(
            f"{self.base_url}/stats", params={"format": "json", "filter": regex}, timeout=self.timeout
        )
        response.raise_for_status()
        values: dict[str, int | str] = {}
        for item in response.json().get("stats", []):
            if "name" in item and "value" in item:
                values[item["name"]] = item["value"]
        return values

    def _fast_stats(self, regex: str) -> dict[str, int | str]:
        """`stats` on a raw keep-alive connection: the publisher polls this in a
        tight loop, and requests' per-call overhead would double a switch's time."""
        path = "/stats?" + urlencode({"format": "json", "filter": regex})
        for attempt in (1, 2):
            try:
                if self._fast is None:
                    url = urlsplit(self.base_url)
                    self._fast = http.client.HTTPConnection(url.hostname, url.port, timeout=self.timeout)
                self._fast.request("GET", path)
                response = self._fast.getresponse()
                body = response.read()
                if response.status != 200:
                    raise requests.HTTPError(f"Envoy admin answered {response.status} for {path}")
                break
            except (OSError, http.client.HTTPException) as exc:
                self._fast = None  # reconnect once (Envoy restarted, idle connection closed)
                if attempt == 2:
                    raise requests.ConnectionError(str(exc)) from exc
        return {i["name"]: i["value"] for i in json.loads(body).get("stats", []) if "name" in i and "value" in i}

    def cluster_counters(self, cluster: str) -> dict[str, int]:
        prefix = f"cluster.{cluster}."
        raw = self.stats(rf"^{_re(prefix)}(upstream_rq_2xx|upstream_rq_5xx|upstream_rq_active|upstream_rq_total)$")
        return {name[len(prefix):]: int(value) for name, value in raw.items()}

    def cluster_hosts(self, cluster: str) -> list[dict]:
        """The endpoints Envoy knows for `cluster`, with their health flags."""
        response = self._session.get(f"{self.base_url}/clusters", params={"format": "json"}, timeout=self.timeout)
        response.raise_for_status()
        for status in response.json().get("cluster_statuses", []):
            if status.get("name") == cluster:
                return status.get("host_statuses", [])
        return []


def _re(text: str) -> str:
    return text.replace(".", r"\.")
