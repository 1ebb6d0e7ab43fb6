"""`bgctl rollback`: abort the deployment in progress, here or in the bgctl that runs it."""

from __future__ import annotations

import sys

import click
from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from bgctl.adapters.lock import StackBusy, holder_pid, is_held
from bgctl.adapters.project_files import load_settings
from bgctl.adapters.rollback_request import RollbackRequestFile
from bgctl.adapters.state_file import StateFile
from bgctl.cli.session import Say, with_deployer
from bgctl.cli.output import DeploymentPrinter, out, progress, warn
from bgctl.core.deployment import Deployment
from bgctl.core.errors import EXIT_FAILED, BgctlError
from bgctl.core.settings import Settings
from bgctl.core.stages import Status
from bgctl.lifecycle.events import Event, EventKind, Observer

# How long `rollback` waits for the bgctl holding the lock to act on its request
# (it checks between steps; a hook call runs to its time limit first).
ROLLBACK_WAIT = 180.0
POLL = 0.1


@click.command()
def rollback() -> None:
    """Abort the deployment in progress: all traffic back to the old slot, candidate stopped."""
    settings = load_settings()
    deployment = run_rollback(settings, observer=DeploymentPrinter(out, settings.ingress_url),
                              progress=progress, warn=warn)
    if deployment.status != Status.ROLLBACK_SUCCESSFUL:
        sys.exit(EXIT_FAILED)


def run_rollback(settings: Settings, *, observer: Observer, progress: Say, warn: Say) -> Deployment:
    """Roll back; if another bgctl is running the deployment, ask it to and wait for the outcome."""
    def here() -> Deployment:
        return with_deployer(settings, observer=observer, progress=progress, warn=warn,
                             action=lambda deployer: deployer.roll_back())

    try:
        return here()
    except StackBusy:
        pass
    holder = holder_pid(settings.state_dir)
    request = RollbackRequestFile(settings.rollback_request_file)
    request.leave()
    progress(f"Asked the bgctl running this deployment (pid {holder}) to roll back; waiting for it ...")
    state_file = StateFile(settings.state_file)

    def outcome() -> Deployment | None:
        """The deployment once it finished or its bgctl is gone; None meanwhile."""
        state = state_file.load()
        deployment = state.deployment if state else None
        if deployment is not None and (deployment.finished_ or not is_held(settings.state_dir)):
            return deployment
        return None

    try:
        deployment = Retrying(stop=stop_after_delay(ROLLBACK_WAIT), wait=wait_fixed(POLL),
                                   retry=retry_if_result(lambda found: found is None))(outcome)
    except RetryError:
        request.withdraw()
        raise BgctlError(f"The bgctl running this deployment (pid {holder}) did not roll back within "
                         f"{ROLLBACK_WAIT:.0f}s; stop it and run bgctl rollback again.") from None
    request.withdraw()
    if not deployment.finished_:
        # Its bgctl ended or was killed before acting on the request: roll back here.
        return here()
    observer(Event(EventKind.FINISHED, deployment))
    return deployment
