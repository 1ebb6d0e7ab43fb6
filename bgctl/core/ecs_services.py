"""ECS services as `bgctl serve` keeps and describes them: DescribeServices' `Service`, from a record.

Pure: the API (bgctl/api/services.py) stores a service as the CreateService
input merged with every UpdateService since (`definition`), plus its name,
cluster, task definition ARN, status and times; this module decides which of
the kit's two services a definition is, merges an update as ECS does (a field
left out keeps the service's current setting), and builds ECS's `Service` from
the record, the service's deployment records (core/ecs_records.py) and the
running counts the API read from Docker.

`deployments` is what `aws ecs wait services-stable` reads: one PRIMARY entry
when the service is settled, and an ACTIVE entry for the source beside the
PRIMARY while a deployment runs (to its CLEAN_UP), so the waiter waits for it.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bgctl.core.arns import ServiceNames
from bgctl.core.ecs_records import KeptDeployment
from bgctl.core.stages import Status
from bgctl.core.taskdef import Revision
from bgctl.core.topology import SERVICE_CONNECT_PORT

BACKEND, FRONTEND = "backend", "frontend"
# Any other service with a client alias or a load balancer: a stack of its own (core/service_stack.py).
OWN = "own"
# The seed's frontend: nginx on port 80 behind the ALB (the kit's ingress listener).
FRONTEND_CONTAINER_PORT = 80
KIT_SERVICES = (f"the kit's own two services are the seed's: a Service Connect service whose clientAliases "
                f"port is {SERVICE_CONNECT_PORT} named backend (deployed blue/green on the kit's backend slots) "
                f"and a service with loadBalancers to container frontend port {FRONTEND_CONTAINER_PORT} (the "
                f"frontend behind the ingress); any other service with a client alias or a load balancer runs "
                f"in a stack of its own")
# CreateService's tag choosing the port a service's own ingress is published on (127.0.0.1).
INGRESS_PORT_TAG = "bgctl:ingress-port"
ACTIVE, DRAINING, INACTIVE = "ACTIVE", "DRAINING", "INACTIVE"
DEFAULT_DESIRED_COUNT = 1
# A Revision built from a registered task definition carries this as its source,
# so a deployment record names the task definition it ran.
_SOURCE_PREFIX = "task definition "
# UpdateService members that name or trigger the update rather than configure the service.
_UPDATE_ONLY = frozenset({"service", "cluster", "forceNewDeployment"})
# CreateService input members that ECS's Service output carries under the same name and shape.
_DESCRIBED = ("loadBalancers", "serviceRegistries", "launchType", "capacityProviderStrategy", "platformVersion",
              "deploymentConfiguration", "placementConstraints", "placementStrategy", "networkConfiguration",
              "healthCheckGracePeriodSeconds", "deploymentController", "tags", "enableECSManagedTags",
              "propagateTags", "enableExecuteCommand", "availabilityZoneRebalancing")
ROLLED_BACK = frozenset({Status.ROLLBACK_SUCCESSFUL, Status.ROLLBACK_FAILED})


def kit_role(definition: Mapping[str, Any]) -> str:
    """BACKEND or FRONTEND for the seed's services; OWN for any other."""
    sc = definition.get("serviceConnectConfiguration") or {}
    if sc.get("enabled", True) and any(
            alias.get("port") == SERVICE_CONNECT_PORT
            and (alias.get("dnsName") or s.get("discoveryName") or BACKEND).split(".")[0] == BACKEND
            for s in sc.get("services") or () for alias in s.get("clientAliases") or ()):
        return BACKEND
    if any(lb.get("containerPort") == FRONTEND_CONTAINER_PORT and lb.get("containerName") == FRONTEND
           for lb in definition.get("loadBalancers") or ()):
        return FRONTEND
    return OWN


def ingress_port_tag(definition: Mapping[str, Any]) -> int | None:
    """The port the service's tag bgctl:ingress-port asks for; ValueError when it is not a port."""
    for tag in definition.get("tags") or ():
        if tag.get("key") == INGRESS_PORT_TAG:
            value = str(tag.get("value", ""))
            if not value.isdigit() or not 1 <= int(value) <= 65535:
                raise ValueError(f"tag {INGRESS_PORT_TAG} must be a port number from 1 to 65535, not {value!r}.")
            return int(value)
    return None


def merged_definition(current: Mapping[str, Any], update: Mapping[str, Any]) -> dict:
    """`update` (UpdateService's input) over `current`: a field left out keeps the service's setting,
    and deploymentConfiguration is merged member by member, as ECS does."""
    merged = dict(current)
    for key, value in update.items():
        if key in _UPDATE_ONLY:
            continue
        if key == "deploymentConfiguration" and isinstance(current.get(key), Mapping):
            merged[key] = {**current[key], **value}
        else:
            merged[key] = value
    return merged


