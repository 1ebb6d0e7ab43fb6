"""CreateCluster, DescribeClusters, ListClusters; and the cluster a service's `cluster` parameter names.

A cluster is only a name here (every service runs on the one Compose stack),
kept so that scripts that create one first, or describe one to check it, work.
ECS's "default" cluster always exists: ECS creates it for the first service
that names no cluster, and a script cannot tell the difference.
"""

from __future__ import annotations

from bgctl.api.operations import Api, ApiError, invalid_parameter, operation
from bgctl.api.paging import page
from bgctl.core.arns import DEFAULT_CLUSTER, cluster_arn
from bgctl.core.ecs_resources import cluster_answer, cluster_name, created_cluster, missing_cluster, valid_name
from bgctl.core.errors import InvalidInput


@operation("CreateCluster")
def create_cluster(api: Api, body: dict) -> dict:
    """Idempotent as ECS's: a name that exists answers the existing cluster, unchanged."""
    name = body.get("clusterName") or DEFAULT_CLUSTER
    if not valid_name(name):
        raise invalid_parameter(f"Cluster name {name!r} is not valid: up to 255 letters (uppercase and "
                                "lowercase), numbers, hyphens, and underscores are allowed.")
    kept = api.store.cluster(name)
    if kept is None:
        kept = created_cluster(body)
        api.store.save_cluster(name, kept)
    return {"cluster": cluster_answer(kept, api.store.services(name))}


@operation("DescribeClusters")
def describe_clusters(api: Api, body: dict) -> dict:
    clusters, failures = [], []
    for reference in body.get("clusters") or [DEFAULT_CLUSTER]:
        kept = _kept(api, reference)
        if kept is None:
            failures.append(missing_cluster(reference))
        else:
            clusters.append(cluster_answer(kept, api.store.services(kept["clusterName"]),
                                           include=body.get("include") or ()))
    return {"clusters": clusters, "failures": failures}


@operation("ListClusters")
def list_clusters(api: Api, body: dict) -> dict:
    items, token = page([cluster_arn(name) for name in cluster_names(api)], body)
    return {"clusterArns": items, **({"nextToken": token} if token else {})}


def cluster_names(api: Api) -> list[str]:
    """Every cluster's name: those created, and "default"."""
    return sorted({DEFAULT_CLUSTER, *(c["clusterName"] for c in api.store.clusters())})


def resolve_cluster(api: Api, name_or_arn: str | None) -> str:
    """The name of the cluster a `cluster` parameter names (none: "default"); ClusterNotFoundException
    as ECS answers it for one that was never created."""
    kept = _kept(api, name_or_arn)
    if kept is None:
        raise ApiError("ClusterNotFoundException", "Cluster not found.")
    return kept["clusterName"]


def _kept(api: Api, reference: str | None) -> dict | None:
    try:
        name = cluster_name(reference)
    except InvalidInput:
        return None
    if not valid_name(name):
        return None
    return api.store.cluster(name) or (created_cluster({}) if name == DEFAULT_CLUSTER else None)
