"""`bgctl deploy SLOT`: a full deployment of SLOT through the ECS stages."""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path

import click

from bgctl.adapters.project_files import load_config, load_settings, load_task_definition, shipped_revision
from bgctl.cli.service_definition import current_desired_count, request_for_options
from bgctl.cli.session import Say, exit_code, with_deployer
from bgctl.cli.output import DeploymentPrinter, out, progress, warn
from bgctl.core.config import alarm_percent, bake_seconds, hook_timeout_seconds
from bgctl.core.deployment import Deployment
from bgctl.core.desired_count import MAX_DESIRED_COUNT, parse_desired_count
from bgctl.core.hooks import parse_hook_option
from bgctl.core.settings import HEALTHCHECK_PROFILES, Settings
from bgctl.core.errors import InvalidInput
from bgctl.core.stages import pause_stage
from bgctl.core.strategy import Strategy, TrafficShift, parse_strategy
from bgctl.core.taskdef import Revision
from bgctl.core.topology import SERVICE_CONNECT_PORT
from bgctl.core.traffic import TestTrafficRule, parse_slot
from bgctl.lifecycle.deployer import DeployRequest
from bgctl.lifecycle.events import Observer


@dataclass(frozen=True)
class DeployOptions:
    slot: str
    bake_time: str | None = None
    pause_at: str | None = None
    task_definition: str | None = None
    test_header: str | None = None
    hooks: tuple[str, ...] = ()
    hook_timeout: str | None = None
    alarm_5xx_percent: str | None = None
    service_definition: str | None = None  # cli/service_definition.py; also used when slot is None
    strategy: str | None = None
    step_percent: str | None = None
    step_bake: str | None = None
    canary_percent: str | None = None
    canary_bake: str | None = None
    desired_count: str | None = None


@click.command()
@click.argument("slot", required=False)
@click.option("--bake-time", metavar="DUR", help="Bake time (90, 90s, 5m, 1h); bgctl.toml's otherwise.")
@click.option("--pause-at", metavar="STAGE", help="Stop after STAGE, paused, until bgctl continue.")
@click.option("--task-definition", metavar="FILE", help="An ECS task definition JSON: the target's revision.")
@click.option("--test-header", metavar="NAME[=VALUE]", help="Test traffic rule: NAME=VALUE exact, NAME present.")
@click.option("--hook", "hooks", metavar="STAGE=CMD", multiple=True, help="A lifecycle hook (repeatable).")
@click.option("--hook-timeout", metavar="DUR", help="Time limit of each hook call.")
@click.option("--alarm-5xx-percent", metavar="PCT", help="Roll back if the candidate's 5xx share during bake exceeds PCT.")
@click.option("--service-definition", metavar="FILE",
              help="The JSON of aws ecs update-service --cli-input-json; deploys the slot not serving production.")
@click.option("--strategy", metavar="NAME", help="BLUE_GREEN (default), LINEAR or CANARY, as ECS's strategy.")
@click.option("--step-percent", metavar="PCT", help="LINEAR: the share each step adds (3-100, default 10).")
@click.option("--step-bake", metavar="DUR", help="LINEAR: bake between steps (default 6 ECS minutes).")
@click.option("--canary-percent", metavar="PCT", help="CANARY: the canary's share (0.1-100, default 5).")
@click.option("--canary-bake", metavar="DUR", help="CANARY: bake before 100 percent (default 10 ECS minutes).")
@click.option("--desired-count", metavar="N",
              help=f"Tasks of the revision (1-{MAX_DESIRED_COUNT}), as ECS's desiredCount; the service's current count otherwise.")
def deploy(slot: str | None, bake_time, pause_at, task_definition, test_header, hooks, hook_timeout,
           alarm_5xx_percent, service_definition, strategy, step_percent, step_bake, canary_percent,
           canary_bake, desired_count) -> None:
    """Deploy SLOT (blue or green) through the ECS blue/green lifecycle; without SLOT, bgctl.toml's service definition.

    No bgctl watches a PAUSE hook's timeout between commands: deploy, continue and rollback first
    apply any that ran out (CONTINUE goes on, ROLLBACK rolls back) and say so; bgctl status shows them.
    """
    settings = load_settings()
    options = DeployOptions(slot, bake_time, pause_at, task_definition, test_header, tuple(hooks), hook_timeout,
                            alarm_5xx_percent, service_definition, strategy, step_percent, step_bake,
                            canary_percent, canary_bake, desired_count)
    deployment = run_deploy(settings, options, observer=DeploymentPrinter(out, settings.ingress_url),
                            progress=progress, warn=warn)
    sys.exit(exit_code(deployment))


