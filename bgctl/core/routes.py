"""Envoy route config for the Service Connect listener, rendered from a traffic state.

Pure: no I/O. `render_route_config` is the only place that knows what the
routes look like; route delivery only writes what `render_file` returns.
"""

from __future__ import annotations

import json

from bgctl.core.topology import DEPLOYED_SERVICE, cluster_for
from bgctl.core.traffic import TrafficState

ROUTE_CONFIG_NAME = DEPLOYED_SERVICE
ROUTE_TYPE_URL = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"

# ECS Service Connect's data-plane defaults.
REQUEST_TIMEOUT = "15s"
RETRY_ON = "connect-failure,refused-stream,reset-before-request"
NUM_RETRIES = 2


def render_file(state: TrafficState, version: str) -> str:
    """The route file's text. JSON is YAML; Envoy parses it faster and it diffs well enough."""
    return json.dumps(render_route_config(state, version), indent=1) + "\n"


def render_route_config(state: TrafficState, version: str) -> dict:
    """The RDS discovery response Envoy reads from the route file."""
    routes = []
    if state.candidate is not None and state.test_rule is not None:
        routes.append(
            {
                "name": "test-traffic",
                "match": {"prefix": "/", "headers": [state.test_rule.envoy_header_matcher()]},
                "route": _route_action({state.candidate: 100}),
            }
        )
    routes.append(
        {
            "name": "production-traffic",
            "match": {"prefix": "/"},
            "route": _route_action({slot: pct for slot, pct in state.weights().items() if pct}),
        }
    )
    return {
        "version_info": version,
        "resources": [
            {
                "@type": ROUTE_TYPE_URL,
                "name": ROUTE_CONFIG_NAME,
                "virtual_hosts": [{"name": ROUTE_CONFIG_NAME, "domains": ["*"], "routes": routes}],
            }
        ],
    }


def _route_action(weights: dict[str, float]) -> dict:
    action: dict = {
        "timeout": REQUEST_TIMEOUT,
        "retry_policy": {
            "retry_on": RETRY_ON,
            "num_retries": NUM_RETRIES,
            # "Retries to another host": skip hosts already tried.
            "retry_host_predicate": [
                {
                    "name": "envoy.retry_host_predicates.previous_hosts",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
                    },
                }
            ],
            "host_selection_retry_max_attempts": 3,
        },
    }
    if len(weights) == 1:
        (slot,) = weights
        action["cluster"] = cluster_for(slot)  # type: ignore[arg-type]
    else:
        # Envoy splits by integer weights relative to their sum: a fraction of a
        # percent (a 0.1 % canary) is written in finer units, e.g. 100 of 100000.
        scale = next(s for s in (1, 10, 100, 1000) if all(float(round(p * s, 6)).is_integer() for p in weights.values())
                     or s == 1000)
        action["weighted_clusters"] = {
            "clusters": [{"name": cluster_for(slot), "weight": round(pct * scale)}  # type: ignore[arg-type]
                         for slot, pct in weights.items()]
        }
    return action