def as_update_input(definition: Mapping[str, Any], service: str, cluster: str) -> dict:
    """The service's whole definition as UpdateService's input, for core/service_definition.py."""
    data = {k: v for k, v in definition.items() if k not in ("serviceName", "clientToken")}
    return {**data, "service": service, "cluster": cluster}


def revision_source(family: str, revision: int) -> str:
    return f"{_SOURCE_PREFIX}{family}:{revision}"


def task_definition_arn(revision: Revision | None, names: ServiceNames) -> str | None:
    """The registered task definition a revision was built from (its source), or None (a shipped one)."""
    if revision is None or not revision.source.startswith(_SOURCE_PREFIX):
        return None
    family, _, number = revision.source[len(_SOURCE_PREFIX):].rpartition(":")
    return names.task_definition_arn(family, int(number)) if number.isdigit() else None


def same_revision(a: Revision, b: Revision) -> bool:
    """Whether two revisions run the same thing (where they were read from aside)."""
    def runs(r: Revision) -> dict:
        return {k: v for k, v in r.to_dict().items() if k not in ("source", "ignored")}
    return runs(a) == runs(b)


@dataclass(frozen=True)
class ServiceView:
    """What DescribeServices needs beyond the record, read by the API.

    `deployments`: the service's own deployment records, newest first. `running`:
    tasks serving the service's settled revision (during a deployment, the source's).
    `candidate_running`: tasks of the deployment's target. `working`: the API's worker
    is bringing the service to its task definition and no deployment record says so yet.
    """

    record: Mapping[str, Any]
    deployments: tuple[KeptDeployment, ...] = ()
    running: int = 0
    candidate_running: int = 0
    working: bool = False
    now: float = 0.0


def names_of(record: Mapping[str, Any]) -> ServiceNames:
    return ServiceNames(record["serviceName"], record["clusterName"])


def desired_count(record: Mapping[str, Any]) -> int:
    value = record["definition"].get("desiredCount")
    return DEFAULT_DESIRED_COUNT if value is None else int(value)


def in_flight(view: ServiceView) -> KeptDeployment | None | bool:
    """The unfinished deployment of the service, True while the worker works without one, else None."""
    latest = view.deployments[0] if view.deployments else None
    if latest is not None and not latest.deployment.finished_:
        return latest
    return True if view.working else None


def current_task_definition(view: ServiceView) -> str:
    """The task definition the service runs: the one last asked for, unless its deployment rolled back.

    A deployment asked for after the latest record began (its record not yet written by the worker)
    is the service's: the rollback of an earlier deployment of the same task definition is not its.
    """
    record = view.record
    latest = view.deployments[0] if view.deployments else None
    names = names_of(record)
    if latest is not None and latest.deployment.status in ROLLED_BACK \
            and latest.deployment.created >= record.get("deploymentRequestedAt", 0) \
            and task_definition_arn(latest.deployment.revision, names) == record["taskDefinition"]:
        return task_definition_arn(latest.source_revision, names) or record.get("previousTaskDefinition") \
            or record["taskDefinition"]
    return record["taskDefinition"]


def describe_service(view: ServiceView) -> dict:
    """ECS's Service (an item of DescribeServices, and CreateService/UpdateService/DeleteService's answer)."""
    record = view.record
    names = names_of(record)
    definition = record["definition"]
    active = record["status"] == ACTIVE
    desired = desired_count(record) if active else 0
    deployments = _deployments(view, desired) if active else []
    running = sum(d["runningCount"] for d in deployments)
    service: dict = {
        "serviceArn": names.service_arn,
        "serviceName": names.service,
        "clusterArn": names.cluster_arn,
        "status": record["status"],
        "desiredCount": desired,
        "runningCount": running,
        "pendingCount": sum(d["pendingCount"] for d in deployments),
        "taskDefinition": current_task_definition(view),
        "deployments": deployments,
        "events": service_events(view),
        "createdAt": record["createdAt"],
        "schedulingStrategy": "REPLICA",
        "deploymentController": {"type": "ECS"},
    }
    service.update({key: definition[key] for key in _DESCRIBED if definition.get(key) is not None})
    latest = view.deployments[0] if view.deployments else None
    if latest is not None:
        service["currentServiceDeployment"] = names.service_deployment_arn(latest.deployment.id)
    return service


