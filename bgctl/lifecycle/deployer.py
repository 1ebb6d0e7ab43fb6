"""Running a deployment through the ECS blue/green lifecycle.

`Deployer.run` reads like the ECS documentation: each stage is a "make it so"
step that looks at the world, acts only if needed, and records its end before
the next one starts. The record is saved at every step, so a bgctl killed at
any point resumes by running the current stage again (`bgctl continue`), and
a rollback is the same machinery with the old slot as the target.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from bgctl.cli.wiring import Context
from bgctl.core.deployment import Deployment, HookProgress
from bgctl.core.topology import cluster_for, slot_service
from bgctl.core.errors import BgctlError, InvalidInput
from bgctl.core.hooks import Hook, hook_environment
from bgctl.adapters.hook_runner import run_hook
from bgctl.adapters.images import ImageSet
from bgctl.core.routes import render_file
from bgctl.core.compose_override import compose_override
from bgctl.core.traffic import TrafficState
from bgctl.core.stages import NO_HOOKS, ROLLBACK_HOOK_STAGES, STAGES, Stage, Status
from bgctl.core.state import State
from bgctl.core.taskdef import Revision

ENVOY_HOST_WAIT = 15.0
DRAIN_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
# Stages during which the candidate must stay healthy (after SCALE_UP, before CLEAN_UP).
WATCHED = frozenset(STAGES[STAGES.index(Stage.POST_SCALE_UP):STAGES.index(Stage.CLEAN_UP)])


@dataclass(frozen=True)
class Event:
    kind: str  # stage-start, stage-end, hook, bake, paused, rollback, finished, note
    deployment: Deployment
    stage: Stage | None = None
    message: str = ""
    data: dict = field(default_factory=dict)


Observer = Callable[[Event], None]


USER_ROLLBACK = "Rollback requested by the user."


def rollback_request_path(state_dir: Path) -> Path:
    return state_dir / "rollback-request"


class DeploymentFailure(BgctlError):
    """Something that makes ECS roll a deployment back automatically."""


@dataclass(frozen=True)
class DeployRequest:
    target: str
    revision: Revision
    shipped: bool
    test_rule: object
    bake_seconds: float
    hooks: tuple[Hook, ...] = ()
    hook_timeout: float = 60.0
    alarm_5xx_percent: float | None = None
    pause_at: Stage | None = None


class Deployer:
    def __init__(self, ctx: Context, images: ImageSet, *, observer: Observer | None = None,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> None:
        self.ctx = ctx
        self.images = images
        self.observer = observer or (lambda event: None)
        self.clock = clock
        self.sleep = sleep
        self.state: State = ctx.state_file.load() or _missing_state()

    # -- the three entry points -------------------------------------

    def start(self, request: DeployRequest) -> Deployment:
        current = self.state.deployment
        if current is not None and not current.finished_:
            raise InvalidInput(
                f"A deployment of {current.target} is already in progress ({current.status}, {current.stage}); "
                "run bgctl continue or bgctl rollback."
            )
        production = self.state.traffic.production
        if request.target == production:
            raise InvalidInput(f"{production} already serves production; deploy the other slot.")
        source_state = self.ctx.stack.service_state(slot_service(production))
        if source_state is None or not source_state.serving:
            raise BgctlError(
                f"{production} serves production but its container is not running and healthy; run bgctl up first."
            )
        deployment = Deployment.new(
            target=request.target,
            source=production,
            revision={**request.revision.to_dict(), "shipped": request.shipped},
            test_rule=request.test_rule,
            bake_seconds=request.bake_seconds,
            hooks=tuple(h.to_dict() for h in request.hooks),
            hook_timeout=request.hook_timeout,
            alarm_5xx_percent=request.alarm_5xx_percent,
            pause_at=request.pause_at,
            created=self.clock(),
        )
        self._save(deployment)
        return self.run()

    def resume(self) -> Deployment:
        deployment = self._in_progress("continue")
        if deployment.paused:
            deployment = self._save(replace(deployment, paused=False, pause_at=None).advanced())
            self._emit("note", deployment, message=f"Resuming after {_previous(deployment.stage)}.")
        elif not deployment.rolling_back:
            self._emit("note", deployment, message=f"Resuming an interrupted deployment at {deployment.stage}.")
        return self.run()

    def roll_back(self, reason: str = USER_ROLLBACK) -> Deployment:
        deployment = self._in_progress("roll back")
        return self._roll_back(deployment, deployment.reason if deployment.rolling_back else reason)

    # -- the lifecycle ------------------------------------------------

    def run(self) -> Deployment:
        while True:
            deployment = self.state.deployment
            assert deployment is not None
            if deployment.finished_ or deployment.paused:
                return deployment
            if deployment.rolling_back:
                return self._roll_back(deployment, deployment.reason or "rollback")
            try:
                self._run_stage(deployment)
            except DeploymentFailure as failure:
                return self._roll_back(self.state.deployment, str(failure))  # type: ignore[arg-type]

    def _run_stage(self, deployment: Deployment) -> None:
        stage = deployment.stage
        self._check_rollback_request()
        deployment = self._save(deployment.stage_started(self.clock()))
        self._emit("stage-start", deployment, stage)
        if stage in WATCHED:
            self._check_candidate(deployment)
        deployment = getattr(self, f"_{stage.value.lower()}")(deployment)
        if stage not in NO_HOOKS:
            deployment = self._run_hooks(deployment, stage)
        if stage in WATCHED:
            self._check_candidate(deployment)
        deployment = self._save(deployment.stage_ended(self.clock()))
        self._emit("stage-end", deployment, stage, data={"seconds": deployment.stage_seconds().get(stage.value)})
        if deployment.pause_at == stage:
            self._emit("paused", self._save(replace(deployment, paused=True)), stage)
            return
        deployment = deployment.advanced()
        if deployment.status == Status.SUCCESSFUL:
            deployment = replace(deployment, finished=self.clock())
            revisions = {**self.state.revisions, deployment.target: deployment.revision}
            self.state = replace(self.state, revisions=revisions)
            self._save(deployment)
            self._emit("finished", deployment)
            return
        self._save(deployment)

    # Each stage: look at the world, act only if it is not already so.

    def _reconcile_service(self, d: Deployment) -> Deployment:
        # Production must be on the recorded routes before anything moves.
        self._publish(TrafficState(d.source))
        return d

    def _pre_scale_up(self, d: Deployment) -> Deployment:
        return d

    def _scale_up(self, d: Deployment) -> Deployment:
        service = slot_service(d.target)
        revision = Revision.from_dict({k: v for k, v in d.revision.items() if k != "shipped"})
        override = None if d.revision.get("shipped") else compose_override(
            revision, service=service, image=self.images.resolve(revision.image),
            healthcheck_profile=self.ctx.settings.healthcheck,
        )
        self.ctx.stack.set_slot_override(d.target, override)
        try:
            self.ctx.stack.up([service], wait=True, timeout=_health_wait(revision, self.ctx.settings.healthcheck))
        except BgctlError as exc:
            raise DeploymentFailure(f"The candidate {d.target} never became healthy: {exc}") from exc
        self._wait_for_envoy_host(d)
        return d

    def _post_scale_up(self, d: Deployment) -> Deployment:
        return d

    def _test_traffic_shift(self, d: Deployment) -> Deployment:
        self._publish(TrafficState(d.source, d.target, d.test_rule))
        return d

    def _post_test_traffic_shift(self, d: Deployment) -> Deployment:
        return d

    def _pre_production_traffic_shift(self, d: Deployment) -> Deployment:
        return d

    def _production_traffic_shift(self, d: Deployment) -> Deployment:
        self._publish(TrafficState(d.target))
        return d

    def _post_production_traffic_shift(self, d: Deployment) -> Deployment:
        return d

    def _bake_time(self, d: Deployment) -> Deployment:
        if d.bake_until is None:
            # Absolute, so that a bgctl started again after a crash bakes only what is left.
            d = self._save(replace(d, bake_until=self.clock() + d.bake_seconds,
                                   bake_baseline=self.ctx.envoy.cluster_counters(cluster_for(d.target))))
        until = datetime.fromtimestamp(d.bake_until + 60, tz=timezone.utc)  # type: ignore[operator]
        death = self.ctx.stack.watch_for_death(slot_service(d.target), until)
        last_check = float("-inf")
        while True:
            remaining = d.bake_until - self.clock()  # type: ignore[operator]
            self._check_rollback_request()
            # Docker's event says at once that the candidate died; its health
            # (and the alarm) are read once a second.
            if death.died.is_set() or time.monotonic() - last_check >= 1.0 or remaining <= 0:
                last_check = time.monotonic()
                self._check_candidate(d)
                self._check_alarm(d)
                self._emit("bake", d, Stage.BAKE_TIME, data={"remaining": max(0.0, remaining), "total": d.bake_seconds})
            if remaining <= 0:
                return d
            self.sleep(min(0.1, remaining))

    def _clean_up(self, d: Deployment) -> Deployment:
        self._drain(d.source)
        self.ctx.stack.stop_gracefully(slot_service(d.source), timeout=STOP_TIMEOUT)
        return d

    # -- rollback ---------------------------------------------------------

    def _roll_back(self, d: Deployment, reason: str) -> Deployment:
        if not d.rolling_back:
            d = self._save(replace(d, status=Status.ROLLBACK_IN_PROGRESS, reason=reason, paused=False))
            self._emit("rollback", d, d.stage, message=reason)
        problems: list[str] = []
        try:
            source = self.ctx.stack.service_state(slot_service(d.source))
            if source is None or not source.serving:
                # Killed during CLEAN_UP: the old slot is already gone; bring it back first.
                self._emit("note", d, message=f"Starting {d.source} again.")
                self.ctx.stack.up([slot_service(d.source)], wait=True, timeout=120)
            self._publish(TrafficState(d.source))
        except BgctlError as exc:
            d = self._save(replace(d, status=Status.ROLLBACK_FAILED, finished=self.clock(),
                                   reason=f"{reason}; the rollback could not restore {d.source}: {exc}"))
            self._emit("finished", d)
            return d
        for stage in ROLLBACK_HOOK_STAGES:
            try:
                self._run_rollback_hooks(d, stage)
            except DeploymentFailure as exc:
                problems.append(str(exc))
        try:
            self._drain(d.target)
            self.ctx.stack.stop_gracefully(slot_service(d.target), timeout=STOP_TIMEOUT)
        except BgctlError as exc:
            problems.append(f"the candidate could not be stopped: {exc}")
        status = Status.ROLLBACK_FAILED if problems else Status.ROLLBACK_SUCCESSFUL
        d = self._save(replace(d, status=status, finished=self.clock(), hook_progress=None,
                               rollback_history=d.rollback_history + tuple(problems)))
        self._emit("finished", d)
        return d

    # -- hooks --------------------------------------------------------------

    def _run_hooks(self, d: Deployment, stage: Stage) -> Deployment:
        hooks = _hooks_at(d, stage)
        progress = d.hook_progress if d.hook_progress and d.hook_progress.stage == stage else HookProgress(stage)
        for index in range(progress.index, len(hooks)):
            details = progress.details if index == progress.index else None
            next_call = progress.next_call_at if index == progress.index else 0.0
            while True:
                self._wait_until(d, next_call)
                answer = self._call_hook(d, stage, hooks[index], details)
                if answer.status == "SUCCEEDED":
                    break
                if answer.status != "IN_PROGRESS":
                    raise DeploymentFailure(f"The {stage} hook `{hooks[index].command}` failed ({answer.reason}).")
                details, next_call = answer.details, self.clock() + answer.callback_delay
                d = self._save(replace(d, hook_progress=HookProgress(stage, index, details, next_call)))
            d = self._save(replace(d, hook_progress=HookProgress(stage, index + 1)))
        return d

    def _run_rollback_hooks(self, d: Deployment, stage: Stage) -> None:
        for hook in _hooks_at(d, stage):
            details = None
            while True:
                answer = self._call_hook(d, stage, hook, details, rollback=True)
                if answer.status == "SUCCEEDED":
                    break
                if answer.status != "IN_PROGRESS":
                    raise DeploymentFailure(f"The {stage} hook `{hook.command}` failed during the rollback "
                                            f"({answer.reason}).")
                details = answer.details
                self.sleep(answer.callback_delay)

    def _call_hook(self, d: Deployment, stage: Stage, hook: Hook, details: dict | None, rollback: bool = False):
        env = hook_environment(
            stage=stage, target=d.target, production=self.state.traffic.production,
            ingress_url=self.ctx.settings.ingress_url, test_header=d.test_rule.header,
            test_value=d.test_rule.value, deployment_id=d.id,
        )
        env["BGCTL_ROLLBACK"] = "1" if rollback else ""
        run = run_hook(hook, env=env, timeout=d.hook_timeout, details=details, cwd=self.ctx.settings.project_dir)
        self._emit("hook", d, stage, message=hook.command,
                   data={"status": run.answer.status, "reason": run.answer.reason, "seconds": run.seconds,
                         "stdout": run.stdout, "stderr": run.stderr})
        return run.answer

    # -- observing ----------------------------------------------------------

    def _check_candidate(self, d: Deployment) -> None:
        state = self.ctx.stack.service_state(slot_service(d.target))
        if state is None or state.status != "running":
            raise DeploymentFailure(
                f"The candidate {d.target} stopped ({state.status if state else 'removed'}) before CLEAN_UP."
            )
        if state.health == "unhealthy":
            raise DeploymentFailure(f"The candidate {d.target} turned unhealthy.")

    def _check_rollback_request(self) -> None:
        """`bgctl rollback` from another terminal while this one holds the lock leaves a request."""
        path = rollback_request_path(self.ctx.settings.state_dir)
        if path.exists():
            path.unlink(missing_ok=True)
            raise DeploymentFailure(USER_ROLLBACK)

    def _check_alarm(self, d: Deployment) -> None:
        if d.alarm_5xx_percent is None or d.bake_baseline is None:
            return
        now = self.ctx.envoy.cluster_counters(cluster_for(d.target))
        total = now.get("upstream_rq_total", 0) - d.bake_baseline.get("upstream_rq_total", 0)
        errors = now.get("upstream_rq_5xx", 0) - d.bake_baseline.get("upstream_rq_5xx", 0)
        if total > 0 and errors * 100.0 / total > d.alarm_5xx_percent:
            raise DeploymentFailure(
                f"Alarm: {errors} of {total} responses from {d.target} during bake were 5xx "
                f"({errors * 100.0 / total:.1f}%, above {d.alarm_5xx_percent:g}%)."
            )

    def _wait_until(self, d: Deployment, when: float) -> None:
        while (left := when - self.clock()) > 0:
            self._check_rollback_request()
            if d.stage in WATCHED:
                self._check_candidate(d)
            self.sleep(min(1.0, left))

    def _wait_for_envoy_host(self, d: Deployment) -> None:
        # Envoy finds the new container by DNS (refresh 1 s); route to it only once it has.
        deadline = time.monotonic() + ENVOY_HOST_WAIT
        while not self.ctx.envoy.cluster_hosts(cluster_for(d.target)):
            if time.monotonic() > deadline:
                raise DeploymentFailure(f"Envoy did not find the candidate {d.target} within {ENVOY_HOST_WAIT:.0f}s.")
            time.sleep(0.1)

    def _drain(self, slot: str) -> None:
        """Wait until Envoy has no request in flight to `slot` (its routes already point elsewhere)."""
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while self.ctx.envoy.cluster_counters(cluster_for(slot)).get("upstream_rq_active", 0) > 0:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)

    # -- records ------------------------------------------------------------

    def _publish(self, traffic: TrafficState) -> None:
        d = self.state.deployment
        fault = self.ctx.settings.fault_reject_routes_at
        renderer = None
        if fault and d is not None and not d.rolling_back and d.stage.value == fault:
            # A test aid (BGCTL_FAULT_REJECT_ROUTES_AT): a route file Envoy must reject.
            renderer = lambda t, v: render_file(t, v).replace('"domains"', '"domainz"')  # noqa: E731
        try:
            self.state, _ = self.ctx.apply_traffic(self.state, traffic, renderer=renderer)
        except BgctlError as exc:
            raise DeploymentFailure(str(exc)) from exc

    def _save(self, deployment: Deployment) -> Deployment:
        self.state = self.state.with_deployment(deployment)
        self.ctx.state_file.save(self.state)
        return deployment

    def _in_progress(self, verb: str) -> Deployment:
        deployment = self.state.deployment
        if deployment is None or deployment.finished_:
            raise InvalidInput(f"Nothing to {verb}: no deployment is in progress.")
        return deployment

    def _emit(self, kind: str, deployment: Deployment, stage: Stage | None = None, *, message: str = "",
              data: dict | None = None) -> None:
        self.observer(Event(kind, deployment, stage, message, data or {}))


def _hooks_at(d: Deployment, stage: Stage) -> list[Hook]:
    return [Hook.from_dict(h) for h in d.hooks if h["stage"] == stage.value]


def _previous(stage: Stage) -> Stage:
    return STAGES[max(0, STAGES.index(stage) - 1)]


def _health_wait(revision: Revision, profile: str) -> int:
    check = revision.health_check
    if check is None:
        return 60
    interval = 1 if profile == "fast" else check.interval
    return int(check.start_period + (check.retries + 1) * (interval + check.timeout) + 30)


def _missing_state() -> State:
    raise BgctlError("The stack has no state yet; run bgctl up first.")
