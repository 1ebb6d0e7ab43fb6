"""`bgctl status`: what serves production, what Envoy serves, which containers run."""

from __future__ import annotations

from bgctl.commands.context import checked_stack, open_context
from bgctl.docker import ENVOY_SERVICE
from bgctl.settings import Settings


def status(settings: Settings) -> dict:
    checked_stack(settings)
    ctx = open_context(settings)
    state = ctx.state_file.load()
    services = ctx.stack.services()
    envoy_running = ENVOY_SERVICE in services and services[ENVOY_SERVICE].status == "running"
    live_version = None
    if envoy_running:
        try:
            live_version = ctx.envoy.rds_status().version
        except Exception:  # admin not answering yet: report it as unknown
            live_version = None
    traffic = state.traffic if state else None
    return {
        "project": settings.project_name,
        "running": envoy_running,
        "production": traffic.production if traffic else None,
        "weights": traffic.weights() if traffic else {},
        "test_rule": traffic.test_rule.to_dict() if traffic and traffic.test_rule else None,
        "deployment": None,
        "routes": {
            "version": state.routes_version if state else None,
            "live_version": live_version,
            "live": bool(state and live_version and live_version == state.routes_version),
            "delivery": state.delivery if state else None,
        },
        "containers": {
            name: {"status": s.status, "health": s.health, "image": s.image} for name, s in sorted(services.items())
        },
        "ingress": settings.ingress_url,
        "admin": settings.admin_url,
    }