def run_deploy(settings: Settings, options: DeployOptions, *, observer: Observer, progress: Say,
               warn: Say) -> Deployment:
    if options.service_definition is not None or options.slot is None:
        # --strategy and its options override the file's deploymentConfiguration.
        request = request_for_options(settings, options, progress=progress,
                                      shift=traffic_shift(settings, options) if options.strategy else None)
    else:
        request = build_request(settings, options)
    if request.revision is not None and request.revision.ignored:
        progress(f"{request.revision.source}: ignored here (no local equivalent): "
                 f"{', '.join(request.revision.ignored)}.")
    return with_deployer(settings, observer=observer, progress=progress, warn=warn,
                         action=lambda deployer: deployer.start(request))


def build_request(settings: Settings, options: DeployOptions) -> DeployRequest:
    """Every option checked before anything changes (InvalidInput → exit 2)."""
    config = load_config(settings)
    target = parse_slot(options.slot)
    if options.task_definition is None:
        revision = None
        runs = shipped_revision(target, settings.project_dir / "revisions")
    else:
        revision = runs = load_task_definition(Path(options.task_definition),
                                               service_connect_port=SERVICE_CONNECT_PORT)
    hooks = tuple(parse_hook_option(f"{stage}={command}") for stage, command in config.hooks)
    hooks += tuple(parse_hook_option(text) for text in options.hooks)
    return DeployRequest(
        target=target,
        revision=revision,
        test_rule=test_rule(settings, options.test_header),
        bake_seconds=bake_seconds(options.bake_time) if options.bake_time is not None else config.bake_seconds,
        hooks=hooks,
        hook_timeout=hook_timeout_seconds(options.hook_timeout)
        if options.hook_timeout else config.hook_timeout,
        start_timeout=start_timeout(runs, settings.healthcheck),
        alarm_5xx_percent=alarm_percent(options.alarm_5xx_percent)
        if options.alarm_5xx_percent is not None else config.alarm_5xx_percent,
        pause_at=pause_stage(options.pause_at) if options.pause_at else None,
        shift=traffic_shift(settings, options),
        minute_seconds=settings.minute_seconds,
        desired_count=parse_desired_count(options.desired_count) if options.desired_count is not None
        else current_desired_count(settings),
    )


def traffic_shift(settings: Settings, options: DeployOptions) -> TrafficShift:
    """--strategy and its parameters, at ECS's defaults (in ECS minutes × BGCTL_MINUTE) when left out."""
    strategy = parse_strategy(options.strategy) if options.strategy else Strategy.BLUE_GREEN
    given = {"--step-percent": options.step_percent, "--step-bake": options.step_bake,
             "--canary-percent": options.canary_percent, "--canary-bake": options.canary_bake}
    for name, value in given.items():
        wanted = Strategy.LINEAR if name.startswith("--step") else Strategy.CANARY
        if value is not None and strategy != wanted:
            raise InvalidInput(f"{name} needs --strategy {wanted}.")
    shift = TrafficShift.of(strategy, minute_seconds=settings.minute_seconds,
                            step_percent=_percent(options.step_percent, "--step-percent"),
                            canary_percent=_percent(options.canary_percent, "--canary-percent"))
    if options.step_bake is not None:
        shift = replace(shift, step_bake_seconds=bake_seconds(options.step_bake, name="--step-bake"))
    if options.canary_bake is not None:
        shift = replace(shift, canary_bake_seconds=bake_seconds(options.canary_bake, name="--canary-bake"))
    return shift


def _percent(text: str | None, name: str) -> float | None:
    if text is None:
        return None
    try:
        return float(text.strip().rstrip("%"))
    except ValueError:
        raise InvalidInput(f"{name} must be a number of percent, not {text!r}.") from None


def test_rule(settings: Settings, option: str | None = None) -> TestTrafficRule:
    """--test-header, else BGCTL_TEST_HEADER, else bgctl.toml, else AWS's default."""
    text = option or settings.test_header
    return TestTrafficRule.parse(text) if text else load_config(settings).test_rule


test_rule.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, despite the name


def start_timeout(revision: Revision, profile: str) -> float:
    """How long SCALE_UP waits for `revision`'s task to get healthy: its start period and
    every retry of its check (at the profile's interval), with room to spare."""
    check = revision.health_check
    if check is None:
        return 60.0
    interval = float(HEALTHCHECK_PROFILES["fast"]["slot_interval"].rstrip("s")) if profile == "fast" \
        else check.interval
    return float(check.start_period + (check.retries + 1) * (interval + check.timeout) + 30)
