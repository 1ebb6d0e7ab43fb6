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

import uuid
from dataclasses import dataclass, replace
from typing import Callable

from bgctl.core.arns import ServiceNames
from bgctl.core.config import DEFAULT_HOOK_TIMEOUT
from bgctl.core.deployment import (DEFAULT_START_TIMEOUT, Deployment, HookExecution, HookExecutionStatus,
                                   HookOutput, initial_revision_id, new_revision_id)
from bgctl.core.desired_count import DEFAULT_DESIRED_COUNT, TaskCount
from bgctl.core.durations import format_clock
from bgctl.core.errors import BgctlError, InvalidInput
from bgctl.core.hook_event import build_event, merge_details
from bgctl.core.hooks import Hook, HookStatus, HookTargetType, TimeoutAction, hook_environment, with_hook_ids
from bgctl.core.services import ServiceState
from bgctl.core.stages import CANDIDATE_WATCHED, ROLLBACK_HOOK_STAGES, STAGES, Stage, Status
from bgctl.core.state import State
from bgctl.core.strategy import TrafficShift
from bgctl.core.taskdef import Revision
from bgctl.core.topology import DEPLOYED_SERVICE
from bgctl.core.traffic import Slot, TestTrafficRule, TrafficState
from bgctl.lifecycle.events import Bake, Event, EventKind, HookCall, Observer, ignore
from bgctl.lifecycle.ports import HookInvocation, PendingHookRun, Ports, TaskWatch

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
# How often the engine looks whether a hook call in flight has returned.
HOOK_POLL = 0.02
# ECS fails any stage that runs longer than 24 hours (in ECS minutes, so BGCTL_MINUTE scales it).
MAX_STAGE_MINUTES = 1440

USER_ROLLBACK = "Rollback requested by the user."
# From here on the candidate gets traffic; the 5xx alarm watches it until the end of the bake.
ALARM_WATCHED = frozenset(STAGES[STAGES.index(Stage.TEST_TRAFFIC_SHIFT):STAGES.index(Stage.CLEAN_UP)])


class DeploymentFailure(BgctlError):
    """Something that makes ECS roll a deployment back automatically."""


class UserRollback(DeploymentFailure):
    """`bgctl rollback` from another terminal: ROLLBACK_REQUESTED, then the rollback."""


class Paused(Exception):
    """The stage's hooks are done but for PAUSE hooks awaiting action: this bgctl stops here."""


@dataclass(frozen=True)
class DeployRequest:
    target: Slot
    revision: Revision | None  # None: the target's shipped revision
    test_rule: TestTrafficRule
    bake_seconds: float
    hooks: tuple[Hook, ...] = ()
    # The limit of each hook call; each hook's timeoutConfiguration bounds all its calls.
    hook_timeout: float = DEFAULT_HOOK_TIMEOUT
    start_timeout: float = DEFAULT_START_TIMEOUT
    alarm_5xx_percent: float | None = None
    # ECS's alarms.rollback: False = the alarm is detected and reported, nothing rolls back.
    alarm_rollback: bool = True
    # bgctl's shorthand: stop after STAGE, paused, until `bgctl continue`.
    pause_at: Stage | None = None
    shift: TrafficShift = TrafficShift()
    minute_seconds: float = 60.0  # BGCTL_MINUTE
    names: ServiceNames = ServiceNames(DEPLOYED_SERVICE)
    # ECS's desiredCount: tasks of the target revision, all behind the slot's one Envoy cluster.
    desired_count: int = DEFAULT_DESIRED_COUNT


