"""`bgctl status`: what serves production, the deployment, what Envoy serves, which containers run."""

from __future__ import annotations

import time

from bgctl.cli.wiring import checked_stack, open_context
from bgctl.core.topology import ENVOY_SERVICE
from bgctl.core.reconcile import disagreements, interrupted
from bgctl.lifecycle.observe import observe
from bgctl.core.settings import Settings
from bgctl.core.stages import Stage


def status(settings: Settings) -> dict:
    checked_stack(settings)
    ctx = open_context(settings)
    state = ctx.state_file.load()
    seen = observe(ctx)
    services = seen.services
    envoy_running = ENVOY_SERVICE in services and services[ENVOY_SERVICE].status == "running"
    traffic = state.traffic if state else None
    deployment = None
    if state and state.deployment:
        d = state.deployment
        deployment = {
            "id": d.id,
            "target": d.target,
            "source": d.source,
            "status": d.status.value,
            "stage": d.stage.value,
            "paused": d.paused,
            "interrupted": interrupted(state, seen),
            "revision": d.revision,
            "test_rule": d.test_rule.to_dict(),
            "bake_seconds": d.bake_seconds,
            "bake_remaining": max(0.0, d.bake_until - time.time())
            if d.bake_until and d.stage == Stage.BAKE_TIME and not d.finished_ else None,
            "reason": d.reason,
            "history": [r.to_dict() for r in d.history],
            "created": d.created,
            "finished": d.finished,
        }
    production_revision = None
    if state and traffic:
        rev = state.revisions.get(traffic.production)
        production_revision = _describe(rev) if rev else f"shipped {traffic.production} revision"
    return {
        "project": settings.project_name,
        "running": envoy_running,
        "production": traffic.production if traffic else None,
        "production_revision": production_revision,
        "weights": traffic.weights() if traffic else {},
        "test_rule": traffic.test_rule.to_dict() if traffic and traffic.test_rule else None,
        "deployment": deployment,
        "routes": {
            "version": state.routes_version if state else None,
            "live_version": seen.live_version,
            "live": bool(state and seen.live_version and seen.live_version == state.routes_version),
            "delivery": state.delivery if state else None,
        },
        "containers": {
            name: {"status": s.status, "health": s.health, "image": s.image} for name, s in sorted(services.items())
        },
        "warnings": disagreements(state, seen) if state and envoy_running else [],
        "ingress": settings.ingress_url,
        "admin": settings.admin_url,
    }


def _describe(revision: dict) -> str:
    if revision.get("shipped"):
        return f"shipped revision ({revision.get('family', '?')})"
    return f"{revision.get('family', '?')} from {revision.get('source', '?')}"
