"""`bgctl demo`: the seed's blue/green deployment, narrated, with traffic flowing throughout.

Up → background traffic → deploy the other slot, paused in the test window →
the seed's two curls side by side → cut over, bake, clean up → a table of
requests per slot per stage and the number of failed requests (must be 0),
and a chart of the requests per second per slot (`bgctl describe --chart`).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import click
import requests
from rich.console import Console
from rich.table import Table

from bgctl.adapters.load_generator import Traffic
from bgctl.adapters.project_files import load_settings
from bgctl.cli.continue_ import run_continue
from bgctl.cli.deploy import DeployOptions, run_deploy, test_rule
from bgctl.cli.describe import chart_of, check_chart_path, run_describe, write_chart
from bgctl.cli.output import DeploymentPrinter, out, progress, warn
from bgctl.cli.up import run_up
from bgctl.core.config import bake_seconds
from bgctl.core.deployment import Deployment
from bgctl.core.errors import EXIT_FAILED, BgctlError
from bgctl.core.settings import Settings
from bgctl.core.stages import Stage, Status
from bgctl.core.traffic import other_slot
from bgctl.lifecycle.events import Event, EventKind, Observer

DEMO_BAKE = "10s"
DEMO_CLIENTS = 4
DEMO_CHART = "demo.svg"  # in the project's state folder: bgctl down removes it with the stack


@dataclass(frozen=True)
class DemoResult:
    deployment: Deployment
    requests: int
    failed: int


@click.command()
@click.option("--bake-time", metavar="DUR", default=DEMO_BAKE, show_default=True, help="Bake time for the demo.")
@click.option("--chart", metavar="FILE.svg", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to draw the deployment's requests per second per slot  [default: .bgctl/<project>/demo.svg].")
def demo(bake_time: str, chart: Path | None) -> None:
    """Show blue/green: up, traffic, deploy with a test window, cut over, a table of every request, a chart."""
    bake_seconds(bake_time)
    settings = load_settings()
    if chart is not None:
        check_chart_path(chart)
    result = run_demo(settings, out, DeploymentPrinter(out, settings.ingress_url, next_step_hint=False),
                      bake_time=bake_time, progress=progress, warn=warn,
                      chart=chart or settings.state_dir / DEMO_CHART)
    if result.failed or result.deployment.status != Status.SUCCESSFUL:
        sys.exit(EXIT_FAILED)


def run_demo(settings: Settings, console: Console, printer: Observer, *, bake_time: str = DEMO_BAKE,
             clients: int = DEMO_CLIENTS, progress=None, warn=None, chart: Path | None = None) -> DemoResult:
    say = console.print
    progress = progress or (lambda m: say(f"· {m}"))
    warn = warn or (lambda m: say(f"! {m}"))

    say("[bold]1. The stack[/bold]: Envoy (the ALB and Service Connect), the frontend, backend blue.")
    started = run_up(settings, progress)
    production = started.production
    target = other_slot(production)
    say(f"   {production} serves production at {started.ingress_url}/ → {started.body!r}")

    rule = test_rule(settings)
    header = {rule.header: rule.value if rule.value is not None else "1"}
    url = settings.ingress_url + "/"
    say(f"\n[bold]2. Background traffic[/bold]: {clients} clients (half keep-alive, half a new connection "
        "per request), no test header, for the whole deployment.")
    with Traffic(settings.ingress_url, clients) as traffic:
        # Every phase gets a row, even one too short for a request to start in it
        # (a route switch takes milliseconds).
        phases = [traffic.label]

        def phase(name: str) -> None:
            traffic.label = name
            if name not in phases:
                phases.append(name)

        def observer(event: Event) -> None:
            if event.kind == EventKind.STAGE_STARTED and event.stage is not None:
                phase(event.stage.value)
            elif event.kind == EventKind.FINISHED:
                phase("after")
            printer(event)

        say(f"\n[bold]3. Deploy {target}[/bold] (ECS blue/green), pausing in the test window "
            f"(after {Stage.POST_TEST_TRAFFIC_SHIFT}).")
        paused = run_deploy(settings, DeployOptions(target, bake_time=bake_time,
                                                    pause_at=Stage.POST_TEST_TRAFFIC_SHIFT.value),
                            observer=observer, progress=progress, warn=warn)
        finished = paused if paused.status != Status.IN_PROGRESS else \
            _test_window_then_cut_over(settings, console, url, header, target, production, bake_time,
                                       observer=observer, phase=phase, progress=progress, warn=warn)
    result = _summary(console, traffic, finished, phases)
    _draw(settings, finished, chart, say, warn)
    return result


def _test_window_then_cut_over(settings: Settings, console: Console, url: str, header: dict[str, str], target: str,
                               production: str, bake_time: str, *, observer: Observer, phase, progress,
                               warn) -> Deployment:
    say = console.print
    phase("paused (test window)")
    say("\n[bold]4. The test window[/bold]: the seed's two curls, side by side.")
    # Wide enough for the labels and both columns whole, even when not printing to a
    # terminal (80 columns): Console.print(width=) cannot exceed the console's own width.
    wide = Console(file=console.file, width=max(console.width, 120), highlight=False,
                   force_terminal=console.is_terminal, color_system=console.color_system)
    wide.print(_side_by_side(url, header))
    say(f"\n[bold]5. Cut over[/bold]: production traffic to {target}, bake {bake_time} "
        f"({production} stays up so a rollback would be instant), clean up.")
    finished = run_continue(settings, observer=observer, progress=progress, warn=warn)
    phase("after")
    time.sleep(1.0)  # a little traffic after the deployment, for the table
    return finished


def _draw(settings: Settings, deployment: Deployment, path: Path | None, say, warn) -> None:
    """The deployment's chart, from the rates bgctl recorded while it ran (a chart that cannot be
    drawn is said, not a failed demo)."""
    if path is None:
        return
    found, _ = run_describe(settings, deployment.id)
    try:
        write_chart(chart_of(settings, found[0]), path)
    except BgctlError as exc:
        warn(str(exc))
        return
    say(f"Chart of the deployment (requests per second per slot, stages marked): {_shown(path)}")


def _shown(path: Path) -> str:
    """`path` relative to the current folder when it is inside it, as a user would type it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _side_by_side(url: str, header: dict[str, str]) -> Table:
    (name, value), = header.items()
    table = Table(title=f"curl -i {url}   vs   curl -i -H '{name}: {value}' {url}")
    table.add_column("")
    table.add_column("without the test header", no_wrap=True)
    table.add_column("with the test header", no_wrap=True)
    plain = requests.get(url, timeout=10)
    tagged = requests.get(url, headers=header, timeout=10)
    for (field, left), (_, right) in zip(_transcript(plain), _transcript(tagged)):
        table.add_row(field, left, right)
    return table


