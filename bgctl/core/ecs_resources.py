"""Task definitions and clusters as ECS answers them on the wire, and references to them as ECS accepts them.

Pure: callers pass the time (`now`, epoch seconds, as timestamps travel on
ECS's JSON wire) and what the store holds. Every record has only keys that
botocore's output shapes know (tests check with adapters/ecs_model.output_problems),
so an SDK hands a script exactly what it would get from ECS.

A kept task definition is `{"taskDefinition": ..., "tags": [...]}`: the shape
`aws ecs describe-task-definition --include TAGS` prints, so the file in the
store can be fed back to `bgctl deploy` or `register-task-definition` as is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bgctl.core.arns import DEFAULT_CLUSTER, cluster_arn, ecs_resource_id, task_definition_arn
from bgctl.core.errors import InvalidInput

ACTIVE = "ACTIVE"
INACTIVE = "INACTIVE"
# ECS's rule for family and cluster names (RegisterTaskDefinition, CreateCluster). It also keeps
# a name safe as a file name in the store.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
# The launch types in ECS's order (botocore's Compatibility enum).
_COMPATIBILITIES = ("EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES")
# DescribeClusters' `include` values and the Cluster members each one adds.
_CLUSTER_INCLUDES = {"TAGS": "tags", "SETTINGS": "settings", "CONFIGURATIONS": "configuration",
                     "STATISTICS": "statistics", "ATTACHMENTS": "attachments"}
# CreateCluster's members that a Cluster record keeps as they were asked for.
_CLUSTER_KEPT = ("tags", "settings", "configuration", "capacityProviders", "defaultCapacityProviderStrategy",
                 "serviceConnectDefaults")


def valid_name(name: str) -> bool:
    return bool(_NAME.match(name))


def timestamp(now: float) -> float:
    """A timestamp as ECS's JSON wire carries it: epoch seconds, to the millisecond."""
    return round(now, 3)


# Task definitions


@dataclass(frozen=True)
class TaskDefinitionReference:
    """A task definition as ECS's `taskDefinition` parameters name it; revision None: the latest ACTIVE one."""

    family: str
    revision: int | None = None

    @classmethod
    def parse(cls, text: str) -> "TaskDefinitionReference":
        """`family`, `family:revision` or a task definition ARN; InvalidInput (one sentence) otherwise."""
        name = ecs_resource_id(text, "task-definition")
        if name is None and text.startswith("arn:"):
            raise InvalidInput(f"{text} is not a task definition ARN.")
        family, sep, revision = (name or text).partition(":")
        if not valid_name(family) or (sep and not (revision.isdigit() and int(revision) > 0)):
            raise InvalidInput(f"{text!r} is not a task definition: give family, family:revision or its ARN.")
        return cls(family, int(revision) if sep else None)

    def __str__(self) -> str:
        return self.family if self.revision is None else f"{self.family}:{self.revision}"


def registered_task_definition(request: Mapping, *, revision: int, now: float) -> dict:
    """The kept task definition for a RegisterTaskDefinition `request` (already valid by the model)."""
    definition = {key: value for key, value in request.items() if key != "tags"}
    definition.update({
        "taskDefinitionArn": task_definition_arn(request["family"], revision),
        "revision": revision,
        "status": ACTIVE,
        "requiresAttributes": [],
        "compatibilities": compatibilities(request.get("requiresCompatibilities") or ()),
        "registeredAt": timestamp(now),
    })
    return {"taskDefinition": definition, "tags": list(request.get("tags") or [])}


def compatibilities(required: Iterable[str]) -> list[str]:
    """The launch types ECS reports a definition compatible with.

    EC2 is always among them (a definition valid for any launch type is valid on
    EC2 instances); one that asks for none is reported as EC2 and FARGATE, as
    the kit runs both alike.
    """
    asked = set(required) or {"FARGATE"}
    return [c for c in _COMPATIBILITIES if c in asked | {"EC2"}]


def deregistered(kept: Mapping, *, now: float) -> dict:
    """`kept` after DeregisterTaskDefinition: INACTIVE, still describable."""
    definition = {**kept["taskDefinition"], "status": INACTIVE, "deregisteredAt": timestamp(now)}
    return {**kept, "taskDefinition": definition}


def task_definition_answer(kept: Mapping, *, include_tags: bool) -> dict:
    """RegisterTaskDefinition's and DescribeTaskDefinition's output for `kept`."""
    answer: dict = {"taskDefinition": kept["taskDefinition"]}
    if include_tags:
        answer["tags"] = list(kept.get("tags") or [])
    return answer


def latest_active(kept: Iterable[Mapping]) -> Mapping | None:
    """The ACTIVE revision with the highest number among `kept` (one family's), if any."""
    active = [k for k in kept if k["taskDefinition"]["status"] == ACTIVE]
    return max(active, key=lambda k: k["taskDefinition"]["revision"], default=None)


# Clusters


def cluster_name(reference: str | None) -> str:
    """The cluster a `cluster` parameter names (a name or an ARN; none: ECS's default cluster)."""
    if not reference:
        return DEFAULT_CLUSTER
    name = ecs_resource_id(reference, "cluster")
    if name is None and reference.startswith("arn:"):
        raise InvalidInput(f"{reference} is not a cluster ARN.")
    return name or reference


def created_cluster(request: Mapping) -> dict:
    """The kept Cluster for a CreateCluster `request` (its counts are added when it is described)."""
    name = request.get("clusterName") or DEFAULT_CLUSTER
    record = {"clusterArn": cluster_arn(name), "clusterName": name, "status": ACTIVE}
    record.update({key: request[key] for key in _CLUSTER_KEPT if key in request})
    return record


def cluster_answer(kept: Mapping, services: Iterable[Mapping], *, include: Iterable[str] = tuple(_CLUSTER_INCLUDES)
                   ) -> dict:
    """ECS's Cluster for `kept` with the counts of its `services` (ECS Service records); the members
    DescribeClusters' `include` asks for (CreateCluster answers all of them)."""
    services = [s for s in services if s.get("status") == ACTIVE]
    answer = {
        "clusterArn": kept["clusterArn"],
        "clusterName": kept["clusterName"],
        "status": kept["status"],
        "registeredContainerInstancesCount": 0,
        "runningTasksCount": sum(int(s.get("runningCount") or 0) for s in services),
        "pendingTasksCount": sum(int(s.get("pendingCount") or 0) for s in services),
        "activeServicesCount": len(services),
        "statistics": [],
        "tags": [],
        "capacityProviders": list(kept.get("capacityProviders") or []),
        "defaultCapacityProviderStrategy": list(kept.get("defaultCapacityProviderStrategy") or []),
    }
    if "serviceConnectDefaults" in kept:
        answer["serviceConnectDefaults"] = kept["serviceConnectDefaults"]
    wanted = {_CLUSTER_INCLUDES[i] for i in include if i in _CLUSTER_INCLUDES}
    for member in wanted & {"tags", "settings", "configuration"}:
        if member in kept:
            answer[member] = kept[member]
    if "settings" in wanted and "settings" not in kept:
        answer["settings"] = [{"name": "containerInsights", "value": "disabled"}]
    return answer


def missing_cluster(reference: str) -> dict:
    """DescribeClusters' failure for a cluster that does not exist."""
    name = cluster_name(reference)
    return {"arn": cluster_arn(name) if valid_name(name) else reference, "reason": "MISSING"}
