"""Looking at the world before acting: which containers run, what Envoy serves, who holds the lock."""

from __future__ import annotations

from bgctl.adapters.lock import is_held
from bgctl.core.reconcile import Observed
from bgctl.core.topology import ENVOY_SERVICE
from bgctl.cli.wiring import Context


def observe(ctx: Context) -> Observed:
    services = ctx.stack.services()
    live = None
    envoy = services.get(ENVOY_SERVICE)
    if envoy is not None and envoy.status == "running":
        try:
            live = ctx.envoy.rds_status().version
        except Exception:
            live = None
    return Observed(services, live, is_held(ctx.settings.state_dir))
