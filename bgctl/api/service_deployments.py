"""Service deployments of the ECS API: List, Describe, Continue and Stop.

The records are the ones `bgctl deployments` and `bgctl describe` read
(adapters/deployment_history.py, core/ecs_records.py), filtered by service;
continuing and rolling back are the verbs `bgctl continue` and `bgctl rollback`.
StopServiceDeployment runs `bgctl rollback`'s logic beside the worker: when the
worker's deployer holds the stack's lock (a flock is per open file, so this
process sees StackBusy too), it asks that deployer through the rollback request
file, as `bgctl rollback` from another terminal does, and waits for the outcome.
"""

from __future__ import annotations

from bgctl.adapters.deployment_history import DeploymentHistory, history_dir, kept_deployments
from bgctl.adapters.state_file import StateFile
from bgctl.api.operations import Api, ApiError, client_error, operation
from bgctl.api.paging import page
from bgctl.api.service_jobs import run_in_worker
from bgctl.adapters.project_files import own_stacks
from bgctl.api.services import service_deployments, service_ref
from bgctl.cli.continue_ import run_continue
from bgctl.cli.rollback import run_rollback
from bgctl.core.ecs_records import (KeptDeployment, describe_service_deployments, list_service_deployments,
                                    service_deployment_brief)
from bgctl.core.settings import Settings

CONTINUE, ROLLBACK, ABORT = "CONTINUE", "ROLLBACK", "ABORT"


def deployment_not_found(arn: str) -> ApiError:
    return ApiError("ServiceDeploymentNotFoundException", f"Service deployment {arn} not found.")


@operation("ListServiceDeployments")
def list_deployments(api: Api, body: dict) -> dict:
    cluster, name = service_ref(api, body["service"], body.get("cluster"))
    record = api.store.service(cluster, name)
    if record is None:
        raise ApiError("ServiceNotFoundException", "Service not found.")
    kept = service_deployments(api, record)
    statuses = set(body.get("status") or ())
    created = body.get("createdAt") or {}
    chosen = [k for k in kept
              if (not statuses or k.deployment.status.value in statuses)
              and (created.get("after") is None or k.deployment.created >= float(created["after"]))
              and (created.get("before") is None or k.deployment.created <= float(created["before"]))]
    found, token = page(chosen, body)
    return list_service_deployments(found, token)


@operation("DescribeServiceDeployments")
def describe_deployments(api: Api, body: dict) -> dict:
    kept = _all(api)
    found, missing = [], []
    for arn in body["serviceDeploymentArns"]:
        match = _find(kept, arn)
        if match is None:
            missing.append(arn)
        else:
            found.append(match[1])
    return describe_service_deployments(found, missing)


@operation("ContinueServiceDeployment")
def continue_deployment(api: Api, body: dict) -> dict:
    arn = body["serviceDeploymentArn"]
    settings, k = _deployment(api, arn)
    d = k.deployment
    hook_id = body.get("hookId")
    awaiting = [e.hook_id for e in d.awaiting()]
    if d.paused and d.pause_at == d.stage:
        awaiting.append(f"pause-at-{d.stage.value}")
    if d.finished_ or hook_id not in awaiting:
        raise client_error(f"No lifecycle hook {hook_id} of service deployment {arn} awaits action "
                           f"(awaiting: {', '.join(awaiting) or 'none'}; the deployment is {d.status}).")
    if body.get("action", CONTINUE) == ROLLBACK:
        verb = lambda **kw: run_rollback(settings, **kw)  # noqa: E731
    else:
        # bgctl's --pause-at is not a hook of the deployer's: continuing goes on from it.
        chosen = None if hook_id.startswith("pause-at-") else hook_id
        verb = lambda **kw: run_continue(settings, hook_id=chosen, **kw)  # noqa: E731
    api.worker.submit(f"{body.get('action', CONTINUE).lower()} {d.id}",
                      run_in_worker(api, d.names.service, verb, settings=settings),
                      key=d.names.service_arn)
    return {"serviceDeploymentArn": arn}


@operation("StopServiceDeployment")
def stop_deployment(api: Api, body: dict) -> dict:
    arn = body["serviceDeploymentArn"]
    settings, k = _deployment(api, arn)
    d = k.deployment
    if body.get("stopType", ROLLBACK) == ABORT:
        raise client_error("The kit does not ABORT a service deployment, which would leave its target revision "
                           "running with traffic where it is; it always restores production to the source "
                           "revision, so use stopType ROLLBACK.")
    if d.finished_ or d.rolling_back:
        raise ApiError("ConflictException", f"Service deployment {arn} is {d.status}; there is nothing to stop.")
    # bgctl rollback's own way: roll back here if no deployer runs it (paused, or its bgctl died), else
    # ask the one that does (the worker's, or another bgctl's) through the rollback request file and
    # wait for the outcome -- beside the worker, which may be busy running that very deployment.
    api.worker.beside(f"rollback {d.id}", run_in_worker(api, d.names.service,
                                                         lambda **kw: run_rollback(settings, **kw),
                                                         settings=settings))
    return {"serviceDeploymentArn": arn}


def _all(api: Api) -> list[tuple[Settings, KeptDeployment]]:
    """Every kept deployment, with the settings of the stack it ran on: the kit's, or a service's own."""
    return [(settings, k) for settings in (api.settings, *own_stacks(api.settings))
            for k in kept_deployments(DeploymentHistory(history_dir(settings.state_dir)),
                                      StateFile(settings.state_file).load())]


def _find(kept: list[tuple[Settings, KeptDeployment]], arn: str) -> tuple[Settings, KeptDeployment] | None:
    for settings, k in kept:
        if service_deployment_brief(k)["serviceDeploymentArn"] == arn:
            return settings, k
    return None


def _deployment(api: Api, arn: str) -> tuple[Settings, KeptDeployment]:
    found = _find(_all(api), arn)
    if found is None:
        raise deployment_not_found(arn)
    return found

