"""Running a deployment through the ECS blue/green lifecycle.

`Deployer.run` reads like the ECS documentation: every stage starts, does its
one thing (the table in `_actions`; the PRE_ and POST_ stages are only hook
points), calls its hooks, and records its end before the next one starts.
The record is saved at every step, so a bgctl killed at any point resumes by
running the current stage again (`bgctl continue`), and a rollback is the
same machinery with the old slot as the target.

The engine drives the world only through `ports.py`, and reads the time only
through `Clock`, so unit tests run every path with fakes in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from bgctl.core.config import DEFAULT_HOOK_TIMEOUT
from bgctl.core.deployment import DEFAULT_START_TIMEOUT, Deployment, HookProgress
from bgctl.core.errors import BgctlError, InvalidInput
from bgctl.core.hooks import Hook, HookRun, HookStatus, hook_environment
from bgctl.core.services import ServiceState
from bgctl.core.stages import CANDIDATE_WATCHED, ROLLBACK_HOOK_STAGES, Stage, Status
from bgctl.core.state import State
from bgctl.core.taskdef import Revision
from bgctl.core.traffic import Slot, TestTrafficRule, TrafficState
from bgctl.lifecycle.events import Bake, Event, EventKind, HookCall, Observer, ignore
from bgctl.lifecycle.ports import Ports, TaskWatch

# How long Envoy may take to list a new task in its cluster (its STRICT_DNS refresh is 0.25 s).
REGISTER_TIMEOUT = 15.0
DRAIN_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
# Starting the old slot again during a rollback (it was stopped in CLEAN_UP).
SOURCE_RESTART_TIMEOUT = 120.0
# How often waits look at rollback requests and the candidate's watch (both cost
# no more than a file check), and how often the bake reads Envoy's counters.
TICK = 0.1
BAKE_REPORT_EVERY = 1.0
DRAIN_POLL = 0.05

USER_ROLLBACK = "Rollback requested by the user."


class DeploymentFailure(BgctlError):
    """Something that makes ECS roll a deployment back automatically."""


@dataclass(frozen=True)
class DeployRequest:
    target: Slot
    revision: Revision | None  # None: the target's shipped revision
    test_rule: TestTrafficRule
    bake_seconds: float
    hooks: tuple[Hook, ...] = ()
    hook_timeout: float = DEFAULT_HOOK_TIMEOUT
    start_timeout: float = DEFAULT_START_TIMEOUT
    alarm_5xx_percent: float | None = None
    pause_at: Stage | None = None


class Deployer:
    def __init__(self, state: State, ports: Ports, *, ingress_url: str, observer: Observer = ignore) -> None:
        self.state = state
        self.ports = ports
        self.ingress_url = ingress_url
        self.observer = observer
        self.clock = ports.clock
        self._watch: TaskWatch | None = None

    # -- the three entry points ------------------------------------------------

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
        source = self.ports.tasks.state(production)
        if source is None or not source.serving:
            raise BgctlError(
                f"{production} serves production but its container is not running and healthy; run bgctl up first."
            )
        self._save(Deployment.new(
            target=request.target, source=production, revision=request.revision, test_rule=request.test_rule,
            bake_seconds=request.bake_seconds, hooks=request.hooks, hook_timeout=request.hook_timeout,
            start_timeout=request.start_timeout, alarm_5xx_percent=request.alarm_5xx_percent,
            pause_at=request.pause_at, created=self.clock.now(),
        ))
        return self.run()

    def resume(self) -> Deployment:
        d = self._in_progress("continue")
        if d.paused:
            self._emit(EventKind.NOTE, d, message=f"Resuming after {d.stage}.")
            self._save(replace(d, paused=False, pause_at=None).advanced())
        elif not d.rolling_back:
            self._emit(EventKind.NOTE, d, message=f"Resuming an interrupted deployment at {d.stage}.")
        return self.run()

    def roll_back(self, reason: str = USER_ROLLBACK) -> Deployment:
        d = self._in_progress("roll back")
        if not d.rolling_back:
            self._begin_rollback(d, reason)
        return self.run()

    # -- the lifecycle -----------------------------------------------------------

    def run(self) -> Deployment:
        try:
            while True:
                d = self.deployment
                if d.finished_ or d.paused:
                    return d
                if d.rolling_back:
                    return self._roll_back(d)
                try:
                    self._run_stage(d)
                except DeploymentFailure as failure:
                    self._begin_rollback(self.deployment, str(failure))
        finally:
            self._stop_watching()

    def _run_stage(self, d: Deployment) -> None:
        stage = d.stage
        self._check_rollback_request()
        d = self._save(d.stage_started(self.clock.now()))
        self._emit(EventKind.STAGE_STARTED, d, stage)
        if stage in CANDIDATE_WATCHED:
            self._watch_candidate(d)
        action = self._actions().get(stage)
        if action is not None:
            d = action(d)
        d = self._run_hooks(d, stage)
        if stage in CANDIDATE_WATCHED:
            self._check_candidate(d)
        # The stage's end and what comes next are saved together: a bgctl killed
        # in between would otherwise run the stage again and record it twice.
        ended = d.stage_ended(self.clock.now())
        seconds = ended.stage_seconds().get(stage.value)
        if ended.pause_at == stage:
            d = self._save(replace(ended, paused=True))
            self._emit(EventKind.STAGE_ENDED, d, stage, seconds=seconds)
            self._emit(EventKind.PAUSED, d, stage)
            return
        d = ended.advanced()
        if d.status == Status.SUCCESSFUL:
            self.state = self.state.with_revision(d.target, d.revision)
            d = self._save(replace(d, finished=self.clock.now()))
            self._emit(EventKind.STAGE_ENDED, d, stage, seconds=seconds)
            self._emit(EventKind.FINISHED, d)
            return
        self._emit(EventKind.STAGE_ENDED, self._save(d), stage, seconds=seconds)

    def _actions(self) -> dict[Stage, Callable[[Deployment], Deployment]]:
        """What each stage does besides calling its hooks."""
        return {
            Stage.RECONCILE_SERVICE: self._reconcile_service,
            Stage.SCALE_UP: self._scale_up,
            Stage.TEST_TRAFFIC_SHIFT: self._test_traffic_shift,
            Stage.PRODUCTION_TRAFFIC_SHIFT: self._production_traffic_shift,
            Stage.BAKE_TIME: self._bake_time,
            Stage.CLEAN_UP: self._clean_up,
        }

    def _reconcile_service(self, d: Deployment) -> Deployment:
        # Production must be on the recorded routes before anything moves.
        self._route(TrafficState(d.source))
        return d

    def _scale_up(self, d: Deployment) -> Deployment:
        try:
            addresses = self.ports.tasks.start(d.target, d.revision, timeout=d.start_timeout)
        except BgctlError as exc:
            raise DeploymentFailure(f"The candidate {d.target} never became healthy: {exc}") from exc
        self._watch_candidate(d, checked=True)
        try:
            # Routing to the candidate before Envoy lists it would answer 503.
            self.ports.service_connect.register(d.target, addresses, timeout=REGISTER_TIMEOUT)
        except BgctlError as exc:
            raise DeploymentFailure(str(exc)) from exc
        return d

    def _test_traffic_shift(self, d: Deployment) -> Deployment:
        self._route(TrafficState(d.source, d.target, d.test_rule))
        return d

    def _production_traffic_shift(self, d: Deployment) -> Deployment:
        self._route(TrafficState(d.target))
        return d

    def _bake_time(self, d: Deployment) -> Deployment:
        if d.bake_until is None:
            # Absolute, so that a bgctl started again after a crash bakes only what is left.
            d = self._save(replace(d, bake_until=self.clock.now() + d.bake_seconds,
                                   bake_baseline=self.ports.service_connect.counters(d.target)))
        assert d.bake_until is not None
        next_report = self.clock.now()
        while True:
            remaining = d.bake_until - self.clock.now()
            self._check_rollback_request()
            self._check_candidate(d)
            if remaining <= 0 or self.clock.now() >= next_report:
                self._check_alarm(d)
                self._emit(EventKind.BAKING, d, Stage.BAKE_TIME, bake=Bake(max(0.0, remaining), d.bake_seconds))
                while next_report <= self.clock.now():  # on a grid, so ticks do not stretch it
                    next_report += BAKE_REPORT_EVERY
            if remaining <= 0:
                return d
            self.clock.sleep(min(TICK, remaining))

    def _clean_up(self, d: Deployment) -> Deployment:
        self._stop_watching()
        self._stop_slot(d.source)
        return d

    # -- rollback ------------------------------------------------------------------

    def _begin_rollback(self, d: Deployment, reason: str) -> None:
        d = self._save(replace(d, status=Status.ROLLBACK_IN_PROGRESS, reason=reason, paused=False, hook_progress=None))
        self._emit(EventKind.ROLLING_BACK, d, d.stage, message=reason)

    def _roll_back(self, d: Deployment) -> Deployment:
        """All traffic back to the source, the traffic-shift hooks again, the candidate stopped."""
        self._stop_watching()
        reason = d.reason or USER_ROLLBACK
        try:
            self._ensure_running(d.source)
            self._route(TrafficState(d.source))
        except BgctlError as exc:
            return self._finish(replace(d, reason=f"{reason}; the rollback could not restore {d.source}: {exc}"),
                                Status.ROLLBACK_FAILED)
        problems: list[str] = []
        for stage in ROLLBACK_HOOK_STAGES:
            try:
                self._run_hooks(self.deployment, stage, rollback=True)
            except DeploymentFailure as exc:
                problems.append(str(exc))
        try:
            self._stop_slot(d.target)
        except BgctlError as exc:
            problems.append(f"the candidate could not be stopped: {exc}")
        d = replace(self.deployment, rollback_history=self.deployment.rollback_history + tuple(problems))
        return self._finish(d, Status.ROLLBACK_FAILED if problems else Status.ROLLBACK_SUCCESSFUL)

    def _ensure_running(self, slot: Slot) -> None:
        state = self.ports.tasks.state(slot)
        if state is not None and state.serving:
            return
        # Killed during CLEAN_UP: the old slot is already gone; bring it back first.
        self._emit(EventKind.NOTE, self.deployment, message=f"Starting {slot} again.")
        addresses = self.ports.tasks.start(slot, self.state.revisions.get(slot), timeout=SOURCE_RESTART_TIMEOUT)
        self.ports.service_connect.register(slot, addresses, timeout=REGISTER_TIMEOUT)

    def _finish(self, d: Deployment, status: Status) -> Deployment:
        d = self._save(replace(d, status=status, finished=self.clock.now(), hook_progress=None))
        self._emit(EventKind.FINISHED, d)
        return d

    # -- hooks ---------------------------------------------------------------------------

    def _run_hooks(self, d: Deployment, stage: Stage, *, rollback: bool = False) -> Deployment:
        """Call `stage`'s hooks in order: IN_PROGRESS is called again after its callBackDelay,
        with its hookDetails; FAILED (or a time-out, or no answer) fails the stage.

        Where each hook is, and when it is to be called again, is in the record: a
        bgctl started again after a crash goes on from there.
        """
        hooks = d.hooks_at(stage)
        progress = d.hook_progress if d.hook_progress and d.hook_progress.stage == stage else HookProgress(stage)
        for index in range(progress.index, len(hooks)):
            hook = hooks[index]
            details, next_call = (progress.details, progress.next_call_at) if index == progress.index else (None, 0.0)
            while True:
                self._wait_until(next_call, d)
                run = self._call_hook(d, hook, details, rollback=rollback)
                if run.answer.status == HookStatus.SUCCEEDED:
                    break
                if run.answer.status != HookStatus.IN_PROGRESS:
                    during = " during the rollback" if rollback else ""
                    raise DeploymentFailure(f"The {stage} hook `{hook.command}` failed{during} ({run.answer.reason}).")
                details, next_call = run.answer.details, self.clock.now() + run.answer.callback_delay
                d = self._save(replace(d, hook_progress=HookProgress(stage, index, details, next_call)))
            d = self._save(replace(d, hook_progress=HookProgress(stage, index + 1)))
        return d

    def _call_hook(self, d: Deployment, hook: Hook, details: dict | None, *, rollback: bool) -> HookRun:
        env = hook_environment(
            stage=hook.stage, target=d.target, production=self.state.traffic.production,
            ingress_url=self.ingress_url, test_header=d.test_rule.header, test_value=d.test_rule.value,
            deployment_id=d.id, rollback=rollback,
        )
        run = self.ports.hooks.run(hook, env=env, timeout=d.hook_timeout, details=details)
        self._emit(EventKind.HOOK_CALLED, d, hook.stage, hook_call=HookCall(hook, run, rollback))
        return run

    # -- watching --------------------------------------------------------------------------

    def _watch_candidate(self, d: Deployment, *, checked: bool = False) -> None:
        """Watch the candidate's task from now on; unless it was just found healthy, look at it once
        too (it may have died while no bgctl was watching)."""
        if self._watch is not None:
            return
        self._watch = self.ports.tasks.watch(d.target)
        if not checked:
            problem = _task_problem(d.target, self.ports.tasks.state(d.target))
            if problem:
                raise DeploymentFailure(problem)

    def _check_candidate(self, d: Deployment) -> None:
        if self._watch is None or (noticed := self._watch.problem()) is None:
            return
        # The event said something happened; the task's state words it the same way every time.
        raise DeploymentFailure(_task_problem(d.target, self.ports.tasks.state(d.target)) or noticed)

    def _stop_watching(self) -> None:
        if self._watch is not None:
            self._watch.close()
            self._watch = None

    def _check_rollback_request(self) -> None:
        if self.ports.rollback_requests.take():
            raise DeploymentFailure(USER_ROLLBACK)

    def _check_alarm(self, d: Deployment) -> None:
        if d.alarm_5xx_percent is None or d.bake_baseline is None:
            return
        now = self.ports.service_connect.counters(d.target)
        total = now.get("upstream_rq_total", 0) - d.bake_baseline.get("upstream_rq_total", 0)
        errors = now.get("upstream_rq_5xx", 0) - d.bake_baseline.get("upstream_rq_5xx", 0)
        if total > 0 and errors * 100.0 / total > d.alarm_5xx_percent:
            raise DeploymentFailure(
                f"Alarm: {errors} of {total} responses from {d.target} during bake were 5xx "
                f"({errors * 100.0 / total:.1f}%, above {d.alarm_5xx_percent:g}%)."
            )

    def _wait_until(self, when: float, d: Deployment) -> None:
        # A hand loop rather than tenacity: tenacity reads time.monotonic itself,
        # and every wait here must go through the injected clock.
        while (left := when - self.clock.now()) > 0:
            if not d.rolling_back:
                self._check_rollback_request()
                self._check_candidate(d)
            self.clock.sleep(min(TICK, left))

    # -- acting on the world ---------------------------------------------------------------

    def _route(self, traffic: TrafficState) -> None:
        try:
            self.state = self.ports.service_connect.apply(self.state, traffic)
        except BgctlError as exc:
            raise DeploymentFailure(str(exc)) from exc
        self.ports.records.save(self.state)

    def _stop_slot(self, slot: Slot) -> None:
        """Stop `slot` once Envoy has no request in flight to it (its routes already point elsewhere)."""
        deadline = self.clock.now() + DRAIN_TIMEOUT
        # Hand loop for the injected clock (see _wait_until); a drain that never ends is cut short,
        # as ECS's deregistration delay is.
        while self.ports.service_connect.counters(slot).get("upstream_rq_active", 0) > 0:
            if self.clock.now() >= deadline:
                break
            self.clock.sleep(DRAIN_POLL)
        self.ports.tasks.stop(slot, timeout=STOP_TIMEOUT)

    # -- the record ------------------------------------------------------------------------

    @property
    def deployment(self) -> Deployment:
        assert self.state.deployment is not None
        return self.state.deployment

    def _save(self, d: Deployment) -> Deployment:
        self.state = self.state.with_deployment(d)
        self.ports.records.save(self.state)
        return d

    def _in_progress(self, verb: str) -> Deployment:
        d = self.state.deployment
        if d is None or d.finished_:
            raise InvalidInput(f"Nothing to {verb}: no deployment is in progress.")
        return d

    def _emit(self, kind: EventKind, d: Deployment, stage: Stage | None = None, **fields) -> None:
        self.observer(Event(kind, d, stage, **fields))


def _task_problem(slot: Slot, task: ServiceState | None) -> str | None:
    if task is None or task.status != "running":
        return f"The candidate {slot} stopped ({task.status if task else 'removed'}) before CLEAN_UP."
    if task.health == "unhealthy":
        return f"The candidate {slot} turned unhealthy."
    return None
