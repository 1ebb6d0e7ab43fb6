"""What every deployment verb does around the Deployer: check, lock, look, then hand over.

Docker and the writable directories are checked before anything changes;
the lock makes this bgctl the only one changing the stack; the record is
compared with the world and the differences said; then the Deployer runs
with the real adapters, while each slot's request rate is recorded for
`bgctl describe --chart`.
"""

from __future__ import annotations

from typing import Callable

from bgctl.adapters.lock import stack_lock
from bgctl.adapters.state_file import check_writable
from bgctl.cli.wiring import checked_stack, ensure_images, open_context
from bgctl.core.deployment import Deployment
from bgctl.core.errors import EXIT_FAILED, BgctlError
from bgctl.core.reconcile import disagreements
from bgctl.core.settings import Settings
from bgctl.core.stages import Status
from bgctl.lifecycle.deployer import Deployer
from bgctl.lifecycle.events import Observer

Say = Callable[[str], None]


def with_deployer(settings: Settings, *, observer: Observer, progress: Say, warn: Say,
                  action: Callable[[Deployer], Deployment]) -> Deployment:
    stack = checked_stack(settings)
    check_writable(settings.state_dir)
    check_writable(settings.routes_dir)
    with stack_lock(settings.state_dir):
        images = ensure_images(settings, stack, progress)
        ctx = open_context(settings, images)
        state = ctx.state_file.load()
        if state is None:
            raise BgctlError("The stack has no state yet; run bgctl up first.")
        seen = ctx.observe()
        for sentence in disagreements(state, seen, self_holds_lock=True):
            warn(sentence)
        if seen.live_version is not None and seen.live_version != state.routes_version:
            state, _ = ctx.apply_traffic(state, state.traffic)
            warn(f"Republished the recorded routes ({state.routes_version}) before going on.")
        deployer = Deployer(state, ctx.ports(state, images), ingress_url=settings.ingress_url, observer=observer)
        with ctx.rate_recorder(lambda: deployer.state.deployment):
            return action(deployer)


def exit_code(deployment: Deployment) -> int:
    """0 when the deployment succeeded or paused; 1 when it was rolled back or failed."""
    if deployment.status == Status.SUCCESSFUL or (deployment.paused and deployment.status == Status.IN_PROGRESS):
        return 0
    return EXIT_FAILED
