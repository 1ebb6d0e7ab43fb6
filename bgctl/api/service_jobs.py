"""What serve's worker does for a service: bring the stack up, a service's first deployment,
a deployment, scaling production in place — with their lines on serve's terminal.

The handlers in services.py check everything and hand one of these to the worker
(worker.py), so that a request is answered at once while the containers change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from bgctl.adapters.docker_engine import DockerEngine
from bgctl.adapters.lock import stack_lock
from bgctl.adapters.project_files import load_config, shipped_revision
from bgctl.adapters.slot_tasks import DockerSlotTasks
from bgctl.adapters.state_file import StateFile
from bgctl.api.operations import Api, ApiError
from bgctl.cli.deploy import start_timeout
from bgctl.cli.output import DeploymentPrinter, out
from bgctl.cli.service_definition import request_from_definition
from bgctl.cli.session import with_deployer
from bgctl.cli.up import run_up
from bgctl.cli.wiring import checked_stack, ensure_images, open_context
from bgctl.core.arns import ServiceNames
from bgctl.core.deployment import Deployment
from bgctl.core.ecs_services import desired_count, same_revision
from bgctl.core.errors import BgctlError
from bgctl.core.service_definition import ServiceDefinition
from bgctl.core.settings import Settings
from bgctl.core.taskdef import Revision
from bgctl.core.topology import ENVOY_SERVICE, FRONTEND_SERVICE, slot_service
from bgctl.core.traffic import other_slot


def rescale(settings: Settings, count: int, say: Callable[[str], None]) -> None:
    """The production slot to `count` tasks, in place (scaling down stops the extra tasks gracefully)."""
    stack = checked_stack(settings)
    with stack_lock(settings.state_dir):
        images = ensure_images(settings, stack, say)
        ctx = open_context(settings, images)
        state = ctx.state_file.load()
        if state is None:
            return  # no stack yet: the count applies when the service's tasks start
        production = state.traffic.production
        revision = state.revisions.get(production)
        say(f"Scaling {slot_service(production, settings.service)} to {count} task(s) ...")
        DockerSlotTasks(settings, images, engine=ctx.engine, stack=ctx.stack).start(
            production, revision, timeout=start_timeout(revision or shipped_revision(
                production, settings.project_dir / "revisions"), settings.healthcheck), count=count)
        ctx.state_file.save(replace(state, desired_count=count))


def printer(settings: Settings) -> DeploymentPrinter:
    """Serve's terminal shows a deployment's stages and outcome as `bgctl deploy` prints them."""
    return DeploymentPrinter(out, settings.ingress_url, next_step_hint=False)


def run_in_worker(api: Api, service: str, verb: Callable[..., Deployment], *,
                  settings: Settings | None = None) -> Callable[[], Deployment]:
    """A worker job calling a deploying verb (run_continue, run_rollback, ...) with its output on serve's
    (`settings`: the stack the service runs on, when it is not the kit's)."""
    say = say_for(service)
    return lambda: verb(observer=printer(settings or api.settings), progress=say, warn=say)


def say_for(service: str) -> Callable[[str], None]:
    return lambda text: print(f"[service {service}] {text}", flush=True)


def create_job(api: Api, names: ServiceNames, sd: ServiceDefinition | None,
                revision: Revision | None) -> Callable[[], object]:
    """Bring the stack up; for the backend, deploy its task definition at once unless production runs it
    already (ECS's first deployment of a service: no bake, no hooks)."""
    settings = api.settings
    say = say_for(names.service)

    def job() -> object:
        ensure_up(settings, say)
        if sd is None or revision is None:
            return None
        state = StateFile(settings.state_file).load()
        production = state.traffic.production
        running = state.revisions.get(production) or shipped_revision(production, settings.project_dir / "revisions")
        if same_revision(running, revision):
            say(f"{production} already runs {revision.source}; nothing to deploy.")
            return None
        request = request_from_definition(settings, sd, revision, config=load_config(settings),
                                          target=other_slot(production))
        request = replace(request, bake_seconds=0.0, hooks=(), pause_at=None,
                          desired_count=desired_count({"definition": {"desiredCount": sd.desired_count}}))
        return with_deployer(settings, observer=printer(settings), progress=say, warn=say,
                             action=lambda deployer: deployer.start(request))

    return job


def ensure_up_then(settings: Settings, say: Callable[[str], None], then: Callable[[], Deployment]) -> Deployment:
    ensure_up(settings, say)
    return then()


def ensure_up(settings: Settings, say: Callable[[str], None]) -> None:
    # The worker's own connection: the handlers' is used under the API's lock, from other threads.
    engine = DockerEngine.connect()
    try:
        serving = serving_counts(settings, engine)
    finally:
        engine.close()
    if serving.get(ENVOY_SERVICE) and serving.get(FRONTEND_SERVICE):
        return
    say("The stack is not up; starting it (bgctl up) ...")
    run_up(settings, say)


def serving_counts(settings: Settings, engine: DockerEngine) -> dict[str, int]:
    """How many healthy tasks (running containers) each of the project's Compose services has."""
    try:
        return {name: sum(t.serving for t in tasks) for name, tasks in engine.tasks(settings.project_name).items()}
    except BgctlError as exc:
        raise ApiError("ServerException", str(exc), status=500) from None
