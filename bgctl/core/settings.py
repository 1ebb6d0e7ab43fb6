"""Where the stack lives and how it is reached, parsed once from the environment.

Every I/O object gets a `Settings` passed in; nothing reads os.environ later
(`adapters/project_files.load_settings` reads it and finds the project).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

from bgctl.core.config import CONFIG_FILE
from bgctl.core.durations import parse_duration
from bgctl.core.errors import InvalidInput
from bgctl.core.service_stack import project_name as service_project_name, slot_prefix
from bgctl.core.topology import DEPLOYED_SERVICE

DEFAULT_PROJECT_NAME = "bgctl"
# One ECS minute (bakeTimeInMinutes, timeoutInMinutes, ...) is a minute unless BGCTL_MINUTE says otherwise.
DEFAULT_MINUTE_SECONDS = 60.0
DEFAULT_HTTP_PORT = 8080
DEFAULT_ADMIN_PORT = 9901
DEFAULT_API_PORT = 4599
IMAGE_MODES = ("auto", "official", "offline")
HEALTHCHECK_PROFILES = {
    # Short intervals so that `bgctl up` and SCALE_UP take seconds. Docker
    # (before 25's start_interval) runs a container's first check one interval
    # after it starts, so a slot's interval bounds SCALE_UP. Each check is an
    # exec (runc, sh, wget) costing tens of milliseconds of CPU: an idle stack
    # measured 36 % of a core with the slots at 0.25 s, 22 % at 1 s (the
    # frontend at 1 s), 2 % with the seed's 30 s. 0.5 s for the slots, whose
    # start a deployment waits for, is the middle: a quarter second more to
    # SCALE_UP than 0.25 s, a third less CPU; the frontend keeps 1 s.
    "fast": {"interval": "1s", "slot_interval": "0.5s", "timeout": "5s", "retries": "3", "start_period": "60s"},
    # The seed's task definitions, as ECS runs them.
    "seed": {"interval": "30s", "slot_interval": "30s", "timeout": "5s", "retries": "3", "start_period": "60s"},
}
_PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True)
class Settings:
    project_dir: Path
    project_name: str
    http_port: int
    admin_port: int
    image_mode: str
    healthcheck: str
    # Test aid: at this stage, publish a route file Envoy must reject.
    fault_reject_routes_at: str | None = None
    # NAME[=VALUE]: the test traffic rule, kept out of bgctl.toml (a secret value).
    test_header: str | None = None
    # BGCTL_CONFIG: the configuration file it names; None: bgctl.toml in the project, if there is one.
    config_file: Path | None = None
    # BGCTL_MINUTE: how long one ECS minute lasts here, so that minute fields run in seconds in tests and demos.
    minute_seconds: float = DEFAULT_MINUTE_SECONDS
    # BGCTL_API_PORT: where `bgctl serve` answers the ECS API (127.0.0.1 only).
    api_port: int = DEFAULT_API_PORT
    # A service's own stack (core/service_stack.py): its state folder, its generated Compose file, and
    # the kit's network, which its Envoy and its tasks join. None: the kit's own stack.
    state_root: Path | None = None
    compose_path: Path | None = None
    kit_network: str | None = None
    # What the slots' Compose services are called: `<service>-blue`, `<service>-green`.
    service: str = DEPLOYED_SERVICE

    @classmethod
    def parse(cls, env: Mapping[str, str], project_dir: Path) -> "Settings":
        """Settings from environment variables, for the project in `project_dir` (already checked)."""
        name = env.get("COMPOSE_PROJECT_NAME") or DEFAULT_PROJECT_NAME
        if not _PROJECT_NAME.match(name):
            raise InvalidInput(
                f"COMPOSE_PROJECT_NAME {name!r} is not a valid Compose project name "
                "(lowercase letters, digits, '-' and '_', starting with a letter or digit)."
            )
        http_port = _port(env, "BGCTL_HTTP_PORT", DEFAULT_HTTP_PORT)
        admin_port = _port(env, "BGCTL_ADMIN_PORT", DEFAULT_ADMIN_PORT)
        if http_port == admin_port:
            raise InvalidInput(f"BGCTL_HTTP_PORT and BGCTL_ADMIN_PORT are both {http_port}; they must differ.")
        image_mode = env.get("BGCTL_IMAGES", "auto").strip().lower() or "auto"
        if image_mode not in IMAGE_MODES:
            raise InvalidInput(f"BGCTL_IMAGES must be one of {', '.join(IMAGE_MODES)}, not {image_mode!r}.")
        healthcheck = env.get("BGCTL_HEALTHCHECK", "fast").strip().lower() or "fast"
        if healthcheck not in HEALTHCHECK_PROFILES:
            raise InvalidInput(
                f"BGCTL_HEALTHCHECK must be one of {', '.join(HEALTHCHECK_PROFILES)}, not {healthcheck!r}."
            )
        fault = env.get("BGCTL_FAULT_REJECT_ROUTES_AT", "").strip().upper() or None
        if fault is not None and fault not in ("RECONCILE_SERVICE", "TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT"):
            raise InvalidInput(
                "BGCTL_FAULT_REJECT_ROUTES_AT must be RECONCILE_SERVICE, TEST_TRAFFIC_SHIFT or PRODUCTION_TRAFFIC_SHIFT."
            )
        test_header = env.get("BGCTL_TEST_HEADER", "").strip() or None
        config = env.get("BGCTL_CONFIG", "").strip()
        return cls(project_dir, name, http_port, admin_port, image_mode, healthcheck, fault, test_header,
                   config_file=project_dir / config if config else None, minute_seconds=_minute(env),
                   api_port=_port(env, "BGCTL_API_PORT", DEFAULT_API_PORT))

    def for_service(self, service: str, *, http_port: int, admin_port: int) -> "Settings":
        """The settings of `service`'s own stack (a service created through `bgctl serve`), beside this kit's."""
        root = self.services_dir / service
        return replace(self, project_name=service_project_name(self.project_name, service), http_port=http_port,
                       admin_port=admin_port, state_root=root, compose_path=root / "compose.yaml",
                       kit_network=self.network, service=slot_prefix(service))

    @property
    def services_dir(self) -> Path:
        """The stacks of the services created through `bgctl serve`, one folder each."""
        return self.state_dir / "services"

    @property
    def network(self) -> str:
        """The kit's Compose network (Compose names a project's default network so)."""
        return f"{self.project_name}_default"

    @property
    def bootstrap_dir(self) -> Path:
        """A service stack's Envoy bootstrap (the kit's is envoy/ in the project)."""
        return self.state_dir / "envoy"

    @property
    def config_path(self) -> Path:
        """The configuration file: BGCTL_CONFIG's, else bgctl.toml in the project (which may not exist)."""
        return self.config_file or self.project_dir / CONFIG_FILE

    def minutes(self, minutes: float) -> float:
        """Seconds that `minutes` ECS minutes last here (BGCTL_MINUTE)."""
        return minutes * self.minute_seconds

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    @property
    def api_file(self) -> Path:
        """Where a running `bgctl serve` says its pid and URL."""
        return self.state_dir / "api.json"

    @property
    def ecs_dir(self) -> Path:
        """What the ECS API keeps: task definitions, clusters, services."""
        return self.state_dir / "ecs"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def rollback_request_file(self) -> Path:
        """Left by `bgctl rollback` for the bgctl that holds the lock and runs the deployment."""
        return self.state_dir / "rollback-request"

    @property
    def slots_dir(self) -> Path:
        """The Compose override files that make a slot run a task definition's revision."""
        return self.state_dir / "slots"

    @property
    def compose_env_file(self) -> Path:
        return self.state_dir / "compose.env"

    @property
    def compose_file(self) -> Path:
        return self.compose_path or self.project_dir / "compose.yaml"

    @property
    def state_dir(self) -> Path:
        return self.state_root or self.project_dir / ".bgctl" / self.project_name

    @property
    def routes_dir(self) -> Path:
        return self.state_dir / "routes"

    @property
    def admin_dir(self) -> Path:
        return self.state_dir / "admin"

    @property
    def admin_socket(self) -> Path:
        return self.admin_dir / "admin.sock"

    @property
    def ingress_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def compose_env(self, *, nginx_image: str, envoy_image: str) -> dict[str, str]:
        """The variables compose.yaml interpolates."""
        timing = HEALTHCHECK_PROFILES[self.healthcheck]
        return {
            "BGCTL_HTTP_PORT": str(self.http_port),
            "BGCTL_ADMIN_PORT": str(self.admin_port),
            "BGCTL_ROUTES_DIR": str(self.routes_dir),
            "BGCTL_ADMIN_DIR": str(self.admin_dir),
            "BGCTL_NGINX_IMAGE": nginx_image,
            "BGCTL_ENVOY_IMAGE": envoy_image,
            "BGCTL_HEALTH_INTERVAL": timing["interval"],
            "BGCTL_SLOT_HEALTH_INTERVAL": timing["slot_interval"],
            "BGCTL_HEALTH_TIMEOUT": timing["timeout"],
            "BGCTL_HEALTH_RETRIES": timing["retries"],
            "BGCTL_HEALTH_START_PERIOD": timing["start_period"],
        }


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    if not raw.strip().isdigit() or not 1 <= int(raw) <= 65535:
        raise InvalidInput(f"{name} must be a port number from 1 to 65535, not {raw!r}.")
    return int(raw)


def _minute(env: Mapping[str, str]) -> float:
    raw = env.get("BGCTL_MINUTE", "").strip()
    if not raw:
        return DEFAULT_MINUTE_SECONDS
    seconds = parse_duration(raw, name="BGCTL_MINUTE")
    if seconds <= 0:
        raise InvalidInput(f"BGCTL_MINUTE must be longer than 0s, not {raw!r}.")
    return seconds
