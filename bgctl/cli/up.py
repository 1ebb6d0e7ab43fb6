"""`bgctl up`: start the stack with production on its slot; return once the ingress answers."""

from __future__ import annotations

import time
from dataclasses import dataclass

import click
import requests
from tenacity import RetryError, retry, retry_if_result, stop_after_delay, wait_fixed

from bgctl.adapters.project_files import load_settings
from bgctl.cli.output import out, progress
from bgctl.cli.wiring import checked_stack, ensure_images, open_context
from bgctl.cli.down import remove_state
from bgctl.core.topology import ENVOY_SERVICE, FRONTEND_SERVICE, slot_service
from bgctl.core.errors import BgctlError, StartupFailed
from bgctl.adapters.images import Progress
from bgctl.adapters.route_delivery import routes_version_on_disk, write_initial
from bgctl.core.settings import Settings
from bgctl.core.state import INITIAL_STATE

READY_TIMEOUT = 90.0


@dataclass(frozen=True)
class UpResult:
    ingress_url: str
    production: str
    images: str
    seconds: float
    already_running: bool
    body: str


@click.command()
def up() -> None:
    """Start the stack; blue serves production. Returns once the ingress answers."""
    result = run_up(load_settings(), progress)
    verb = "already running" if result.already_running else "up"
    out.print(
        f"Stack {verb} in {result.seconds:.1f}s ({result.images} images): "
        f"{result.production} serves production at {result.ingress_url}/"
    )
    out.print(f"  curl -i {result.ingress_url}/   → {result.body}")


def run_up(settings: Settings, progress: Progress) -> UpResult:
    started = time.monotonic()
    stack = checked_stack(settings)
    stack.check_ports_free()
    images = ensure_images(settings, stack, progress)
    ctx = open_context(settings, images)
    before = ctx.stack.services()
    already_running = all(
        before.get(s) is not None and before[s].serving for s in (ENVOY_SERVICE, FRONTEND_SERVICE)
    )

    state = ctx.state_file.load() or INITIAL_STATE
    # Ours, not root's: Docker would create a missing bind-mount source as root.
    settings.admin_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if routes_version_on_disk(settings.routes_dir) is None:
        version = write_initial(settings.routes_dir, state.traffic)
        state = state.with_traffic(state.traffic, version)
    ctx.state_file.save(state)

    services = [ENVOY_SERVICE, FRONTEND_SERVICE, slot_service(state.traffic.production)]
    # Each slot at its desiredCount: Compose's own scale (one) would remove a slot's other tasks.
    scales = {slot_service(state.traffic.production): state.desired_count}
    if state.traffic.candidate:
        services.append(slot_service(state.traffic.candidate))
        d = state.deployment
        scales[slot_service(state.traffic.candidate)] = d.desired_count if d is not None else state.desired_count
    progress(f"Starting {', '.join(services)} ...")
    try:
        ctx.stack.up(services, wait=True, scales=scales)
        body = _wait_for_ingress(settings.ingress_url)
    except BgctlError:
        if not before:
            # Nothing was there before this `up`: leave nothing half-started, but the history
            # a `down --keep-history` kept is the user's and stays, as does what a running
            # `bgctl serve` (which may have asked for this `up`) holds.
            ctx.stack.down()
            remove_state(settings.state_dir, keep_history=True, keep_api=True)
        raise
    return UpResult(
        ingress_url=settings.ingress_url,
        production=state.traffic.production,
        images=images.kind,
        seconds=time.monotonic() - started,
        already_running=already_running,
        body=body,
    )


def _wait_for_ingress(url: str) -> str:
    @retry(stop=stop_after_delay(READY_TIMEOUT), wait=wait_fixed(0.1), retry=retry_if_result(lambda body: body is None))
    def attempt() -> str | None:
        try:
            response = requests.get(url + "/", timeout=5)
        except requests.RequestException:
            return None
        return response.text if response.status_code == 200 else None

    try:
        return attempt()  # type: ignore[return-value]
    except RetryError as exc:
        raise StartupFailed(
            f"The stack started but {url}/ did not answer 200 within {READY_TIMEOUT:.0f}s; "
            "see docker compose logs."
        ) from exc
