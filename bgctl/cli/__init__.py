"""The command line: parse, call one operation, print, map errors to exit codes."""

from __future__ import annotations

import json
import sys
from typing import Optional

import click
from rich.console import Console

from bgctl.adapters.project_files import load_settings
from bgctl import __version__
from bgctl.core.errors import EXIT_FAILED, EXIT_INVALID, BgctlError
from bgctl.cli.output import DeploymentPrinter, print_status
from bgctl.core.stages import Status



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
    from bgctl.cli.up import up as run_up

    result = run_up(load_settings(), _progress)
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
    from bgctl.cli.status import status as run_status

    report = run_status(load_settings())
    if as_json:
        print(json.dumps(report, indent=2))
        return
    print_status(out, report)


@app.command()
@click.argument("slot")
@click.option("--bake-time", metavar="DUR", help="Bake time (90, 90s, 5m, 1h); bgctl.toml's otherwise.")
@click.option("--pause-at", metavar="STAGE", help="Stop after STAGE, paused, until bgctl continue.")
@click.option("--task-definition", metavar="FILE", help="An ECS task definition JSON: the target's revision.")
@click.option("--test-header", metavar="NAME[=VALUE]", help="Test traffic rule: NAME=VALUE exact, NAME present.")
@click.option("--hook", "hooks", metavar="STAGE=CMD", multiple=True, help="A lifecycle hook (repeatable).")
@click.option("--hook-timeout", metavar="DUR", help="Time limit of each hook call.")
@click.option("--alarm-5xx-percent", metavar="PCT", help="Roll back if the candidate's 5xx share during bake exceeds PCT.")
def deploy(slot: str, bake_time, pause_at, task_definition, test_header, hooks, hook_timeout,
           alarm_5xx_percent) -> None:
    """Deploy SLOT (blue or green) through the ECS blue/green lifecycle."""
    from bgctl.cli.deploy import DeployOptions
    from bgctl.cli.deploy import deploy as run_deploy

    settings = load_settings()
    options = DeployOptions(slot, bake_time, pause_at, task_definition, test_header, tuple(hooks), hook_timeout,
                            alarm_5xx_percent)
    _finish(run_deploy(settings, options, observer=DeploymentPrinter(out, settings.ingress_url),
                       progress=_progress, warn=_warn))


@app.command(name="continue")
def continue_() -> None:
    """Resume a paused or interrupted deployment."""
    from bgctl.cli.deploy import resume

    settings = load_settings()
    _finish(resume(settings, observer=DeploymentPrinter(out, settings.ingress_url), progress=_progress, warn=_warn))


@app.command()
def rollback() -> None:
    """Abort the deployment in progress: all traffic back to the old slot, candidate stopped."""
    from bgctl.cli.deploy import rollback as run_rollback

    settings = load_settings()
    deployment = run_rollback(settings, observer=DeploymentPrinter(out, settings.ingress_url),
                              progress=_progress, warn=_warn)
    if deployment.status != Status.ROLLBACK_SUCCESSFUL:
        sys.exit(EXIT_FAILED)


def _finish(deployment) -> None:
    """Exit 0 when the deployment succeeded or paused; 1 when it was rolled back or failed."""
    if deployment.status == Status.SUCCESSFUL or (deployment.paused and deployment.status == Status.IN_PROGRESS):
        return
    sys.exit(EXIT_FAILED)


def _warn(sentence: str) -> None:
    err.print(f"[yellow]![/yellow] {sentence}", markup=True)


@app.command()
@click.option("--bake-time", metavar="DUR", default="10s", show_default=True, help="Bake time for the demo.")
def demo(bake_time: str) -> None:
    """Show blue/green: up, traffic, deploy with a test window, cut over, a table of every request."""
    from bgctl.cli.demo import demo as run_demo
    from bgctl.core.config import bake_seconds

    bake_seconds(bake_time)
    settings = load_settings()
    result = run_demo(settings, out, DeploymentPrinter(out, settings.ingress_url), bake_time=bake_time,
                      progress=_progress, warn=_warn)
    if result.failed or result.deployment.status != Status.SUCCESSFUL:
        sys.exit(EXIT_FAILED)


@app.command()
def down() -> None:
    """Remove every container, network and volume of the stack, and its route state."""
    from bgctl.cli.down import down as run_down

    removed = run_down(load_settings())
    out.print(f"Removed {len(removed)} item(s) of project {load_settings().project_name}." if removed
              else "Nothing to remove.")


@app.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def images(as_json: bool) -> None:
    """Show the images the stack uses; pull or build them if missing."""
    from bgctl.cli.images import images as run_images

    report = run_images(load_settings(), _progress)
    if as_json:
        print(json.dumps(report, indent=2))
        return
    out.print(f"{report['kind']} images (BGCTL_IMAGES={report['mode']}):")
    out.print(f"  nginx  {report['nginx']}")
    out.print(f"  envoy  {report['envoy']}")


def main(argv: Optional[list[str]] = None) -> None:
    try:
        app.main(args=argv, prog_name="bgctl", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except SystemExit:
        raise
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