def _transcript(response: requests.Response) -> list[tuple[str, str]]:
    return [
        ("status", f"HTTP/1.1 {response.status_code} {response.reason}"),
        ("content-type", str(response.headers.get("content-type"))),
        ("server", str(response.headers.get("server"))),
        ("x-envoy-upstream-service-time", str(response.headers.get("x-envoy-upstream-service-time"))),
        ("body", response.text),
    ]


def _summary(console: Console, traffic: Traffic, deployment: Deployment, phases: list[str]) -> DemoResult:
    table = Table(title="Requests through the ingress, by the stage in which they started")
    for column in ("stage", "blue", "green", "failed"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    seen = traffic.by_label()
    for label in phases + [label for label in seen if label not in phases]:
        counts = seen.get(label, Counter())
        table.add_row(label, str(counts.get("blue", 0)), str(counts.get("green", 0)),
                      str(counts.get("failed", 0) + counts.get("other", 0)))
    console.print()
    console.print(table)
    failed = len(traffic.failures())
    total = len(traffic.answers)
    colour = "green" if failed == 0 else "red"
    console.print(f"[bold]{total} requests, [{colour}]{failed} failed[/{colour}][/bold]; "
                  f"deployment {deployment.id}: {deployment.status}.")
    return DemoResult(deployment, total, failed)
