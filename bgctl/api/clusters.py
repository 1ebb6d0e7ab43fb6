"""clusters operations of the ECS API.

STUB in branch apisvc (the taskdefs branch writes the real module): only
`resolve_cluster`, which services and service deployments need.
"""

from __future__ import annotations

from bgctl.api.operations import Api, ApiError
from bgctl.core.arns import DEFAULT_CLUSTER


def resolve_cluster(api: Api, name_or_arn: str | None) -> str:
    """The cluster's name; "default" always exists, any other must have been created."""
    name = (name_or_arn or DEFAULT_CLUSTER).rsplit("/", 1)[-1]
    if name == DEFAULT_CLUSTER or api.store.cluster(name) is not None:
        return name
    raise ApiError("ClusterNotFoundException", "Cluster not found.")
