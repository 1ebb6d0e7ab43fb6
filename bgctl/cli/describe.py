"""`bgctl describe [ID]`: one deployment as ECS's DescribeServiceDeployments describes it."""

from __future__ import annotations

import json
from datetime import datetime

import click

from bgctl.adapters.deployment_history import DeploymentHistory, history_dir, kept_deployments
from bgctl.adapters.project_files import load_settings
from bgctl.adapters.state_file import StateFile
from bgctl.cli.output import out
from bgctl.core.ecs_records import KeptDeployment, describe_service_deployments, names_of, service_deployment
from bgctl.core.errors import InvalidInput
from bgctl.core.settings import Settings


@click.command()
@click.argument("deployment_id", metavar="[ID]", required=False)
@click.option("--json", "as_json", is_flag=True,
              help="Print DescribeServiceDeployments' output: {\"serviceDeployments\": [...], \"failures\": [...]}.")
def describe(deployment_id: str | None, as_json: bool) -> None:
    """One deployment (default: the latest) by its id or its service-deployment ARN.

    An ID that names no deployment is, with --json, a "MISSING" failure as ECS
    reports it (exit 0, as `aws ecs describe-service-deployments`); without --json, one sentence and exit 2.
    """
    found, missing = run_describe(load_settings(), deployment_id)
    if as_json:
        print(json.dumps(describe_service_deployments(found, missing), indent=2))
        return
    if missing:
        raise InvalidInput(f"No deployment {deployment_id} is recorded; bgctl deployments lists them.")
    print_deployment(found[0])


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
