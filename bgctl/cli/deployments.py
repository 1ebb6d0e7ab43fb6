"""`bgctl deployments`: every deployment of the stack, newest first, as ECS's ListServiceDeployments lists them."""

from __future__ import annotations

import json
from datetime import datetime

import click
from rich.markup import escape
from rich.table import Table

from bgctl.adapters.deployment_history import DeploymentHistory, history_dir, kept_deployments
from bgctl.adapters.project_files import load_settings
from bgctl.adapters.state_file import StateFile
from bgctl.cli.output import out
from bgctl.core.durations import format_duration
from bgctl.core.ecs_records import KeptDeployment, list_service_deployments
from bgctl.core.settings import Settings


@click.command()
@click.option("--json", "as_json", is_flag=True,
              help="Print ListServiceDeployments' output (ServiceDeploymentBrief items, ECS's ARNs).")
def deployments(as_json: bool) -> None:
    """Every deployment of the stack, newest first (kept until bgctl down; see down --keep-history)."""
    kept = run_deployments(load_settings())
    if as_json:
        print(json.dumps(list_service_deployments(kept), indent=2))
        return
    print_deployments(kept)


def run_deployments(settings: Settings) -> list[KeptDeployment]:
    """Read from files only: the history outlives the stack (down --keep-history), Docker is not needed."""
    return kept_deployments(DeploymentHistory(history_dir(settings.state_dir)), StateFile(settings.state_file).load())


def print_deployments(kept: list[KeptDeployment]) -> None:
    if not kept:
        out.print("No deployments recorded.")
        return
    rows = []
    for k in kept:
        d = k.deployment
        took = format_duration(round(d.finished - d.created, 3)) if d.finished and d.created else "…"
        rows.append((d.id, _when(d.created), f"{d.source} → {d.target}", d.status.value, took, d.reason or ""))
    table = Table(box=None, pad_edge=False)
    widths = [max(len(column), *(len(row[i]) for row in rows))
              for i, column in enumerate(("id", "created", "slots", "status", "took"))]
    for column, width in zip(("id", "created", "slots", "status", "took"), widths):
        table.add_column(column, no_wrap=True, min_width=width)
    # The reason gives way to the rest (it is whole in bgctl describe).
    table.add_column("reason", no_wrap=True, overflow="ellipsis",
                     max_width=max(12, out.width - sum(widths) - 2 * len(widths)))
    for row in rows:
        table.add_row(*row[:5], escape(row[5]))
    out.print(table)


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S") if epoch else "-"
