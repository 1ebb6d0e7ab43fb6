"""`bgctl describe [ID]`: one deployment as ECS's DescribeServiceDeployments describes it."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click

from bgctl.adapters.deployment_history import DeploymentHistory, history_dir, kept_deployments
from bgctl.adapters.project_files import load_settings
from bgctl.adapters.sample_file import SampleFile
from bgctl.adapters.state_file import StateFile, write_atomically
from bgctl.cli.output import err, out
from bgctl.core.chart_svg import render_chart
from bgctl.core.ecs_records import KeptDeployment, describe_service_deployments, names_of, service_deployment
from bgctl.core.errors import BgctlError, InvalidInput
from bgctl.core.settings import Settings


@click.command()
@click.argument("deployment_id", metavar="[ID]", required=False)
@click.option("--json", "as_json", is_flag=True,
              help="Print DescribeServiceDeployments' output: {\"serviceDeployments\": [...], \"failures\": [...]}.")
@click.option("--chart", metavar="FILE.svg", type=click.Path(dir_okay=False, path_type=Path),
              help="Also draw requests per second per slot over the deployment's time, stages marked, as SVG.")
def describe(deployment_id: str | None, as_json: bool, chart: Path | None) -> None:
    """One deployment (default: the latest) by its id or its service-deployment ARN.

    An ID that names no deployment is, with --json, a "MISSING" failure as ECS
    reports it (exit 0, as `aws ecs describe-service-deployments`); without --json, one sentence and exit 2.
    --chart draws from the request rates bgctl recorded while it ran the deployment.
    """
    settings = load_settings()
    found, missing = run_describe(settings, deployment_id)
    if missing and (chart is not None or not as_json):
        raise InvalidInput(f"No deployment {deployment_id} is recorded; bgctl deployments lists them.")
    # Refused before anything is printed.
    drawn = chart_of(settings, found[0]) if chart is not None and check_chart_path(chart) else None
    if as_json:
        print(json.dumps(describe_service_deployments(found, missing), indent=2))
    else:
        print_deployment(found[0])
    if chart is not None and drawn is not None:
        write_chart(drawn, chart)
        # On stderr under --json, so that stdout stays one JSON document.
        (err if as_json else out).print(f"Chart of {found[0].deployment.id}: {chart}", markup=False)


def chart_of(settings: Settings, k: KeptDeployment) -> str:
    """The deployment's chart (SVG text); InvalidInput when bgctl recorded no request rates for it."""
    history = DeploymentHistory(history_dir(settings.state_dir))
    samples = SampleFile(history.samples_path(k.deployment.id)).load()
    if len(samples) < 2:
        raise InvalidInput(f"No request rates were recorded for deployment {k.deployment.id} "
                           "(bgctl records them while it runs a deployment); no chart written.")
    return render_chart(k, samples)


def check_chart_path(path: Path) -> bool:
    """True, or InvalidInput when the chart could not be written there (its folder is missing)."""
    if not path.parent.is_dir():
        raise InvalidInput(f"Cannot write the chart to {path}: the folder {path.parent} does not exist.")
    return True


def write_chart(svg: str, path: Path) -> None:
    try:
        write_atomically(path, svg)
    except OSError as exc:
        raise BgctlError(f"Cannot write the chart to {path} ({exc.strerror or exc}).") from exc


def run_describe(settings: Settings, deployment_id: str | None) -> tuple[list[KeptDeployment], list[str]]:
    """The deployments found and the ARNs not found (as ECS answers)."""
    kept = kept_deployments(DeploymentHistory(history_dir(settings.state_dir)), StateFile(settings.state_file).load())
    if deployment_id is None:
        if not kept:
            raise InvalidInput("No deployment is recorded yet; run bgctl deploy first.")
        return [kept[0]], []
    wanted = deployment_id.rsplit("/", 1)[-1]  # an ARN's last part is the id
    for k in kept:
        if k.deployment.id == wanted:
            return [k], []
    names = names_of(kept[0].deployment) if kept else None
    arn = deployment_id if deployment_id.startswith("arn:") or names is None else names.service_deployment_arn(wanted)
    return [], [arn]


def print_deployment(k: KeptDeployment) -> None:
    record = service_deployment(k)
    out.print(f"Deployment {record['serviceDeploymentArn']}", markup=False)
    out.print(f"  status: {record['status']}" + (f" at {record['lifecycleStage']}" if "lifecycleStage" in record else ""))
    if "statusReason" in record:
        out.print(f"  reason: {record['statusReason']}", markup=False)
    for key in ("createdAt", "startedAt", "finishedAt", "stoppedAt"):
        if key in record:
            out.print(f"  {key}: {datetime.fromtimestamp(record[key]).isoformat(sep=' ', timespec='seconds')}")
    for label, revision in [("source", r) for r in record["sourceServiceRevisions"]] + [
            ("target", record["targetServiceRevision"])]:
        out.print(f"  {label}: {revision['arn']}  test {revision['requestedTestTrafficWeight']:g}%  "
                  f"production {revision['requestedProductionTrafficWeight']:g}%  "
                  f"tasks {revision['runningTaskCount']}/{revision['requestedTaskCount']}", markup=False)
    for hook in record.get("lifecycleHookDetails", []):
        out.print(f"  hook {hook['hookId']} ({hook['targetType']}): {hook['status']}", markup=False)
    if "rollback" in record:
        out.print(f"  rollback to {record['rollback'].get('serviceRevisionArn')}", markup=False)
