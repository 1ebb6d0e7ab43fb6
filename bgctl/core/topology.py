"""The stack's shape, named once: which Compose service and Envoy cluster is which.

Today's configuration is the seed's: one service (`backend`) with two slots
(blue and green), reached on the Service Connect port 3000. Everything that
spells a slot's service or cluster name, the port, or the Envoy and frontend
services asks here, so that more services or slots change one module.
"""

from __future__ import annotations

# The Envoy container: the ALB (ingress listener) and the Service Connect data plane.
ENVOY_SERVICE = "service-connect"
FRONTEND_SERVICE = "frontend"
# The Service Connect service whose revisions are deployed, and its client alias port.
DEPLOYED_SERVICE = "backend"
SERVICE_CONNECT_PORT = 3000
# The deployed service's slots: production runs in one, a deployment's candidate in the other.
SLOTS: tuple[str, ...] = ("blue", "green")


def slot_service(slot: str, service: str = DEPLOYED_SERVICE) -> str:
    """The Compose service that runs `slot`'s task (also its Envoy cluster's name)."""
    return f"{service}-{slot}"


def cluster_for(slot: str, service: str = DEPLOYED_SERVICE) -> str:
    """The Envoy cluster that holds `slot`'s tasks."""
    return slot_service(slot, service)
