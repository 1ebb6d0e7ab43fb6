"""`bgctl deploy --service-definition FILE`: a deployment described the way ECS takes it.

The file is checked in full before anything changes (ECS's model, then what the
model cannot say, then the task definition it names), so a bad definition is
exit 2 with nothing touched.

How it combines with the rest, most specific first:
- command-line options (--bake-time, --test-header, --task-definition,
  --alarm-5xx-percent, --hook-timeout, --pause-at, --desired-count) override the file; --hook adds
  shell hooks to the file's lifecycle hooks;
- the file's fields override the configuration file;
- a field the file leaves out keeps the service's current setting, as
  UpdateService does: the kit's service is bgctl.toml's ([deployment],
  [test_traffic_rule], [[hooks]]; BGCTL_TEST_HEADER for the rule).
- The slot deployed is the one not serving production (ECS has no slots: the
  new revision always goes beside the one serving).
- `bgctl deploy` with neither SLOT nor --service-definition deploys bgctl.toml's
  `[deployment] service_definition`; `bgctl deploy SLOT` without the option stays
  the kit's own deployment of SLOT's shipped revision, even when bgctl.toml names
  a service definition (SLOT names what to run; a service definition names it too).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bgctl.adapters.project_files import find_task_definition, load_config, load_task_definition, \
    read_service_definition
from bgctl.adapters.state_file import StateFile
from bgctl.core.arns import DEFAULT_CLUSTER, ServiceNames
from bgctl.core.config import KitConfig, alarm_percent, bake_seconds, hook_timeout_seconds
from bgctl.core.desired_count import DEFAULT_DESIRED_COUNT, parse_desired_count
from bgctl.core.errors import InvalidInput
from bgctl.core.hooks import Hook, HookTargetType, HookTimeout, TimeoutAction, parse_hook_option
from bgctl.core.service_definition import CANARY, LINEAR, ServiceDefinition, parse_service_definition
from bgctl.core.settings import Settings
from bgctl.core.stages import pause_stage
from bgctl.core.strategy import Strategy, TrafficShift
from bgctl.core.taskdef import Revision
from bgctl.core.topology import SERVICE_CONNECT_PORT, SLOTS
from bgctl.core.traffic import Slot, other_slot, parse_slot
from bgctl.lifecycle.deployer import DeployRequest

# CloudWatch alarms do not exist here: an enabled `alarms` block turns on the kit's
# one alarm, the candidate's 5xx share, at bgctl.toml's alarm_5xx_percent or this.
DEFAULT_ALARM_5XX_PERCENT = 5.0


def load_service_definition(settings: Settings, path: Path, config: KitConfig | None = None) -> ServiceDefinition:
    """`path` read, checked against ECS's model and parsed (InvalidInput → exit 2)."""
    # botocore (ECS's model) only here: `bgctl deploy SLOT` would spend ~0.4 s of CPU importing it.
    from bgctl.adapters.ecs_model import validate_input

    config = config if config is not None else load_config(settings)
    data, operation = read_service_definition(path)
    source = str(path)
    validate_input(operation, data, source=source)
    return parse_service_definition(data, source=source, operation=operation, functions=config.functions.keys(),
                                    config_name=settings.config_path.name)


def request_from_service_definition(
    settings: Settings,
    path: Path,
    *,
    target: Slot | None = None,
    bake_time: str | None = None,
    pause_at: str | None = None,
    task_definition: str | None = None,
    test_header: str | None = None,
    hooks: Sequence[str] = (),
    hook_timeout: str | None = None,
    alarm_5xx_percent: str | None = None,
    shift: TrafficShift | None = None,
    desired_count: str | None = None,
) -> tuple[DeployRequest, ServiceDefinition]:
    """The deployment `path` describes, with the command line's options over it (module docstring).

    `target` None: the slot not serving production. `shift` overrides the file's strategy.
    """
    config = load_config(settings)
    path = Path(path)
    sd = load_service_definition(settings, path, config)
    if task_definition is not None:
        revision = load_task_definition(Path(task_definition), service_connect_port=SERVICE_CONNECT_PORT)
    else:
        revision = load_task_definition(
            find_task_definition(sd.task_definition, base_dir=path.parent, source=str(path)),
            service_connect_port=SERVICE_CONNECT_PORT)
    request = request_from_definition(
        settings, sd, revision, config=config, target=target, bake_time=bake_time, pause_at=pause_at,
        test_header=test_header, hooks=hooks, hook_timeout=hook_timeout, alarm_5xx_percent=alarm_5xx_percent,
        shift=shift, desired_count=desired_count)
    return request, sd


