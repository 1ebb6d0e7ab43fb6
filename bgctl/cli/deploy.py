"""`bgctl deploy`, `bgctl continue`, `bgctl rollback`: the deployment verbs."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bgctl.adapters.project_files import load_config, load_task_definition, shipped_revision
from bgctl.cli.wiring import checked_stack, ensure_images, open_context
from bgctl.lifecycle.deployer import DeployRequest, Deployer, Event, Observer, rollback_request_path
from bgctl.core.deployment import Deployment
from bgctl.core.durations import parse_duration
from bgctl.core.errors import BgctlError
from bgctl.core.hooks import parse_hook_option
from bgctl.adapters.images import Progress
from bgctl.core.config import alarm_percent, bake_seconds
from bgctl.adapters.lock import StackBusy, holder_pid, is_held, stack_lock
from bgctl.core.reconcile import disagreements
from bgctl.lifecycle.observe import observe

from bgctl.core.traffic import TestTrafficRule, parse_slot
from bgctl.core.settings import Settings
from bgctl.core.stages import pause_stage
from bgctl.adapters.state_file import StateFile, check_writable


SERVICE_CONNECT_PORT = 3000
# How long `rollback` waits for the bgctl holding the lock to act on its request
# (it checks between steps; a hook call runs to its time limit first).
ROLLBACK_WAIT = 180.0


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


def build_request(settings: Settings, options: DeployOptions) -> DeployRequest:
    """Every option checked before anything changes (InvalidInput → exit 2)."""
    config = load_config(settings.project_dir)
    target = parse_slot(options.slot)
    shipped = options.task_definition is None
    if shipped:
        revision = shipped_revision(target, settings.project_dir / "revisions")
    else:
        revision = load_task_definition(Path(options.task_definition), service_connect_port=SERVICE_CONNECT_PORT)
    hooks = tuple(parse_hook_option(f"{stage}={command}") for stage, command in config.hooks)
    hooks += tuple(parse_hook_option(text) for text in options.hooks)
    return DeployRequest(
        target=target,
        revision=revision,
        shipped=shipped,
        test_rule=test_rule(settings, options.test_header),
        bake_seconds=bake_seconds(options.bake_time) if options.bake_time is not None else config.bake_seconds,
        hooks=hooks,
        hook_timeout=parse_duration(options.hook_timeout, name="--hook-timeout")
        if options.hook_timeout else config.hook_timeout,
        alarm_5xx_percent=alarm_percent(options.alarm_5xx_percent)
        if options.alarm_5xx_percent is not None else config.alarm_5xx_percent,
        pause_at=pause_stage(options.pause_at) if options.pause_at else None,
    )


def test_rule(settings: Settings, option: str | None = None) -> TestTrafficRule:
    """--test-header, else BGCTL_TEST_HEADER, else bgctl.toml, else AWS's default."""
    text = option or settings.test_header
    return TestTrafficRule.parse(text) if text else load_config(settings.project_dir).test_rule


def deploy(settings: Settings, options: DeployOptions, *, observer: Observer, progress: Progress,
           warn: Callable[[str], None]) -> Deployment:
    request = build_request(settings, options)
    if request.revision.ignored and not request.shipped:
        progress(f"{request.revision.source}: ignored here (no local equivalent): {', '.join(request.revision.ignored)}.")
    return _with_deployer(settings, observer, progress, warn, lambda d: d.start(request))


def resume(settings: Settings, *, observer: Observer, progress: Progress, warn: Callable[[str], None]) -> Deployment:
    return _with_deployer(settings, observer, progress, warn, lambda d: d.resume())


def rollback(settings: Settings, *, observer: Observer, progress: Progress, warn: Callable[[str], None]) -> Deployment:
    """Roll back; if another bgctl is running the deployment, ask it to and wait for the outcome."""
    try:
        return _with_deployer(settings, observer, progress, warn, lambda d: d.roll_back())
    except StackBusy:
        pass
    holder = holder_pid(settings.state_dir)
    request = rollback_request_path(settings.state_dir)
    request.write_text(f"{os.getpid()}\n")
    progress(f"Asked the bgctl running this deployment (pid {holder}) to roll back; waiting for it ...")
    state_file = StateFile(settings.state_dir / "state.json")
    deadline = time.monotonic() + ROLLBACK_WAIT
    while time.monotonic() < deadline:
        state = state_file.load()
        deployment = state.deployment if state else None
        if deployment is None:
            break
        if deployment.finished_:
            request.unlink(missing_ok=True)
            observer(Event("finished", deployment))
            return deployment
        if not is_held(settings.state_dir):
            # The holder is gone (it ended or was killed): roll back here.
            request.unlink(missing_ok=True)
            return _with_deployer(settings, observer, progress, warn, lambda d: d.roll_back())
        time.sleep(0.1)
    request.unlink(missing_ok=True)
    raise BgctlError(f"The bgctl running this deployment (pid {holder}) did not roll back within "
                     f"{ROLLBACK_WAIT:.0f}s; stop it and run bgctl rollback again.")


def _with_deployer(settings, observer, progress, warn, action) -> Deployment:
    stack = checked_stack(settings)
    check_writable(settings.state_dir)
    check_writable(settings.routes_dir)
    with stack_lock(settings.state_dir):
        images = ensure_images(settings, stack, progress)
        ctx = open_context(settings, images)
        state = ctx.state_file.load()
        if state is None:
            raise BgctlError("The stack has no state yet; run bgctl up first.")
        seen = observe(ctx)
        for sentence in disagreements(state, seen, self_holds_lock=True):
            warn(sentence)
        if seen.live_version is not None and seen.live_version != state.routes_version:
            state, _ = ctx.apply_traffic(state, state.traffic)
            warn(f"Republished the recorded routes ({state.routes_version}) before going on.")
        deployer = Deployer(ctx, images, observer=observer)
        return action(deployer)
