"""Envoy as the Service Connect data plane: lifecycle/ports.ServiceConnect.

Routes go through the route publisher (write, rename, confirm live);
endpoints and counters come from Envoy's admin API.
"""

from __future__ import annotations

from dataclasses import replace

from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from bgctl.adapters.envoy_admin import EnvoyAdmin
from bgctl.adapters.route_delivery import Publication, RoutePublisher
from bgctl.core.errors import BgctlError
from bgctl.core.routes import render_file
from bgctl.core.slot_rates import COUNTERS
from bgctl.core.state import State
from bgctl.core.topology import SLOTS, cluster_for
from bgctl.core.traffic import TrafficState

# Envoy's /clusters is cheap; the slots' STRICT_DNS clusters refresh every 0.25 s (envoy.yaml).
REGISTER_POLL = 0.05


class EnvoyServiceConnect:
    def __init__(self, envoy: EnvoyAdmin, publisher: RoutePublisher, *,
                 fault_reject_routes_at: str | None = None) -> None:
        self.envoy = envoy
        self.publisher = publisher
        # A test aid (BGCTL_FAULT_REJECT_ROUTES_AT): at this stage, publish a file Envoy must reject.
        self.fault_reject_routes_at = fault_reject_routes_at

    def apply(self, state: State, traffic: TrafficState) -> State:
        return self.publish(state, traffic)[0]

    def publish(self, state: State, traffic: TrafficState) -> tuple[State, Publication | None]:
        """Make Envoy serve `traffic`, confirmed live; the state that records it, and how it went.

        Decide, then apply once: when Envoy already serves exactly the
        recorded routes for `traffic`, nothing is published (None).
        """
        faulty = self._faulty(state)
        if traffic == state.traffic and state.routes_version and not faulty:
            try:
                if self.envoy.rds_status().version == state.routes_version:
                    return state, None
            except BgctlError:  # Envoy not answering: publishing will say so
                pass
        if faulty:
            publication = self.publisher.publish_text(
                traffic, lambda t, v: render_file(t, v).replace('"domains"', '"domainz"'))
        else:
            publication = self.publisher.publish(traffic)
        return replace(state.with_traffic(traffic, publication.version), delivery=self.publisher.delivery), publication

    def register(self, slot: str, addresses: tuple[str, ...], *, timeout: float) -> None:
        """Return once Envoy's cluster for `slot` lists every one of `addresses` (any endpoint when empty).

        The clusters find their tasks by DNS, so a task that has just started
        is unknown to Envoy for up to a refresh interval; routing to it before
        then would answer 503.
        """
        cluster = cluster_for(slot)
        wanted = {address.rsplit(":", 1)[0] if address.count(":") == 1 else address for address in addresses}

        def listed() -> bool:
            known = set()
            for host in self.envoy.cluster_hosts(cluster):
                known.add(((host.get("address") or {}).get("socket_address") or {}).get("address"))
            return wanted <= known if wanted else bool(known)

        retrying = Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(REGISTER_POLL),
                            retry=retry_if_result(lambda found: not found))
        try:
            retrying(listed)
        except RetryError:
            shown = ", ".join(sorted(wanted)) or "any task"
            raise BgctlError(f"Envoy did not find {slot}'s task ({shown}) within {timeout:g}s.") from None

    def counters(self, slot: str) -> dict[str, int]:
        return self.envoy.cluster_counters(cluster_for(slot))

    def _faulty(self, state: State) -> bool:
        d = state.deployment
        return (self.fault_reject_routes_at is not None and d is not None and not d.rolling_back
                and d.stage.value == self.fault_reject_routes_at)


def slot_counters(envoy: EnvoyAdmin) -> dict[str, dict[str, int]]:
    """core/slot_rates.COUNTERS of every slot, read in one admin query (for `watch` and the rate recorder)."""
    by_cluster = envoy.clusters_counters([cluster_for(slot) for slot in SLOTS], COUNTERS)
    return {slot: by_cluster[cluster_for(slot)] for slot in SLOTS}
