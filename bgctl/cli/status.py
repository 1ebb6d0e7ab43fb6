"""`bgctl status`: what serves production, the deployment, what Envoy serves, which containers run."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import click

from bgctl.adapters.api_process import running
from bgctl.adapters.project_files import load_settings, shipped_revision
from bgctl.cli.wiring import checked_stack, open_context
from bgctl.core.errors import InvalidInput
from bgctl.core.settings import Settings
from bgctl.adapters.state_file import StateFile
from bgctl.adapters.project_files import own_stacks
from bgctl.core.status_report import ApiEndpoint, OwnService, StatusReport, status_report


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the keys are a stable contract).")
def status(as_json: bool) -> None:
    """What serves production, the deployment, traffic weights, containers."""
    report = run_status(load_settings())
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
        return
    from bgctl.cli.output import out, print_status  # rich, which --json (scripts, polls) does without

    print_status(out, report)


def run_status(settings: Settings) -> StatusReport:
    checked_stack(settings)
    ctx = open_context(settings)
    state = ctx.state_file.load()
    seen = ctx.observe()
    shipped = None
    if state and state.deployment and state.deployment.shipped:
        try:
            shipped = shipped_revision(state.deployment.target, settings.project_dir / "revisions")
        except InvalidInput:
            shipped = None  # a report is still worth printing without it
    serve = running(settings.api_file)
    report = status_report(project=settings.project_name, ingress=settings.ingress_url, admin=settings.admin_url,
                           state=state, seen=seen, now=time.time(), shipped_revision=shipped,
                           api=ApiEndpoint(serve.url, serve.pid) if serve else None)
    own = tuple(OwnService.of(s.state_dir.name, s.ingress_url, StateFile(s.state_file).load())
                for s in own_stacks(settings))
    return replace(report, services=own)
