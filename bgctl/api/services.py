"""Services of the ECS API: CreateService, UpdateService, DescribeServices, ListServices, DeleteService.

The kit runs the seed's pair (core/ecs_services.KIT_SERVICES): a Service Connect
service on port 3000 called `backend` -- whose new task definitions are deployed
blue/green onto the kit's backend slots -- and the `frontend` container behind
the load balancer on port 80, recorded and counted from its container. Any
other service with a Service Connect client alias or a load balancer gets a
stack of its own (api/service_stacks.py, core/service_stack.py), deployed the
same way on that stack's settings.
Everything is checked before anything changes (the task definition, its
images, the service definition as the deploy verb checks a file); the work
(bringing the stack up, the deployment) is handed to the worker, and the
answer describes the service as it is at that moment.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace

from bgctl.adapters.deployment_history import DeploymentHistory, history_dir, kept_deployments
from bgctl.adapters.docker_engine import DockerEngine
from bgctl.adapters.images import standin_images
from bgctl.adapters.project_files import load_config
from bgctl.adapters.state_file import StateFile
from bgctl.api.clusters import resolve_cluster
from bgctl.api.operations import Api, ApiError, client_error, invalid_parameter, operation
from bgctl.api.paging import page
from bgctl.api.service_jobs import create_job, ensure_up, ensure_up_then, rescale, run_in_worker, say_for, \
    serving_counts
from bgctl.api.service_stacks import bring_up, stack_settings
from bgctl.cli.down import take_down
from bgctl.api.task_definitions import resolve_task_definition
from bgctl.cli.service_definition import request_from_definition
from bgctl.cli.session import with_deployer
from bgctl.core.desired_count import DEFAULT_DESIRED_COUNT, parse_desired_count
from bgctl.core.arns import ServiceNames
from bgctl.core.ecs_records import KeptDeployment
from bgctl.core.ecs_services import (ACTIVE, BACKEND, FRONTEND, INACTIVE, KIT_SERVICES, OWN, ServiceView,
                                     as_update_input, ingress_port_tag,
                                     current_task_definition, desired_count, describe_service, kit_role,
                                     merged_definition, names_of, revision_source)
from bgctl.core.errors import BgctlError, InvalidInput
from bgctl.core.service_stack import Endpoint, endpoint_of, slot_prefix
from bgctl.core.service_definition import UPDATE_SERVICE, ServiceDefinition, parse_service_definition
from bgctl.core.settings import Settings
from bgctl.core.taskdef import Revision, parse_task_definition
from bgctl.core.topology import FRONTEND_SERVICE, SERVICE_CONNECT_PORT, slot_service

def service_not_found() -> ApiError:
    return ApiError("ServiceNotFoundException", "Service not found.")


# -- operations ---------------------------------------------------------------------------


@operation("CreateService")
def create_service(api: Api, body: dict) -> dict:
    cluster = resolve_cluster(api, body.get("cluster"))
    name = body["serviceName"]
    existing = api.store.service(cluster, name)
    if existing is not None and existing["status"] != INACTIVE:
        raise invalid_parameter("Creation of service was not idempotent.")
    role = kit_role(body)
    for other in api.store.services():
        if other["status"] == ACTIVE and other["role"] == role and role != OWN:
            raise client_error(f"The kit's {role} is already service {names_of(other).service_arn}; "
                               f"{KIT_SERVICES}, one of each.")
    definition = {k: v for k, v in body.items() if k not in ("cluster", "clientToken")}
    task_definition = resolve_task_definition(api, body["taskDefinition"])
    names = ServiceNames(name, cluster)
    sd = revision = None
    stack = None
    if role == OWN:
        endpoint = _endpoint(api, name, definition, task_definition)
        sd, revision = _checked(api, definition, names, task_definition, port=endpoint.container_port)
        stack = {"ingressPort": _ingress_port(api, definition, name), "dnsNames": list(endpoint.dns_names)}
    elif role == BACKEND:
        sd, revision = _checked(api, definition, names, task_definition)
    else:
        _check_frontend_count(definition, name)
        _check_images(api.settings, task_definition)
    now = time.time()
    record = {
        "serviceName": name, "clusterName": cluster, "role": role, "status": ACTIVE,
        "definition": definition, "taskDefinition": task_definition["taskDefinitionArn"],
        "createdTaskDefinition": task_definition["taskDefinitionArn"], "createdAt": now, "updatedAt": now,
        **({"stack": stack} if stack is not None else {}),
    }
    api.store.save_service(cluster, name, record)
    if role == OWN:
        job = _own_create_job(api, record, endpoint, revision, desired_count(record))
    else:
        job = create_job(api, names, sd, revision)
    api.worker.submit(f"create service {name}", job, key=names.service_arn)
    return {"service": describe_service(service_view(api, record))}


def _own_create_job(api: Api, record: dict, endpoint: Endpoint, revision: Revision, count: int):
    """The kit's stack up, then the service's own, running its first task definition (no deployment:
    ECS starts a new service's tasks directly)."""
    say = say_for(record["serviceName"])
    settings = stack_settings(api.settings, record)

    def job() -> None:
        ensure_up(api.settings, say)
        up = bring_up(settings, endpoint, revision, count, say)
        say(f"Service {endpoint.service} runs {count} task(s) of {revision.source}; {endpoint.describe()}; "
            f"its ingress {up.ingress_url}/")

    return job


def _endpoint(api: Api, name: str, definition: dict, task_definition: dict) -> Endpoint:
    """The service's endpoint, its DNS names free on the kit's network."""
    try:
        endpoint = endpoint_of(name, definition, task_definition)
    except InvalidInput as exc:
        raise client_error(str(exc)) from None
    for other in api.store.services():
        if other["status"] != ACTIVE or other["serviceName"] == name or other["role"] != OWN:
            continue
        taken = set(endpoint.dns_names) & set(other["stack"]["dnsNames"])
        if taken:
            raise client_error(f"Service {names_of(other).service_arn} already answers to {sorted(taken)[0]}.")
        if slot_prefix(other["serviceName"]) == slot_prefix(name):
            raise client_error(f"Service {name} would run its tasks under the names of service "
                               f"{names_of(other).service_arn} ({slot_prefix(name)}-blue); choose another name.")
    return endpoint


def _ingress_port(api: Api, definition: dict, name: str) -> int:
    """The port the service's ingress is published on: its tag bgctl:ingress-port, else 0 (Docker chooses)."""
    try:
        port = ingress_port_tag(definition)
    except ValueError as exc:
        raise invalid_parameter(f"Service {name}: {exc}") from None
    return port or 0


@operation("UpdateService")
def update_service(api: Api, body: dict) -> dict:
    cluster, name = service_ref(api, body["service"], body.get("cluster"))
    record = active_record(api, cluster, name)
    names = names_of(record)
    definition = merged_definition(record["definition"], body)
    view = service_view(api, record)
    current = current_task_definition(view)
    asked = body.get("taskDefinition")
    task_definition = resolve_task_definition(api, asked if asked is not None else current)
    arn = task_definition["taskDefinitionArn"]
    changed = arn != current
    if record["role"] == FRONTEND:
        if changed or body.get("forceNewDeployment"):
            raise client_error(f"The kit deploys only the Service Connect service (client alias port "
                               f"{SERVICE_CONNECT_PORT}); {name} is the frontend behind the ingress, whose container "
                               f"the kit runs as it is, so it takes settings but no new deployment.")
        _check_frontend_count(definition, name)
        record = {**record, "definition": definition, "updatedAt": time.time()}
        api.store.save_service(cluster, name, record)
        return {"service": describe_service(service_view(api, record))}
    if kit_role(definition) != record["role"]:
        raise client_error(f"Service {name} would no longer be the kit's {record['role']}: {KIT_SERVICES}.")
    settings = settings_of(api, record)
    port = None
    if record["role"] == OWN:
        endpoint = _endpoint(api, name, definition, task_definition)
        if endpoint != _endpoint(api, name, record["definition"], task_definition):
            raise client_error(f"Service {name}'s Service Connect and load balancer settings are those it was "
                               f"created with in the kit; create another service to change them.")
        port = endpoint.container_port
    if changed or body.get("forceNewDeployment"):
        _refuse_if_deploying(api, record)
        sd, revision = _checked(api, definition, names, task_definition, port=port)
        request = replace(request_from_definition(settings, sd, revision, config=load_config(settings)),
                          desired_count=desired_count({"definition": definition}))
        now = time.time()
        record = {**record, "definition": definition, "taskDefinition": arn, "previousTaskDefinition": current,
                  "updatedAt": now, "deploymentRequestedAt": now}
        api.store.save_service(cluster, name, record)
        api.worker.submit(f"deploy {name} {arn.rsplit('/', 1)[-1]}",
                          run_in_worker(api, name, lambda **kw: ensure_up_then(
                              api.settings, kw["progress"], lambda: with_deployer(
                                  settings, action=lambda deployer: deployer.start(request), **kw)),
                                        settings=settings),
                          key=names.service_arn)
    else:
        # Only settings: recorded for the next deployment. A new desiredCount applies at once, in
        # place, as ECS scales a service without a deployment.
        count = desired_count({"definition": definition})
        scale_now = "desiredCount" in body and count != desired_count(record)
        if scale_now:
            _refuse_if_deploying(api, record)
            _check_count(definition, name)
        record = {**record, "definition": definition, "updatedAt": time.time()}
        api.store.save_service(cluster, name, record)
        if scale_now:
            api.worker.submit(f"scale {name} to {count}",
                              run_in_worker(api, name, lambda **kw: rescale(settings, count, kw["progress"]),
                                            settings=settings),
                              key=names.service_arn)
    return {"service": describe_service(service_view(api, record))}


def _check_frontend_count(definition: dict, name: str) -> None:
    if definition.get("desiredCount", DEFAULT_DESIRED_COUNT) != 1:
        raise invalid_parameter(f"Service {name} is the kit's frontend, the one nginx task behind the ingress: "
                                f"its desiredCount must be 1, not {definition.get('desiredCount')}.")


def _check_count(definition: dict, name: str) -> None:
    try:
        parse_desired_count(definition.get("desiredCount", DEFAULT_DESIRED_COUNT), name="desiredCount")
    except InvalidInput as exc:
        raise invalid_parameter(f"Service {name}: {exc}") from None


@operation("DescribeServices")
def describe_services(api: Api, body: dict) -> dict:
    cluster = resolve_cluster(api, body.get("cluster"))
    found, failures = [], []
    for ref in body["services"]:
        _, name = service_ref(api, ref, cluster)
        record = api.store.service(cluster, name)
        if record is None:
            failures.append({"arn": ServiceNames(name, cluster).service_arn, "reason": "MISSING"})
        else:
            found.append(describe_service(service_view(api, record)))
    return {"services": found, "failures": failures}


@operation("ListServices")
def list_services(api: Api, body: dict) -> dict:
    cluster = resolve_cluster(api, body.get("cluster"))
    arns = sorted(names_of(r).service_arn for r in api.store.services(cluster) if r["status"] == ACTIVE)
    chosen, token = page(arns, body)
    return {"serviceArns": chosen, **({"nextToken": token} if token else {})}


@operation("DeleteService")
def delete_service(api: Api, body: dict) -> dict:
    cluster, name = service_ref(api, body["service"], body.get("cluster"))
    record = active_record(api, cluster, name)
    if not body.get("force") and desired_count(record) > 0:
        raise invalid_parameter("The service cannot be stopped while it is scaled above 0.")
    _refuse_if_deploying(api, record)
    now = time.time()
    # The kit's containers stay up (the other service may need them): bgctl down removes them. A
    # service's own stack goes, with its records (its deployments are described until then).
    deleted = {**record, "status": INACTIVE, "deletedAt": now, "updatedAt": now}
    api.store.save_service(cluster, name, deleted)
    if record["role"] == OWN:
        settings = settings_of(api, record)
        api.worker.submit(f"delete service {name}", lambda: take_down(settings), key=names_of(record).service_arn)
    answer = describe_service(service_view(api, deleted))
    return {"service": {**answer, "status": "DRAINING"}}


# -- what the operations share -------------------------------------------------------------


def service_view(api: Api, record: dict) -> ServiceView:
    """The record with what Docker and the deployment records say about it now."""
    names = names_of(record)
    working = api.worker is not None and api.worker.working_on(names.service_arn)
    if record["status"] != ACTIVE:
        return ServiceView(record, tuple(service_deployments(api, record)), now=time.time())
    settings = settings_of(api, record)
    serving = serving_counts(settings, _engine())
    if record["role"] == FRONTEND:
        return ServiceView(record, running=serving.get(FRONTEND_SERVICE, 0), working=working, now=time.time())
    kept = tuple(service_deployments(api, record))
    latest = kept[0].deployment if kept else None
    if latest is not None and not latest.finished_:
        return ServiceView(record, kept, running=serving.get(slot_service(latest.source, settings.service), 0),
                           candidate_running=serving.get(slot_service(latest.target, settings.service), 0),
                           working=working,
                           now=time.time())
    state = StateFile(settings.state_file).load()
    running = serving.get(slot_service(state.traffic.production, settings.service), 0) if state is not None else 0
    return ServiceView(record, kept, running=running, working=working, now=time.time())


def settings_of(api: Api, record: dict) -> Settings:
    """The settings of the stack the service runs on: the kit's, or its own."""
    return stack_settings(api.settings, record) if record["role"] == OWN else api.settings


def service_deployments(api: Api, record: dict) -> list[KeptDeployment]:
    """The service's deployments, newest first."""
    names = names_of(record)
    settings = settings_of(api, record)
    kept = kept_deployments(DeploymentHistory(history_dir(settings.state_dir)),
                            StateFile(settings.state_file).load())
    return [k for k in kept if (k.deployment.names.service, k.deployment.names.cluster) == (names.service,
                                                                                          names.cluster)]


def service_ref(api: Api, ref: str, cluster: str | None) -> tuple[str, str]:
    """(cluster, service name) from a name or a service ARN (arn:...:service/CLUSTER/NAME)."""
    if ref.startswith("arn:"):
        parts = ref.split(":", 5)[-1].split("/")
        if len(parts) == 3 and parts[0] == "service":
            return resolve_cluster(api, parts[1]), parts[2]
        raise invalid_parameter(f"{ref} is not a service ARN.")
    return resolve_cluster(api, cluster), ref


def active_record(api: Api, cluster: str, name: str) -> dict:
    record = api.store.service(cluster, name)
    if record is None or record["status"] != ACTIVE:
        raise service_not_found()
    return record


def _refuse_if_deploying(api: Api, record: dict) -> None:
    names = names_of(record)
    state = StateFile(settings_of(api, record).state_file).load()
    d = state.deployment if state is not None else None
    if d is not None and not d.finished_:
        arn = d.names.service_deployment_arn(d.id)
        raise client_error(f"Service deployment {arn} is in progress ({d.status}, {d.stage}); wait for it to end, "
                           f"or stop it with aws ecs stop-service-deployment.")
    if api.worker.working_on(names.service_arn):
        raise client_error(f"The kit is still bringing service {names.service} to its task definition; "
                           f"wait for it (aws ecs wait services-stable).")


def _checked(api: Api, definition: dict, names: ServiceNames, task_definition: dict,
             port: int | None = None) -> tuple[ServiceDefinition, Revision]:
    """The service's definition and revision (of the container serving `port`, by default the backend's
    Service Connect port), checked as `bgctl deploy --service-definition` checks a file."""
    config = load_config(api.settings)
    family, number = task_definition["family"], task_definition["revision"]
    if (definition.get("deploymentConfiguration") or {}).get("strategy") is None:
        # The file path refuses it the same way (core/service_definition.py); UpdateService's
        # parse cannot tell, since an update may leave the strategy to the service.
        raise invalid_parameter(
            f"Service {names.service} has no deploymentConfiguration.strategy, which ECS takes as ROLLING; the kit "
            f"reproduces ECS's blue/green strategies only: set strategy BLUE_GREEN, LINEAR or CANARY.")
    try:
        sd = parse_service_definition(as_update_input(definition, names.service, names.cluster),
                                      source=f"Service {names.service}", operation=UPDATE_SERVICE,
                                      functions=config.functions.keys(), config_name=api.settings.config_path.name)
        revision = parse_task_definition(json.dumps(task_definition), source=revision_source(family, number),
                                         service_connect_port=port or SERVICE_CONNECT_PORT)
    except InvalidInput as exc:
        raise client_error(str(exc)) from None
    _check_images(api.settings, task_definition)
    return sd, revision


def _check_images(settings: Settings, task_definition: dict) -> None:
    """Every container's image is here, or a registry gives it now; else one sentence, nothing changed.

    The official nginx and Envoy names are the kit's own (bgctl up pulls or builds their stand-ins).
    """
    kit = standin_images(settings.project_dir)
    engine = _engine()
    where = f"{task_definition['family']}:{task_definition['revision']}"
    for container in task_definition.get("containerDefinitions") or ():
        image = container.get("image") or ""
        if kit.resolve(image) != image or engine.image_exists(image) or engine.pull(image) is None:
            continue
        raise client_error(
            f"The image {image} of container {container.get('name')} in task definition {where} is not available "
            f"locally and no registry answers; make it available with docker load -i FILE.tar, "
            f"docker build -t {image} DIR, or docker tag IMAGE {image}.")


_ENGINE: list[DockerEngine] = []


def _engine() -> DockerEngine:
    """One Engine API connection for the handlers (they run one at a time, under the API's lock)."""
    if not _ENGINE:
        try:
            _ENGINE.append(DockerEngine.connect())
        except BgctlError as exc:
            raise ApiError("ServerException", str(exc), status=500) from None
    return _ENGINE[0]