def _deployments(view: ServiceView, desired: int) -> list[dict]:
    record = view.record
    names = names_of(record)
    flight = in_flight(view)
    if flight is None:
        latest = view.deployments[0] if view.deployments else None
        failed = latest is not None and latest.deployment.status == Status.ROLLBACK_FAILED
        key = latest.deployment.id if latest is not None else record["createdAt"]
        reason = _settled_reason(latest)
        return [_entry("PRIMARY", key, current_task_definition(view), desired, view.running,
                       created=record.get("updatedAt") or record["createdAt"],
                       updated=(latest.updated if latest and latest.updated else None) or record["createdAt"],
                       rollout="FAILED" if failed else "COMPLETED", reason=reason, record=record)]
    if flight is True:
        target, key, created, source = record["taskDefinition"], f"work-{record.get('updatedAt')}", \
            record.get("updatedAt") or record["createdAt"], record.get("previousTaskDefinition")
        candidate, sources = 0, view.running
    else:
        d = flight.deployment
        target = task_definition_arn(d.revision, names) or record["taskDefinition"]
        source = task_definition_arn(flight.source_revision, names) or record.get("previousTaskDefinition") \
            or record["taskDefinition"]
        key, created = d.id, d.created
        candidate, sources = view.candidate_running, view.running
    updated = max([created] + [k.updated for k in view.deployments[:1] if k.updated])
    entries = [_entry("PRIMARY", key, target, desired, candidate, created=created, updated=updated,
                      rollout="IN_PROGRESS", reason=f"ECS deployment {_deployment_id(key)} in progress.",
                      record=record)]
    if source is not None and sources:
        entries.append(_entry("ACTIVE", f"{key}-source", source, 0, sources, created=record["createdAt"],
                              updated=updated, rollout="COMPLETED", reason=None, record=record))
    return entries


def _settled_reason(latest: KeptDeployment | None) -> str:
    if latest is None:
        return "ECS deployment completed."
    d = latest.deployment
    if d.status == Status.SUCCESSFUL:
        return f"ECS deployment {_deployment_id(d.id)} completed."
    return f"ECS deployment {_deployment_id(d.id)} rolled back ({d.status}): {d.reason or 'no reason recorded'}"


def _entry(status: str, key: Any, task_definition: str, desired: int, running: int, *, created: float,
           updated: float, rollout: str, reason: str | None, record: Mapping[str, Any]) -> dict:
    entry = {
        "id": _deployment_id(key),
        "status": status,
        "taskDefinition": task_definition,
        "desiredCount": desired,
        "pendingCount": max(0, desired - running) if status == "PRIMARY" else 0,
        "runningCount": running,
        "failedTasks": 0,
        "createdAt": created,
        "updatedAt": updated,
        "rolloutState": rollout,
    }
    if reason:
        entry["rolloutStateReason"] = reason
    launch = record["definition"].get("launchType")
    if launch:
        entry["launchType"] = launch
    return entry


def _deployment_id(key: Any) -> str:
    """An ECS deployment id (ecs-svc/ and 19 digits), the same for the same deployment on every call."""
    digest = hashlib.sha256(str(key).encode()).hexdigest()
    return "ecs-svc/" + str(int(digest[:16], 16) % 10**19).rjust(19, "1")


def service_events(view: ServiceView) -> list[dict]:
    """The service's events, newest first, from its record and its deployments (ECS keeps the last 100)."""
    record = view.record
    names = names_of(record)
    who = f"(service {names.service})"
    events: list[tuple[float, str]] = [(record["createdAt"], f"{who} was created with task definition "
                                                              f"{_short(record['createdTaskDefinition'])}.")]
    for k in view.deployments:
        d = k.deployment
        arn = names.service_deployment_arn(d.id)
        events.append((d.created, f"{who} has started service deployment {arn}."))
        if d.finished is None:
            continue
        if d.status == Status.SUCCESSFUL:
            events.append((d.finished, f"{who} service deployment {arn} completed."))
        else:
            events.append((d.finished, f"{who} service deployment {arn} ended {d.status}: "
                                       f"{d.reason or 'no reason recorded'}."))
    if record["status"] != ACTIVE:
        events.append((record.get("deletedAt") or view.now,
                       f"{who} was deleted; the kit's containers keep running (bgctl down removes them)."))
    elif in_flight(view) is None and view.running >= desired_count(record):
        settled = max(t for t, _ in events)
        events.append((settled, f"{who} has reached a steady state."))
    # Newest first; of two at the same moment, the one that followed from the other first.
    ordered = [e for _, e in sorted(enumerate(events), key=lambda ie: (ie[1][0], ie[0]), reverse=True)]
    return [{"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{names.service_arn}#{at}#{message}")),
             "createdAt": at, "message": message} for at, message in ordered[:100]]


def _short(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]
