"""`bgctl continue [--hook-id ID]`: resume a paused or interrupted deployment."""

from __future__ import annotations

import sys

import click

from bgctl.adapters.project_files import load_settings
from bgctl.cli.session import Say, exit_code, with_deployer
from bgctl.cli.output import DeploymentPrinter, out, progress, warn
from bgctl.core.deployment import Deployment
from bgctl.core.settings import Settings
from bgctl.lifecycle.events import Observer


@click.command(name="continue")
@click.option("--hook-id", metavar="ID", help="CONTINUE only this PAUSE hook (default: every one awaiting action).")
def continue_(hook_id: str | None) -> None:
    """Resume a paused or interrupted deployment (ContinueServiceDeployment CONTINUE for PAUSE hooks).

    A PAUSE hook whose timeout ran out while no bgctl ran gets its timeout action first
    (CONTINUE goes on, ROLLBACK rolls back); bgctl status lists the hooks awaiting action.
    """
    settings = load_settings()
    deployment = run_continue(settings, observer=DeploymentPrinter(out, settings.ingress_url),
                              progress=progress, warn=warn, hook_id=hook_id)
    sys.exit(exit_code(deployment))


def run_continue(settings: Settings, *, observer: Observer, progress: Say, warn: Say,
                 hook_id: str | None = None) -> Deployment:
    return with_deployer(settings, observer=observer, progress=progress, warn=warn,
                         action=lambda deployer: deployer.resume(hook_id))