class Deployer:
    def __init__(self, state: State, ports: Ports, *, ingress_url: str, observer: Observer = ignore) -> None:
        self.state = state
        self.ports = ports
        self.ingress_url = ingress_url
        self.observer = observer
        self.clock = ports.clock
        self._watch: TaskWatch | None = None
        self._next_alarm_check = 0.0

    # -- the three entry points ------------------------------------------------

    def start(self, request: DeployRequest) -> Deployment:
        current = self.state.deployment
        if current is not None and not current.finished_:
            current = self._apply_expired_pauses(current)
            if current.rolling_back:
                # A PAUSE timed out with ROLLBACK while no bgctl ran: that deployment ends first.
                current = self.run()
        if current is not None and not current.finished_:
            raise InvalidInput(
                f"A deployment of {current.target} is already in progress ({current.status}, {current.stage}); "
                "run bgctl continue or bgctl rollback."
            )
        production = self.state.traffic.production
        if request.target == production:
            raise InvalidInput(f"{production} already serves production; deploy the other slot.")
        hooks = with_hook_ids(request.hooks)
        source = self.ports.tasks.state(production)
        if source is None or not source.serving:
            raise BgctlError(
                f"{production} serves production but its container is not running and healthy; run bgctl up first."
            )
        previous = self.state.deployment
        source_revision = previous.target_revision_id if previous is not None and previous.target == production \
            and previous.status == Status.SUCCESSFUL and previous.target_revision_id else initial_revision_id(production)
        # ECS runs RECONCILE_SERVICE only when the deployment starts while more than one service
        # revision is ACTIVE: here, when the target slot's tasks already run (left over from an
        # interrupted deployment or started by hand). Otherwise the first stage is PRE_SCALE_UP.
        leftover = self.ports.tasks.state(request.target)
        reconcile = leftover is not None and leftover.status == "running"
        d = self._save(Deployment.new(
            stage=Stage.RECONCILE_SERVICE if reconcile else Stage.PRE_SCALE_UP,
            target=request.target, source=production, revision=request.revision, test_rule=request.test_rule,
            bake_seconds=request.bake_seconds, hooks=hooks, hook_timeout=request.hook_timeout,
            start_timeout=request.start_timeout, alarm_5xx_percent=request.alarm_5xx_percent,
            alarm_rollback=request.alarm_rollback, pause_at=request.pause_at, shift=request.shift,
            minute_seconds=request.minute_seconds, names=request.names, desired_count=request.desired_count,
            source_count=self.state.desired_count, source_revision_id=source_revision,
            target_revision_id=new_revision_id(), status=Status.PENDING, created=self.clock.now(),
        ))
        if not reconcile and (d.hooks_at(Stage.RECONCILE_SERVICE) or d.pause_at == Stage.RECONCILE_SERVICE):
            self._emit(EventKind.NOTE, d, message=f"RECONCILE_SERVICE does not run ({request.target} runs no "
                                                  "other revision), nor its hooks or pause, as in ECS.")
        return self.run()

    def resume(self, hook_id: str | None = None) -> Deployment:
        """`bgctl continue [--hook-id ID]`: CONTINUE for PAUSE hooks awaiting action (all of them,
        or the one named), or going on after --pause-at or a crash."""
        d = self._in_progress("continue")
        before = {e.hook_id for e in d.awaiting()}
        d = self._apply_expired_pauses(d)
        if d.rolling_back:
            return self.run()
        awaiting = d.awaiting()
        timed_out = before - {e.hook_id for e in awaiting}
        if hook_id in timed_out or (timed_out and not awaiting):
            # Their time-out's CONTINUE decided; any other PAUSE hook of the stage pauses it again.
            self._save(replace(d, paused=False))
            return self.run()
        if hook_id is not None and not any(e.hook_id == hook_id for e in awaiting):
            waiting = ", ".join(sorted({e.hook_id for e in awaiting})) or "none"
            raise InvalidInput(f"No PAUSE hook {hook_id} awaits action (awaiting: {waiting}).")
        if awaiting:
            now = self.clock.now()
            chosen = [e for e in awaiting if hook_id is None or e.hook_id == hook_id]
            for execution in chosen:
                if now < execution.expires_at:  # past it, its own timeout action applies
                    d = d.with_execution(replace(execution, status=HookExecutionStatus.SUCCEEDED, ended=now,
                                                 reason="CONTINUE by the user"))
            d = self._save(replace(d, paused=False))
            self._emit(EventKind.NOTE, d, message=f"Continuing {', '.join(e.hook_id for e in chosen)} "
                                                  f"at {d.stage}.")
        elif d.paused:
            self._emit(EventKind.NOTE, d, message=f"Resuming after {d.stage}.")
            self._save(replace(d, paused=False, pause_at=None).advanced())
        elif not d.rolling_back:
            self._emit(EventKind.NOTE, d, message=f"Resuming an interrupted deployment at {d.stage}.")
        return self.run()

    def roll_back(self, reason: str = USER_ROLLBACK) -> Deployment:
        d = self._apply_expired_pauses(self._in_progress("roll back"))
        if not d.rolling_back:
            self._begin_rollback(d, reason, requested=True)
        return self.run()

    def _apply_expired_pauses(self, d: Deployment) -> Deployment:
        """PAUSE hooks whose timeout ran out while no bgctl ran get their action now, as ECS applied
        it then: each TIMED_OUT at its deadline; CONTINUE lets the deployment go on, ROLLBACK begins
        the rollback. Said in one line. Every verb that takes the lock calls this first."""
        now = self.clock.now()
        expired = [e for e in d.awaiting() if now >= e.expires_at]
        if not expired:
            return d
        said, rollback = [], None
        for execution in expired:
            hook = d.hook(execution.hook_id)
            assert hook is not None
            action = hook.timeout.action
            reason = f"timed out after {hook.timeout.minutes:g} minutes; action {action}"
            d = d.with_execution(replace(execution, status=HookExecutionStatus.TIMED_OUT, ended=execution.expires_at,
                                         reason=reason))
            said.append(f"{execution.hook_id} at {execution.stage} at {format_clock(execution.expires_at)} "
                        f"({action})")
            if action == TimeoutAction.ROLLBACK and rollback is None:
                rollback = f"The {execution.stage} hook `{hook.describe()}` {reason}."
        if not d.awaiting():
            d = replace(d, paused=False)
        d = self._save(d)
        self._emit(EventKind.NOTE, d, message=f"PAUSE timed out while no bgctl ran: {', '.join(said)}; "
                                              "applying it now.")
        if rollback is not None:
            self._begin_rollback(d, rollback)
        return self.deployment

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
                except Paused:
                    return self.deployment
                except UserRollback as failure:
                    self._begin_rollback(self.deployment, str(failure), requested=True)
                except DeploymentFailure as failure:
                    self._begin_rollback(self.deployment, str(failure))
        finally:
            self._stop_watching()

    def _run_stage(self, d: Deployment) -> None:
        stage = d.stage
        self._check_rollback_request()
        if d.status == Status.PENDING:
            if stage != Stage.RECONCILE_SERVICE:
                # RECONCILE_SERVICE does not run: bgctl's own safety step, production on the
                # recorded routes before anything moves, is done without a stage of its own.
                self._route(TrafficState(d.source))
            d = replace(self.deployment, status=Status.IN_PROGRESS)
        d = self._save(d.stage_started(self.clock.now()))
        self._emit(EventKind.STAGE_STARTED, d, stage)
        if stage in CANDIDATE_WATCHED:
            self._watch_candidate(d)
        action = self._actions().get(stage)
        if action is not None:
            d = action(d)
        d = self._run_hooks(d, stage)
        if stage == Stage.PRODUCTION_TRAFFIC_SHIFT:
            d = self._step_bake(d)
        if stage in CANDIDATE_WATCHED:
            self._check_candidate(d)
        # The stage's end and what comes next are saved together: a bgctl killed
        # in between would otherwise run the stage again and record it twice.
        ended = d.stage_ended(self.clock.now())
        record = ended.history[-1] if ended.history else None
        seconds = round(record.ended - record.started, 3) if record and record.ended is not None else None
        if ended.pause_at == stage:
            d = self._save(replace(ended, paused=True))
            self._emit(EventKind.STAGE_ENDED, d, stage, seconds=seconds)
            self._emit(EventKind.PAUSED, d, stage)
            return
        d = ended.advanced()
        if d.status == Status.SUCCESSFUL:
            self.state = replace(self.state.with_revision(d.target, d.revision), desired_count=d.desired_count)
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
        # Production must be on the recorded routes before anything moves; the target's
        # leftover tasks are replaced by SCALE_UP (Compose recreates what differs from the revision).
        self._route(TrafficState(d.source))
        self._emit(EventKind.NOTE, d, Stage.RECONCILE_SERVICE,
                   message=f"{d.target} already runs tasks (another revision is ACTIVE); "
                           "SCALE_UP runs this deployment's revision there.")
        return d

    def _scale_up(self, d: Deployment) -> Deployment:
        try:
            addresses = self.ports.tasks.start(d.target, d.revision, timeout=d.start_timeout, count=d.desired_count)
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
        if d.bake_baseline is None and d.alarm_5xx_percent is not None:
            # The alarm judges only what the candidate answered from now on.
            d = self._save(replace(d, bake_baseline=self.ports.service_connect.counters(d.target)))
        return d

    def _production_traffic_shift(self, d: Deployment) -> Deployment:
        percent = d.candidate_percent()
        if percent >= 100:
            self._route(TrafficState(d.target))
        else:
            # LINEAR and CANARY steps: the test rule still reaches the candidate.
            self._route(TrafficState(d.source, d.target, d.test_rule, candidate_percent=percent))
        return d

    def _step_bake(self, d: Deployment) -> Deployment:
        """LINEAR's stepBakeTime, CANARY's canaryBakeTime: the step's weights hold this long."""
        seconds = d.shift.bake_after(d.step)
        if seconds <= 0:
            return d
        if d.step_bake_until is None:
            d = self._save(replace(d, step_bake_until=self.clock.now() + seconds))
        assert d.step_bake_until is not None
        self._wait_until(d.step_bake_until, d)
        return self.deployment

    def _bake_time(self, d: Deployment) -> Deployment:
        if d.bake_until is None:
            # Absolute, so that a bgctl started again after a crash bakes only what is left.
            baseline = d.bake_baseline if d.bake_baseline is not None \
                else self.ports.service_connect.counters(d.target)
            d = self._save(replace(d, bake_until=self.clock.now() + d.bake_seconds, bake_baseline=baseline))
        assert d.bake_until is not None
        next_report = self.clock.now()
        while True:
            remaining = d.bake_until - self.clock.now()
            self._check_rollback_request()
            self._check_candidate(d)
            if remaining <= 0 or self.clock.now() >= next_report:
                self._check_alarm(self.deployment)
                self._emit(EventKind.BAKING, d, Stage.BAKE_TIME, bake=Bake(max(0.0, remaining), d.bake_seconds))
                while next_report <= self.clock.now():  # on a grid, so ticks do not stretch it
                    next_report += BAKE_REPORT_EVERY
            if remaining <= 0:
                return self.deployment
            self.clock.sleep(min(TICK, remaining))

    def _clean_up(self, d: Deployment) -> Deployment:
        self._stop_watching()
        self._stop_slot(d.source)
        return d

    # -- rollback ------------------------------------------------------------------

    def _begin_rollback(self, d: Deployment, reason: str, *, requested: bool = False) -> None:
        now = self.clock.now()
        # A PAUSE hook the rollback cut short is over.
        for execution in d.awaiting():
            d = d.with_execution(replace(execution, status=HookExecutionStatus.FAILED, ended=now,
                                         reason="ROLLBACK"))
        if requested:
            d = self._save(replace(d, status=Status.ROLLBACK_REQUESTED, reason=reason, paused=False))
            self._emit(EventKind.NOTE, d, message=f"ROLLBACK_REQUESTED at {d.stage}.")
        d = self._save(replace(d, status=Status.ROLLBACK_IN_PROGRESS, reason=reason, paused=False,
                               rollback_started=now))
        self._emit(EventKind.ROLLING_BACK, d, d.stage, message=reason)

    def _roll_back(self, d: Deployment) -> Deployment:
        """All traffic back to the source, the traffic-shift hooks again, the candidate stopped."""
        self._stop_watching()
        reason = d.reason or USER_ROLLBACK
        if d.status == Status.ROLLBACK_REQUESTED:  # killed in between
            d = self._save(replace(d, status=Status.ROLLBACK_IN_PROGRESS))
        try:
            self._ensure_running(d.source, d.source_count)
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

    def _ensure_running(self, slot: Slot, count: int) -> None:
        if not TaskCount.of(self.ports.tasks.all_tasks(slot), count).short:
            return
        # Killed during CLEAN_UP: the old slot is already gone (or some of its tasks); bring it back first.
        self._emit(EventKind.NOTE, self.deployment, message=f"Starting {slot} again.")
        addresses = self.ports.tasks.start(slot, self.state.revisions.get(slot), timeout=SOURCE_RESTART_TIMEOUT,
                                           count=count)
        self.ports.service_connect.register(slot, addresses, timeout=REGISTER_TIMEOUT)

    def _finish(self, d: Deployment, status: Status) -> Deployment:
        d = self._save(replace(d, status=status, finished=self.clock.now()))
        self._emit(EventKind.FINISHED, d)
        return d

    # -- hooks ---------------------------------------------------------------------------

    def _run_hooks(self, d: Deployment, stage: Stage, *, rollback: bool = False) -> Deployment:
        """Call `stage`'s hooks, all at once as ECS does, until each SUCCEEDED, TIMED_OUT with
        CONTINUE, or (PAUSE) awaits action.

        IN_PROGRESS is called again after its callBackDelay with its hookDetails merged in;
        FAILED, or TIMED_OUT with ROLLBACK, fails the stage. Each hook's status and next call
        are in the record: a bgctl started again after a crash goes on from there.
        """
        hooks = d.hooks_at(stage)
        if not hooks:
            return d
        now = self.clock.now()
        known = {e.hook_id for e in d.executions_at(stage, rollback=rollback)}
        for hook in hooks:
            if hook.hook_id in known:
                continue
            pause = hook.target_type == HookTargetType.PAUSE
            d = d.with_execution(HookExecution(
                hook.hook_id, stage, str(uuid.uuid4()),
                HookExecutionStatus.AWAITING_ACTION if pause else HookExecutionStatus.IN_PROGRESS,
                started=now, expires_at=now + hook.timeout.minutes * d.minute_seconds,
                step=0 if rollback else d.step, rollback=rollback, next_call_at=now, details=hook.details,
            ))
            if pause:
                self._emit(EventKind.NOTE, d, stage, message=f"PAUSE hook {hook.hook_id} awaits action "
                                                             "(bgctl continue, or bgctl rollback).")
        d = self._save(d)
        stage_started = d.current_record().started if d.current_record() and not rollback else now
        in_flight: dict[str, PendingHookRun] = {}
        try:
            return self._await_hooks(stage, rollback, stage_started, in_flight)
        except DeploymentFailure:
            # A hook failed (or the stage did) while others still run: the deployment rolls back
            # without waiting for them, and their calls are ended rather than left to their time limit.
            now, d = self.clock.now(), self.deployment
            for execution in d.executions_at(stage, rollback=rollback):
                if execution.hook_id in in_flight and not execution.done:
                    d = d.with_execution(replace(
                        execution, status=HookExecutionStatus.FAILED, ended=now,
                        reason="cancelled: another rollback hook failed" if rollback
                        else "cancelled: the deployment rolls back"))
            self._save(d)
            raise
        finally:
            for pending in in_flight.values():
                pending.cancel()

    def _await_hooks(self, stage: Stage, rollback: bool, stage_started: float,
                     in_flight: dict[str, PendingHookRun]) -> Deployment:
        d = self.deployment
        stage_limit = MAX_STAGE_MINUTES * d.minute_seconds
        while True:
            d = self.deployment
            now = self.clock.now()
            for execution in d.executions_at(stage, rollback=rollback):
                if execution.done:
                    continue
                d = self.deployment  # each answer below saves a new record
                hook = d.hook(execution.hook_id)
                assert hook is not None
                pending = in_flight.get(hook.hook_id)
                if pending is not None:
                    run = pending.result()
                    if run is None:
                        continue
                    del in_flight[hook.hook_id]
                    self._answered(d, hook, execution, run, rollback=rollback)
                elif now >= execution.expires_at:
                    self._timed_out(d, hook, execution, rollback=rollback)
                elif hook.target_type != HookTargetType.PAUSE and now >= execution.next_call_at:
                    in_flight[hook.hook_id] = self._call(d, hook, execution, rollback=rollback)
            d = self.deployment
            open_executions = [e for e in d.executions_at(stage, rollback=rollback) if not e.done]
            if not open_executions:
                return d
            if not in_flight and all(e.status == HookExecutionStatus.AWAITING_ACTION for e in open_executions):
                d = self._save(replace(d, paused=True))
                self._emit(EventKind.PAUSED, d, stage,
                           message=", ".join(e.hook_id for e in open_executions))
                raise Paused()
            if not rollback and now - stage_started >= stage_limit:
                raise DeploymentFailure(f"{stage} ran longer than ECS allows a stage "
                                        f"({MAX_STAGE_MINUTES} minutes).")
            if not rollback:
                self._check_rollback_request()
                self._check_candidate(d)
                self._check_alarm(d)
            due = min([e.next_call_at for e in open_executions if e.hook_id not in in_flight
                       and e.status == HookExecutionStatus.IN_PROGRESS] +
                      [e.expires_at for e in open_executions], default=now + TICK)
            self.clock.sleep(max(0.0, min(HOOK_POLL if in_flight else TICK, due - now)))

    def _call(self, d: Deployment, hook: Hook, execution: HookExecution, *, rollback: bool) -> PendingHookRun:
        env = hook_environment(
            stage=execution.stage, target=d.target, production=self.state.traffic.production,
            ingress_url=self.ingress_url, test_header=d.test_rule.header, test_value=d.test_rule.value,
            deployment_id=d.id, rollback=rollback,
        )
        # The call may not outlast the hook's timeoutConfiguration.
        timeout = max(0.001, min(d.hook_timeout, execution.expires_at - self.clock.now()))
        return self.ports.hooks.start(HookInvocation(hook, execution.stage, self._event(d, execution, rollback),
                                                     env, timeout))

    def _event(self, d: Deployment, execution: HookExecution, rollback: bool) -> dict:
        """ECS's event: the weights show where traffic is now (a rollback: all on the source)."""
        revision = {d.source: d.source_revision_id, d.target: d.target_revision_id}
        traffic = self.state.traffic
        if rollback or traffic.production not in revision:
            production = {d.source_revision_id: 100}
        else:
            production = {revision[slot]: pct for slot, pct in traffic.weights().items()
                          if pct and slot in revision}
        test = {d.target_revision_id: 100} if not rollback and traffic.candidate == d.target \
            and traffic.test_rule is not None else dict(production)
        return build_event(execution_id=execution.execution_id, stage=execution.stage, names=d.names,
                           deployment_id=d.id, target_revision_id=d.target_revision_id, test_weights=test,
                           production_weights=production, hook_details=execution.details)

    def _answered(self, d: Deployment, hook: Hook, execution: HookExecution, run, *, rollback: bool) -> None:
        now = self.clock.now()
        answer = run.answer
        d = d.with_output(HookOutput.of(hook.hook_id, execution.stage, now, answer.status.value, run.stdout,
                                        run.stderr, rollback))
        execution = replace(execution, calls=execution.calls + 1, reason=answer.reason)
        if answer.status == HookStatus.SUCCEEDED:
            execution = replace(execution, status=HookExecutionStatus.SUCCEEDED, ended=now)
        elif answer.status == HookStatus.IN_PROGRESS:
            execution = replace(execution, next_call_at=now + answer.callback_delay,
                                details=merge_details(execution.details, answer.details))
        elif now >= execution.expires_at:
            # The call was cut short by the hook's own timeout, not by its per-call limit.
            self._save(d)
            self._emit(EventKind.HOOK_CALLED, d, execution.stage, hook_call=HookCall(hook, run, rollback))
            return self._timed_out(self.deployment, hook, execution, rollback=rollback)
        else:
            execution = replace(execution, status=HookExecutionStatus.FAILED, ended=now)
        d = self._save(d.with_execution(execution))
        self._emit(EventKind.HOOK_CALLED, d, execution.stage, hook_call=HookCall(hook, run, rollback))
        if execution.status == HookExecutionStatus.FAILED:
            during = " during the rollback" if rollback else ""
            raise DeploymentFailure(
                f"The {execution.stage} hook `{hook.describe()}` failed{during} ({answer.reason}).")

    def _timed_out(self, d: Deployment, hook: Hook, execution: HookExecution, *, rollback: bool) -> None:
        now = self.clock.now()
        action = hook.timeout.action
        reason = f"timed out after {hook.timeout.minutes:g} minutes; action {action}"
        d = self._save(d.with_execution(replace(execution, status=HookExecutionStatus.TIMED_OUT, ended=now,
                                                reason=reason)))
        message = f"The {execution.stage} hook `{hook.describe()}` {reason}."
        self._emit(EventKind.NOTE, d, execution.stage, message=message)
        if action == TimeoutAction.ROLLBACK:
            raise DeploymentFailure(message)

    # -- watching --------------------------------------------------------------------------

    def _watch_candidate(self, d: Deployment, *, checked: bool = False) -> None:
        """Watch the candidate's task from now on; unless it was just found healthy, look at it once
        too (it may have died while no bgctl was watching)."""
        if self._watch is not None:
            return
        self._watch = self.ports.tasks.watch(d.target)
        if not checked:
            self._mind_candidate(d, None)

    def _check_candidate(self, d: Deployment) -> None:
        if self._watch is None or (noticed := self._watch.problem()) is None:
            return
        self._mind_candidate(d, noticed)

    def _mind_candidate(self, d: Deployment, noticed: str | None) -> None:
        """A candidate that lost a task while a sibling still serves gets a replacement, as ECS starts
        one; only a candidate with no task serving fails the deployment."""
        count = TaskCount.of(self.ports.tasks.all_tasks(d.target), d.desired_count)
        if count.replaceable:
            self._replace_lost_tasks(d, noticed, count)
            return
        if d.desired_count > 1 and not count.short:
            # The task recovered (healthy again) before anyone looked: watch afresh.
            self._stop_watching()
            self._watch_candidate(d, checked=True)
            return
        # The event said something happened; the task's state words it the same way every time.
        problem = _task_problem(d.target, self.ports.tasks.state(d.target)) or noticed
        if problem:
            raise DeploymentFailure(problem)

    def _replace_lost_tasks(self, d: Deployment, noticed: str | None, count: TaskCount) -> None:
        lost = noticed or f"The candidate {d.target} lost a task."
        self._emit(EventKind.NOTE, d, d.stage, message=f"{lost} {d.target} still serves from {count.healthy} of "
                                                       f"{count.desired} tasks; starting a replacement.")
        self._stop_watching()
        try:
            addresses = self.ports.tasks.start(d.target, d.revision, timeout=d.start_timeout, count=d.desired_count)
            self.ports.service_connect.register(d.target, addresses, timeout=REGISTER_TIMEOUT)
        except BgctlError as exc:
            raise DeploymentFailure(f"The candidate {d.target}'s replacement task never became healthy: {exc}") \
                from exc
        self._emit(EventKind.NOTE, d, d.stage, message=f"{d.target} runs {d.desired_count} healthy tasks again.")
        self._watch_candidate(d, checked=True)

    def _stop_watching(self) -> None:
        if self._watch is not None:
            self._watch.close()
            self._watch = None

    def _check_rollback_request(self) -> None:
        if self.ports.rollback_requests.take():
            raise UserRollback(USER_ROLLBACK)

    def _check_alarm(self, d: Deployment) -> None:
        """The 5xx alarm, from the test traffic shift through the bake (read at most once a second)."""
        if d.alarm_5xx_percent is None or d.bake_baseline is None or d.stage not in ALARM_WATCHED:
            return
        if d.alarm_triggered is not None or self.clock.now() < self._next_alarm_check:
            return
        self._next_alarm_check = self.clock.now() + BAKE_REPORT_EVERY
        now = self.ports.service_connect.counters(d.target)
        total = now.get("upstream_rq_total", 0) - d.bake_baseline.get("upstream_rq_total", 0)
        errors = now.get("upstream_rq_5xx", 0) - d.bake_baseline.get("upstream_rq_5xx", 0)
        if total > 0 and errors * 100.0 / total > d.alarm_5xx_percent:
            during = "during bake" if d.stage == Stage.BAKE_TIME else "since TEST_TRAFFIC_SHIFT"
            message = (f"Alarm: {errors} of {total} responses from {d.target} {during} were 5xx "
                       f"({errors * 100.0 / total:.1f}%, above {d.alarm_5xx_percent:g}%).")
            if d.alarm_rollback:
                raise DeploymentFailure(message)
            # alarms.rollback false: ECS reports the alarm and goes on.
            d = self._save(replace(d, alarm_triggered=message))
            self._emit(EventKind.NOTE, d, d.stage, message=f"{message} Not rolling back (alarm rollback off).")

    def _wait_until(self, when: float, d: Deployment) -> None:
        # A hand loop rather than tenacity: tenacity reads time.monotonic itself,
        # and every wait here must go through the injected clock.
        while (left := when - self.clock.now()) > 0:
            if not d.rolling_back:
                self._check_rollback_request()
                self._check_candidate(d)
                self._check_alarm(self.deployment)
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
