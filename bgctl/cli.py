"""The command line: parse, call one operation, print, map errors to exit codes."""

from __future__ import annotations

import json
import sys
from typing import Optional

import click
from rich.console import Console
from rich.table import Table

from bgctl import __version__
from bgctl.errors import EXIT_FAILED, EXIT_INVALID, BgctlError
from bgctl.settings import Settings



@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bgctl")
def app() -> None:
    """ECS native blue/green deployments with Service Connect test traffic, on one machine."""
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _progress(message: str) -> None:
    err.print(f"[dim]·[/dim] {message}")


@app.command()
def up() -> None:
    """Start the stack; blue serves production. Returns once the ingress answers."""
    from bgctl.commands.up import up as run_up

    result = run_up(Settings.from_env(), _progress)
    verb = "already running" if result.already_running else "up"
    out.print(
        f"Stack {verb} in {result.seconds:.1f}s ({result.images} images): "
        f"{result.production} serves production at {result.ingress_url}/"
    )
    out.print(f"  curl -i {result.ingress_url}/   → {result.body}")


@app.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the keys are a stable contract).")
def status(as_json: bool) -> None:
    """What serves production, the deployment, traffic weights, containers."""
    from bgctl.commands.status import status as run_status

    report = run_status(Settings.from_env())
    if as_json:
        print(json.dumps(report, indent=2))
        return
    _print_status(report)


@app.command()
def down() -> None:
    """Remove every container, network and volume of the stack, and its route state."""
    from bgctl.commands.down import down as run_down

    removed = run_down(Settings.from_env())
    out.print(f"Removed {len(removed)} item(s) of project {Settings.from_env().project_name}." if removed
              else "Nothing to remove.")


@app.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def images(as_json: bool) -> None:
    """Show the images the stack uses; pull or build them if missing."""
    from bgctl.commands.images import images as run_images

    report = run_images(Settings.from_env(), _progress)
    if as_json:
        print(json.dumps(report, indent=2))
        return
    out.print(f"{report['kind']} images (BGCTL_IMAGES={report['mode']}):")
    out.print(f"  nginx  {report['nginx']}")
    out.print(f"  envoy  {report['envoy']}")


def _print_status(report: dict) -> None:
    if not report["running"]:
        out.print(f"Project {report['project']}: not running (start it with bgctl up).")
    else:
        out.print(f"Project {report['project']}: [bold]{report['production']}[/bold] serves production "
                  f"at {report['ingress']}/")
    weights = ", ".join(f"{slot} {pct}%" for slot, pct in report["weights"].items())
    if weights:
        out.print(f"Traffic:    {weights}")
    rule = report.get("test_rule")
    if rule:
        value = rule["value"] if rule["value"] is not None else "(any value)"
        out.print(f"Test rule:  {rule['header']}: {value}")
    routes = report["routes"]
    if routes["version"]:
        live = "live" if routes["live"] else f"NOT live (Envoy serves {routes['live_version'] or 'nothing'})"
        out.print(f"Routes:     {routes['version']} {live} via {routes['delivery']}")
    out.print(f"Deployment: {report['deployment'] or 'none'}")
    if report["containers"]:
        table = Table(box=None, pad_edge=False)
        for column in ("service", "state", "health", "image"):
            table.add_column(column)
        for name, c in report["containers"].items():
            table.add_row(name, c["status"], c["health"] or "-", c["image"])
        out.print(table)


def main(argv: Optional[list[str]] = None) -> None:
    try:
        app.main(args=argv, prog_name="bgctl", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        sys.stderr.write(f"bgctl: {_sentence(exc.format_message())}\n")
        sys.exit(EXIT_INVALID)
    except click.Abort:
        sys.stderr.write("bgctl: interrupted.\n")
        sys.exit(130)
    except BgctlError as exc:
        sys.stderr.write(f"bgctl: {_sentence(str(exc))}\n")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("bgctl: interrupted.\n")
        sys.exit(130)
    except Exception as exc:  # a bug: still one sentence, never a traceback
        sys.stderr.write(f"bgctl: unexpected error ({type(exc).__name__}: {exc}); please report it.\n")
        sys.exit(EXIT_FAILED)
    sys.exit(0)


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if text.endswith((".", "!", "?")) else text + "."