def request_from_definition(
    settings: Settings,
    sd: ServiceDefinition,
    revision: Revision,
    *,
    config: KitConfig,
    target: Slot | None = None,
    bake_time: str | None = None,
    pause_at: str | None = None,
    test_header: str | None = None,
    hooks: Sequence[str] = (),
    hook_timeout: str | None = None,
    alarm_5xx_percent: str | None = None,
    shift: TrafficShift | None = None,
    desired_count: str | None = None,
) -> DeployRequest:
    """The deployment a parsed service definition asks for, running `revision`, with no file behind it:
    the file-based path above and `bgctl serve`'s UpdateService (bgctl/api/services.py) both end here."""
    from bgctl.cli.deploy import start_timeout, test_rule  # cli.deploy imports this module

    minute = settings.minute_seconds

    if test_header is not None or sd.test_rule is None:
        rule = test_rule(settings, test_header)
    else:
        rule = sd.test_rule
    if bake_time is not None:
        bake = bake_seconds(bake_time)
    elif sd.bake_minutes is not None:
        bake = sd.bake_minutes * minute
    else:
        bake = config.bake_seconds
    if sd.hooks is None:
        chosen = tuple(parse_hook_option(f"{stage}={command}") for stage, command in config.hooks)
    else:
        chosen = tuple(
            Hook(stages=h.stages, target=h.target_arn, target_type=HookTargetType(h.target_type), details=h.details,
                 timeout=HookTimeout(float(h.timeout_minutes), TimeoutAction(h.timeout_action)))
            for h in sd.hooks
        )
    chosen += tuple(parse_hook_option(text) for text in hooks)
    if alarm_5xx_percent is not None:
        alarm, alarm_rollback = alarm_percent(alarm_5xx_percent), True
    elif sd.alarms is not None:
        enabled = sd.alarms.enable
        alarm = (config.alarm_5xx_percent if config.alarm_5xx_percent is not None
                 else DEFAULT_ALARM_5XX_PERCENT) if enabled else None
        alarm_rollback = sd.alarms.rollback
    else:
        alarm, alarm_rollback = config.alarm_5xx_percent, True

    request = DeployRequest(
        target=parse_slot(target) if target is not None else deploy_target(settings),
        revision=revision,
        test_rule=rule,
        bake_seconds=bake,
        hooks=chosen,
        hook_timeout=hook_timeout_seconds(hook_timeout) if hook_timeout else config.hook_timeout,
        start_timeout=start_timeout(revision, settings.healthcheck),
        alarm_5xx_percent=alarm,
        alarm_rollback=alarm_rollback,
        pause_at=pause_stage(pause_at) if pause_at else None,
        shift=shift if shift is not None else traffic_shift(sd, minute),
        minute_seconds=minute,
        names=ServiceNames(sd.service, sd.cluster or DEFAULT_CLUSTER),
        desired_count=parse_desired_count(desired_count) if desired_count is not None
        else sd.desired_count if sd.desired_count is not None else current_desired_count(settings),
    )
    return request


def traffic_shift(sd: ServiceDefinition, minute_seconds: float) -> TrafficShift:
    if sd.strategy == LINEAR and sd.linear is not None:
        return TrafficShift.of(Strategy.LINEAR, minute_seconds=minute_seconds, step_percent=sd.linear.step_percent,
                               step_bake_minutes=sd.linear.step_bake_minutes)
    if sd.strategy == CANARY and sd.canary is not None:
        return TrafficShift.of(Strategy.CANARY, minute_seconds=minute_seconds, canary_percent=sd.canary.canary_percent,
                               canary_bake_minutes=sd.canary.canary_bake_minutes)
    return TrafficShift.of(Strategy.BLUE_GREEN, minute_seconds=minute_seconds)


def deploy_target(settings: Settings) -> Slot:
    """The slot not serving production, from the record (read without the lock: if another bgctl
    changes production meanwhile, the deployer refuses the target under the lock)."""
    state = StateFile(settings.state_file).load()
    # No state yet: any slot will do, the deploy stops at "run bgctl up first".
    return other_slot(state.traffic.production) if state is not None else SLOTS[-1]


def current_desired_count(settings: Settings) -> int:
    """The service's desiredCount now (what production runs), kept when a deployment does not say,
    as UpdateService keeps it; read without the lock, like `deploy_target`."""
    state = StateFile(settings.state_file).load()
    return state.desired_count if state is not None else DEFAULT_DESIRED_COUNT


def default_service_definition(settings: Settings) -> Path:
    """bgctl.toml's `[deployment] service_definition`, for `bgctl deploy` with neither SLOT nor the option."""
    configured = load_config(settings).service_definition
    if configured is None:
        raise InvalidInput(
            f"Give the slot to deploy (bgctl deploy green), or a service definition (--service-definition FILE "
            f"or [deployment] service_definition in {settings.config_path.name})."
        )
    return Path(configured)


def ignored_line(sd: ServiceDefinition) -> str | None:
    if not sd.ignored:
        return None
    return f"{sd.source}: ignored here (no local equivalent): {', '.join(sd.ignored)}."


def request_for_options(settings: Settings, options, *, progress, shift: TrafficShift | None = None) -> DeployRequest:
    """The deploy verb's entry: `options` is cli.deploy.DeployOptions with `service_definition` set, or
    with no slot (then bgctl.toml's default service definition). Says what the file asks that is ignored."""
    path = Path(options.service_definition) if options.service_definition else default_service_definition(settings)
    request, sd = request_from_service_definition(
        settings, path, target=options.slot, bake_time=options.bake_time, pause_at=options.pause_at,
        task_definition=options.task_definition, test_header=options.test_header, hooks=options.hooks,
        hook_timeout=options.hook_timeout, alarm_5xx_percent=options.alarm_5xx_percent, shift=shift,
        desired_count=options.desired_count,
    )
    line = ignored_line(sd)
    if line is not None:
        progress(line)
    return request
