"""The stacks of a team's own services (core/service_stack.py): brought up, scaled and removed.

A service that is neither of the seed's pair runs in a Compose project of its
own, `<project>-svc-<name>`, whose settings (`Settings.for_service`) put its
state in `.bgctl/<project>/services/<name>/`. Everything the seed's backend
has -- deployments, records, rescaling -- then runs on those settings
unchanged; this module adds what is new: writing the stack's Compose file and
Envoy bootstrap, starting it with the service's first task definition (ECS
starts a new service's tasks without a deployment), joining its Envoy to the
kit's network under the service's DNS names, and taking it down.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from bgctl.adapters.docker_engine import published_on
from bgctl.adapters.lock import stack_lock
from bgctl.adapters.project_files import own_stack, write_ports
from bgctl.adapters.route_delivery import routes_version_on_disk, write_initial
from bgctl.adapters.slot_tasks import DockerSlotTasks
from bgctl.adapters.state_file import write_atomically
from bgctl.cli.deploy import start_timeout
from bgctl.cli.wiring import checked_stack, ensure_images, open_context
from bgctl.core.errors import BgctlError
from bgctl.core.service_stack import ADMIN_PORT, INGRESS_PORT, Endpoint, render_bootstrap, render_compose
from bgctl.core.settings import Settings
from bgctl.core.state import INITIAL_STATE
from bgctl.core.taskdef import Revision
from bgctl.core.topology import ENVOY_SERVICE

READY_TIMEOUT = 60.0


def stack_settings(kit: Settings, record: Mapping[str, Any]) -> Settings:
    """The settings of the service's own stack: the ports Docker published its Envoy on, once it has
    (before: the ingress port its tag asked for, or 0 -- Docker chooses)."""
    found = own_stack(kit, record["serviceName"])
    if found is not None:
        return found
    return kit.for_service(record["serviceName"], http_port=record["stack"].get("ingressPort") or 0, admin_port=0)


def bring_up(settings: Settings, endpoint: Endpoint, revision: Revision, count: int,
             say: Callable[[str], None]) -> Settings:
    """The service's stack running `count` tasks of `revision` on its production slot, its Envoy on the
    kit's network under the service's DNS names; its settings with the ports Docker published.
    Idempotent: a stack already up is left as it is."""
    stack = checked_stack(settings)
    with stack_lock(settings.state_dir):
        images = ensure_images(settings, stack, say)
        settings.admin_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        settings.bootstrap_dir.mkdir(parents=True, exist_ok=True)
        write_ports(settings)
        write_atomically(settings.bootstrap_dir / "envoy.yaml", render_bootstrap(endpoint))
        if not settings.compose_file.is_file():
            write_atomically(settings.compose_file, render_compose(
                service=settings.service, kit_network=settings.kit_network or "", bootstrap_dir=str(settings.bootstrap_dir), routes_dir=str(settings.routes_dir),
                admin_dir=str(settings.admin_dir), envoy_image=images.envoy, slot_image=images.nginx,
                ingress_port=settings.http_port, admin_port=settings.admin_port))
        ctx = open_context(settings, images)
        state = ctx.state_file.load() or replace(INITIAL_STATE, desired_count=count)
        if routes_version_on_disk(settings.routes_dir) is None:
            state = state.with_traffic(state.traffic, write_initial(settings.routes_dir, state.traffic))
        ctx.state_file.save(state)
        say(f"Starting {endpoint.service}'s Envoy ({endpoint.describe()}) ...")
        ctx.stack.up([ENVOY_SERVICE], wait=True)
        envoy = ctx.engine.inspect(settings.project_name, ENVOY_SERVICE)
        if envoy is None:
            raise BgctlError(f"Compose started {endpoint.service}'s Envoy but Docker has no such container.")
        ctx.engine.join(settings.kit_network or "", envoy, endpoint.dns_names)
        published = published_on(envoy)
        settings = replace(settings, http_port=published.get(INGRESS_PORT, settings.http_port),
                           admin_port=published.get(ADMIN_PORT, settings.admin_port))
        write_ports(settings)
        _await_routes(ctx, state.routes_version)
        production = state.traffic.production
        if state.revisions.get(production) is not None:
            return settings  # up already
        say(f"Starting {count} task(s) of {revision.source} ...")
        found = DockerSlotTasks(settings, images, engine=ctx.engine, stack=ctx.stack).start(
            production, revision, timeout=start_timeout(revision, settings.healthcheck), count=count)
        ctx.service_connect(state).register(production, found, timeout=READY_TIMEOUT)
        ctx.state_file.save(replace(state.with_revision(production, revision), desired_count=count))
    return settings


def _await_routes(ctx, version: str) -> None:
    """Envoy answers on its admin socket and serves the route file bgctl wrote."""
    def serving() -> None:
        if ctx.envoy.rds_status().version != version:
            raise BgctlError("Envoy does not serve the service's routes yet.")

    try:
        Retrying(stop=stop_after_delay(READY_TIMEOUT), wait=wait_fixed(0.1),
                 retry=retry_if_exception_type(BgctlError))(serving)
    except RetryError:
        raise BgctlError(f"The service's Envoy did not serve its routes within {READY_TIMEOUT:g}s; "
                         f"see docker compose -p {ctx.settings.project_name} logs.") from None
