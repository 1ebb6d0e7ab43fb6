"""`bgctl continue`: resume a paused or interrupted deployment."""

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
def continue_() -> None:
    """Resume a paused or interrupted deployment."""
    settings = load_settings()
    deployment = run_continue(settings, observer=DeploymentPrinter(out, settings.ingress_url),
                              progress=progress, warn=warn)
    sys.exit(exit_code(deployment))


def run_continue(settings: Settings, *, observer: Observer, progress: Say, warn: Say) -> Deployment:
    return with_deployer(settings, observer=observer, progress=progress, warn=warn,
                         action=lambda deployer: deployer.resume())
