"""The lifecycle engine, every path, with fakes: no Docker, no Envoy, a clock whose sleep moves time.

What is asserted is what a user would check: the final status and stage,
where traffic went and in what order, which slots were started and stopped,
which hooks were called and when.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Callable

import pytest

from bgctl.core.durations import format_clock
from bgctl.core.errors import BgctlError, InvalidInput, RouteRejected
from bgctl.core.hooks import (DEFAULT_CALLBACK_DELAY, Hook, HookAnswer, HookInvocation, HookRun, HookStatus,
                              HookTargetType, HookTimeout, TimeoutAction)
from bgctl.core.services import ServiceState
from bgctl.core.stages import STAGES, Stage, Status
from bgctl.core.state import State
from bgctl.core.strategy import Strategy, TrafficShift
from bgctl.core.taskdef import Revision
from bgctl.core.traffic import TestTrafficRule, TrafficState
from bgctl.lifecycle.deployer import DRAIN_TIMEOUT, USER_ROLLBACK, Deployer, DeployRequest
from bgctl.lifecycle.events import Event, EventKind
from bgctl.lifecycle.ports import Ports

RULE = TestTrafficRule("x-amzn-ecs-bluegreen-test", "test")
INGRESS = "http://127.0.0.1:8080"
START = 1_700_000_000.0

# ECS runs RECONCILE_SERVICE only when the deployment starts while another revision is ACTIVE
# (here: the target's tasks already run); a plain deployment starts at PRE_SCALE_UP.
RUN_STAGES = [s for s in STAGES if s != Stage.RECONCILE_SERVICE]

PRODUCTION_ON_BLUE = TrafficState("blue")
TEST_WINDOW = TrafficState("blue", "green", RULE)
PRODUCTION_ON_GREEN = TrafficState("green")

REVISION = Revision(
    family="backend-v3", container_name="api", image="nginx:alpine", command=None, entry_point=None,
    environment=(("VERSION", "3"),), container_port=3000, port_name=None, health_check=None, cpu_units=None,
    memory_mib=None, ignored=(), source="v3.json",
)


class Crash(Exception):
    """bgctl killed at this point (kill -9): nothing after it runs, the record is what was saved."""


def crash(why: str) -> Callable[[], None]:
    def action() -> None:
        raise Crash(why)
    return action


# -- fakes -----------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.t = START
        self._due: list[tuple[float, Callable[[], None]]] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.t += seconds
        for entry in [e for e in self._due if e[0] <= self.t]:
            self._due.remove(entry)
            entry[1]()

    def after(self, seconds: float, action: Callable[[], None]) -> None:
        self._due.append((self.t + seconds, action))


def running(slot: str, health: str | None = "healthy") -> ServiceState:
    return ServiceState(f"backend-{slot}", "running", health, f"p-backend-{slot}-1", "nginx")


class FakeWatch:
    def __init__(self, slot: str) -> None:
        self.slot = slot
        self.noticed: str | None = None
        self.closed = False

    def problem(self) -> str | None:
        return self.noticed

    def close(self) -> None:
        self.closed = True


class FakeTasks:
    """A slot's first task in `tasks`; with a desired count above one, the others in `siblings`."""

    def __init__(self) -> None:
        self.tasks: dict[str, ServiceState] = {"blue": running("blue")}
        self.siblings: dict[str, list[ServiceState]] = {}
        self.counts: list[tuple[str, int]] = []
        self.calls: list[tuple[str, str]] = []
        self.revisions: dict[str, Revision | None] = {}
        self.watches: list[FakeWatch] = []
        self.never_healthy: set[str] = set()
        self.cannot_start: set[str] = set()
        self.crash_after_stop: set[str] = set()

    def state(self, slot: str) -> ServiceState | None:
        return self.tasks.get(slot)

    def all_tasks(self, slot: str) -> tuple[ServiceState, ...]:
        first = self.tasks.get(slot)
        return ((first,) if first else ()) + tuple(self.siblings.get(slot, ()))

    def start(self, slot: str, revision: Revision | None, *, timeout: float, count: int = 1) -> tuple[str, ...]:
        self.calls.append(("start", slot))
        self.counts.append((slot, count))
        if slot in self.cannot_start:
            raise BgctlError(f"Docker could not start backend-{slot}: no such image")
        if slot in self.never_healthy:
            self.tasks[slot] = running(slot, "unhealthy")
            raise BgctlError(f"backend-{slot} was not healthy within {timeout:g}s")
        self.tasks[slot] = running(slot)
        self.siblings[slot] = [running(slot)] * (count - 1)
        self.revisions[slot] = revision
        return (f"10.0.0.{len(self.calls)}",)

    def stop(self, slot: str, *, timeout: float) -> None:
        self.calls.append(("stop", slot))
        if slot in self.tasks:
            self.tasks[slot] = replace(self.tasks[slot], status="exited", health=None)
        self.siblings[slot] = [replace(t, status="exited", health=None) for t in self.siblings.get(slot, ())]
        if slot in self.crash_after_stop:
            self.crash_after_stop.discard(slot)
            raise Crash(f"killed right after stopping {slot}")

    def watch(self, slot: str) -> FakeWatch:
        watch = FakeWatch(slot)
        self.watches.append(watch)
        return watch

    def kill(self, slot: str) -> None:
        """`docker kill`: the task dies, and the event stream says so."""
        self.tasks[slot] = replace(self.tasks[slot], status="exited", health=None)
        self._notify(slot, f"backend-{slot}'s container stopped (exit code 137).")

    def kill_sibling(self, slot: str) -> None:
        """`docker kill` of one of the slot's other tasks."""
        self.siblings[slot][-1] = replace(self.siblings[slot][-1], status="exited", health=None)
        self._notify(slot, f"backend-{slot}-2's container stopped (exit code 137).")

    def sicken(self, slot: str) -> None:
        self.tasks[slot] = replace(self.tasks[slot], health="unhealthy")
        self._notify(slot, f"backend-{slot}'s container turned unhealthy.")

    def _notify(self, slot: str, sentence: str) -> None:
        for watch in self.watches:
            if watch.slot == slot and not watch.closed:
                watch.noticed = sentence

    def running(self) -> set[str]:
        return {slot for slot, task in self.tasks.items() if task.status == "running"}


class FakeServiceConnect:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.applied: list[TrafficState] = []
        self.registered: list[tuple[str, tuple[str, ...]]] = []
        self.reject_at: set[Stage] = set()
        self.crash_at: set[Stage] = set()
        self.counts: dict[str, dict[str, int]] = {}
        self.active_until: dict[str, float] = {}
        self._version = 0

    def apply(self, state: State, traffic: TrafficState) -> State:
        d = state.deployment
        stage = d.stage if d is not None and not d.rolling_back else None
        if stage in self.reject_at:
            raise RouteRejected(f"v{self._version + 1}", "no such field: 'domainz'")
        self._version += 1
        self.applied.append(traffic)
        if stage in self.crash_at:
            self.crash_at.discard(stage)
            raise Crash(f"killed after publishing at {stage}, before recording it")
        return state.with_traffic(traffic, f"v{self._version}")

    def register(self, slot: str, addresses: tuple[str, ...], *, timeout: float) -> None:
        self.registered.append((slot, addresses))

    def counters(self, slot: str) -> dict[str, int]:
        active = 1 if self.clock.now() < self.active_until.get(slot, 0.0) else 0
        return {"upstream_rq_total": 0, "upstream_rq_5xx": 0, **self.counts.get(slot, {}),
                "upstream_rq_active": active}


class FakeRecords:
    def __init__(self) -> None:
        self.saved: State | None = None
        self.saves = 0
        self.statuses: list[Status] = []

    def save(self, state: State) -> None:
        # Through JSON, as the state file does: what a new bgctl would read back.
        self.saved = State.from_dict(json.loads(json.dumps(state.to_dict())))
        self.saves += 1
        if self.saved.deployment is not None:
            self.statuses.append(self.saved.deployment.status)


@dataclass
class HookCallRecord:
    stage: Stage
    command: str
    rollback: bool
    details: dict | None
    at: float
    timeout: float
    event: dict = field(default_factory=dict)
    hook_id: str = ""


@dataclass(frozen=True)
class Slow:
    """A call that answers `answer` after `seconds` on the clock."""

    seconds: float
    answer: HookAnswer = HookAnswer(HookStatus.SUCCEEDED, DEFAULT_CALLBACK_DELAY, None, "exit status 0")


class FakePending:
    def __init__(self, clock: FakeClock, ready_at: float, run: HookRun, command: str, cancelled: list) -> None:
        self.clock, self.ready_at, self.run = clock, ready_at, run
        self.command, self._cancelled = command, cancelled

    def result(self) -> HookRun | None:
        return self.run if self.clock.now() >= self.ready_at else None

    def cancel(self) -> None:
        if self.clock.now() < self.ready_at:  # one that returned already is left alone
            self._cancelled.append((self.command, self.clock.now()))


class FakeHooks:
    """Answers from a script per command (default: SUCCEEDED at once); "hang" runs into the time limit,
    Slow(seconds, answer) answers after a while, so that calls started together overlap."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.script: dict[str, list] = {}
        self.calls: list[HookCallRecord] = []
        self.ended: list[tuple[str, float]] = []
        self.cancelled: list[tuple[str, float]] = []

    def start(self, call: HookInvocation) -> FakePending:
        hook, env = call.hook, call.env
        assert env["BGCTL_STAGE"] == call.stage.value and env["BGCTL_TARGET_SLOT"] == "green"
        assert call.event["lifecycleStage"] == call.stage.value
        details = call.event["hookDetails"] or None
        self.calls.append(HookCallRecord(call.stage, hook.command, env["BGCTL_ROLLBACK"] == "1", details,
                                         self.clock.now(), call.timeout, call.event, hook.hook_id))
        queued = self.script.get(hook.command, [])
        answer = queued.pop(0) if queued else HookAnswer(HookStatus.SUCCEEDED, DEFAULT_CALLBACK_DELAY, None,
                                                         "exit status 0")
        seconds = 0.0
        if answer == "crash":
            raise Crash(f"killed while {hook.command} ran")
        if answer == "hang":
            seconds = call.timeout
            answer = HookAnswer(HookStatus.FAILED, DEFAULT_CALLBACK_DELAY, None, f"timed out after {call.timeout:g}s")
        if isinstance(answer, Slow):
            seconds, answer = min(answer.seconds, call.timeout), answer.answer
        self.ended.append((hook.command, self.clock.now() + seconds))
        return FakePending(self.clock, self.clock.now() + seconds, HookRun(answer, 0, f"out of {hook.command}", "",
                                                                           seconds), hook.command, self.cancelled)

    def called(self) -> list[tuple[str, str, bool]]:
        return [(c.stage.value, c.command, c.rollback) for c in self.calls]


class FakeRollbackRequests:
    def __init__(self) -> None:
        self.requested = False

    def take(self) -> bool:
        requested, self.requested = self.requested, False
        return requested


@dataclass
class World:
    clock: FakeClock = field(default_factory=FakeClock)
    tasks: FakeTasks = field(default_factory=FakeTasks)
    records: FakeRecords = field(default_factory=FakeRecords)
    requests: FakeRollbackRequests = field(default_factory=FakeRollbackRequests)
    events: list[Event] = field(default_factory=list)
    reactions: list[tuple[EventKind, Stage | None, Callable[[], None]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.connect = FakeServiceConnect(self.clock)
        self.hooks = FakeHooks(self.clock)
        self.records.save(State(PRODUCTION_ON_BLUE, routes_version="v0"))

    def deployer(self) -> Deployer:
        """A bgctl started now: it knows only the saved record."""
        ports = Ports(tasks=self.tasks, service_connect=self.connect, records=self.records, hooks=self.hooks,
                      rollback_requests=self.requests, clock=self.clock)
        assert self.records.saved is not None
        return Deployer(self.records.saved, ports, ingress_url=INGRESS, observer=self._observe)

    def on(self, kind: EventKind, stage: Stage | None, action: Callable[[], None]) -> None:
        """Do `action` once, when the engine reports `kind` at `stage`."""
        self.reactions.append((kind, stage, action))

    def crash_on(self, kind: EventKind, stage: Stage) -> None:
        self.on(kind, stage, crash(f"killed at {kind.value} {stage}"))

    def _observe(self, event: Event) -> None:
        self.events.append(event)
        for reaction in list(self.reactions):
            kind, stage, action = reaction
            if event.kind == kind and event.stage == stage:
                self.reactions.remove(reaction)
                action()

    @property
    def record(self):
        assert self.records.saved is not None and self.records.saved.deployment is not None
        return self.records.saved.deployment

    def stages(self, kind: EventKind = EventKind.STAGE_STARTED) -> list[Stage]:
        return [e.stage for e in self.events if e.kind == kind]  # type: ignore[misc]


def leftover_candidate(world: World) -> World:
    """green's tasks already run when the deployment starts (an interrupted or manual start)."""
    world.tasks.tasks["green"] = running("green")
    return world


def stages_run(stage: Stage) -> list[Stage]:
    """The stages of a deployment that runs `stage` (RECONCILE_SERVICE only with a leftover candidate)."""
    return list(STAGES) if stage == Stage.RECONCILE_SERVICE else RUN_STAGES


def request(**overrides) -> DeployRequest:
    fields = dict(target="green", revision=None, test_rule=RULE, bake_seconds=60.0, hook_timeout=5.0)
    fields.update(overrides)
    return DeployRequest(**fields)


def deploy(world: World, **overrides):
    return world.deployer().start(request(**overrides))


def without_repeats(applied: list[TrafficState]) -> list[TrafficState]:
    """What Envoy served in turn (the real adapter does not republish what is live)."""
    return [t for i, t in enumerate(applied) if i == 0 or applied[i - 1] != t]


def assert_rolled_back(world: World, d, *, stage: Stage, reason: str) -> None:
    assert d.status == Status.ROLLBACK_SUCCESSFUL, d.reason
    assert d.stage == stage
    assert reason in (d.reason or "")
    assert world.record == d
    assert world.records.saved.traffic == PRODUCTION_ON_BLUE  # type: ignore[union-attr]
    assert world.connect.applied[-1] == PRODUCTION_ON_BLUE
    assert world.tasks.running() == {"blue"}
    assert all(w.closed for w in world.tasks.watches)


# -- success -------------------------------------------------------------------------------


def test_a_deployment_goes_through_the_stages_and_green_serves():
    world = World()
    d = deploy(world)
    assert d.status == Status.SUCCESSFUL and d.finished is not None
    assert world.stages() == RUN_STAGES == world.stages(EventKind.STAGE_ENDED)
    assert [r.stage for r in d.history] == RUN_STAGES and all(r.ended is not None for r in d.history)
    assert without_repeats(world.connect.applied) == [PRODUCTION_ON_BLUE, TEST_WINDOW, PRODUCTION_ON_GREEN]
    assert world.tasks.calls == [("start", "green"), ("stop", "blue")]
    assert world.connect.registered == [("green", ("10.0.0.1",))]
    assert world.tasks.running() == {"green"}
    saved = world.records.saved
    assert saved.traffic == PRODUCTION_ON_GREEN and saved.deployment == d  # type: ignore[union-attr]
    assert [e.kind for e in world.events][-1] == EventKind.FINISHED
    assert all(w.closed for w in world.tasks.watches)
    said = [e.seconds for e in world.events if e.kind == EventKind.STAGE_ENDED]
    assert said == [round(r.ended - r.started, 3) for r in d.history]  # type: ignore[operator]


def test_the_bake_lasts_its_time_on_the_clock_and_reports_once_a_second():
    world = World()
    d = deploy(world, bake_seconds=300.0)
    bake = next(r for r in d.history if r.stage == Stage.BAKE_TIME)
    assert 300.0 <= bake.ended - bake.started < 300.2  # type: ignore[operator]
    remaining = [e.bake.remaining for e in world.events if e.kind == EventKind.BAKING]  # type: ignore[union-attr]
    assert remaining[0] == 300.0 and remaining[-1] == 0.0
    assert 300 <= len(remaining) <= 302


def test_a_task_definition_revision_is_what_the_target_runs_and_is_recorded():
    world = World()
    d = deploy(world, revision=REVISION)
    assert d.status == Status.SUCCESSFUL
    assert world.tasks.revisions["green"] == REVISION
    assert world.records.saved.revisions == {"green": REVISION}  # type: ignore[union-attr]


def test_the_shipped_revision_is_started_as_none_and_leaves_no_revision_recorded():
    world = World()
    world.records.save(replace(world.records.saved, revisions={"green": REVISION}))  # type: ignore[arg-type]
    deploy(world)
    assert world.tasks.revisions["green"] is None
    assert world.records.saved.revisions == {}  # type: ignore[union-attr]


def test_the_old_slot_is_stopped_only_once_envoy_has_no_request_in_flight_to_it():
    world = World()
    world.on(EventKind.STAGE_STARTED, Stage.CLEAN_UP, lambda: world.connect.active_until.update(
        blue=world.clock.now() + 4.0))
    d = deploy(world)
    clean_up = next(r for r in d.history if r.stage == Stage.CLEAN_UP)
    assert 4.0 <= clean_up.ended - clean_up.started < 4.2  # type: ignore[operator]


def test_a_drain_that_never_ends_is_cut_short():
    world = World()
    world.on(EventKind.STAGE_STARTED, Stage.CLEAN_UP, lambda: world.connect.active_until.update(blue=float("inf")))
    d = deploy(world)
    assert d.status == Status.SUCCESSFUL
    clean_up = next(r for r in d.history if r.stage == Stage.CLEAN_UP)
    assert DRAIN_TIMEOUT <= clean_up.ended - clean_up.started < DRAIN_TIMEOUT + 0.2  # type: ignore[operator]
    assert ("stop", "blue") in world.tasks.calls


def test_without_another_active_revision_reconcile_service_does_not_run_but_production_routes_are_checked():
    world = World()
    seen_at_first_stage: list[TrafficState] = []
    world.on(EventKind.STAGE_STARTED, Stage.PRE_SCALE_UP,
             lambda: seen_at_first_stage.extend(world.connect.applied))
    d = deploy(world, hooks=(Hook(Stage.RECONCILE_SERVICE, "reconcile"), Hook(Stage.PRE_SCALE_UP, "pre")))
    assert d.status == Status.SUCCESSFUL
    assert Stage.RECONCILE_SERVICE not in world.stages() and d.history[0].stage == Stage.PRE_SCALE_UP
    # bgctl's safety step still ran, before anything moved.
    assert seen_at_first_stage == [PRODUCTION_ON_BLUE] and world.tasks.calls[0] == ("start", "green")
    assert [c.command for c in world.hooks.calls] == ["pre"]  # ECS runs no RECONCILE_SERVICE hooks then
    assert "RECONCILE_SERVICE does not run (green runs no other revision), nor its hooks or pause, as in ECS." \
        in [e.message for e in world.events]
    assert world.records.statuses[0] == Status.PENDING and world.record.history[0].stage == Stage.PRE_SCALE_UP


def test_a_deployment_starting_while_the_target_already_runs_goes_through_reconcile_service():
    world = leftover_candidate(World())
    d = deploy(world, hooks=(Hook(Stage.RECONCILE_SERVICE, "reconcile"),))
    assert d.status == Status.SUCCESSFUL
    assert world.stages() == list(STAGES) and [r.stage for r in d.history] == list(STAGES)
    assert world.hooks.called() == [("RECONCILE_SERVICE", "reconcile", False)]
    assert without_repeats(world.connect.applied) == [PRODUCTION_ON_BLUE, TEST_WINDOW, PRODUCTION_ON_GREEN]
    assert world.tasks.calls == [("start", "green"), ("stop", "blue")]  # the leftover replaced by SCALE_UP
    assert "green already runs tasks (another revision is ACTIVE); SCALE_UP runs this deployment's revision " \
           "there." in [e.message for e in world.events]


# -- refusals ----------------------------------------------------------------------------------


def test_deploying_the_production_slot_is_refused_and_nothing_changes():
    world = World()
    saves = world.records.saves
    with pytest.raises(InvalidInput, match="blue already serves production; deploy the other slot."):
        deploy(world, target="blue")
    assert world.records.saves == saves and world.tasks.calls == []


def test_a_second_deployment_while_one_is_in_progress_is_refused():
    world = World()
    deploy(world, pause_at=Stage.POST_SCALE_UP)
    with pytest.raises(InvalidInput, match="already in progress"):
        deploy(world)


def test_a_production_slot_that_is_not_serving_is_refused():
    world = World()
    world.tasks.tasks["blue"] = running("blue", "unhealthy")
    with pytest.raises(BgctlError, match="not running and healthy"):
        deploy(world)
    assert world.tasks.calls == []


@pytest.mark.parametrize("verb, call", [("continue", Deployer.resume), ("roll back", Deployer.roll_back)])
def test_continue_and_rollback_without_a_deployment_are_refused(verb, call):
    with pytest.raises(InvalidInput, match=f"Nothing to {verb}: no deployment is in progress."):
        call(World().deployer())


# -- pause and continue -------------------------------------------------------------------------


def test_pause_in_the_test_window_then_continue():
    world = World()
    paused = deploy(world, pause_at=Stage.POST_TEST_TRAFFIC_SHIFT)
    assert (paused.status, paused.stage, paused.paused) == (Status.IN_PROGRESS, Stage.POST_TEST_TRAFFIC_SHIFT, True)
    assert world.records.saved.traffic == TEST_WINDOW  # type: ignore[union-attr]
    assert world.tasks.running() == {"blue", "green"}
    assert world.events[-1].kind == EventKind.PAUSED
    assert all(w.closed for w in world.tasks.watches)

    world.clock.t += 3600  # however long the user takes
    done = world.deployer().resume()
    assert done.status == Status.SUCCESSFUL and not done.paused and done.pause_at is None
    assert "Resuming after POST_TEST_TRAFFIC_SHIFT." in [e.message for e in world.events]
    assert world.stages() == RUN_STAGES  # each stage started once
    assert without_repeats(world.connect.applied) == [PRODUCTION_ON_BLUE, TEST_WINDOW, PRODUCTION_ON_GREEN]


def test_a_candidate_that_died_during_the_pause_rolls_back_on_continue():
    world = World()
    deploy(world, pause_at=Stage.POST_TEST_TRAFFIC_SHIFT)
    world.tasks.tasks["green"] = replace(world.tasks.tasks["green"], status="exited")
    d = world.deployer().resume()
    assert_rolled_back(world, d, stage=Stage.PRE_PRODUCTION_TRAFFIC_SHIFT,
                       reason="The candidate green stopped (exited) before CLEAN_UP.")


# -- automatic rollback -------------------------------------------------------------------------


def test_a_candidate_that_never_gets_healthy_rolls_back_and_never_gets_traffic():
    world = World()
    world.tasks.never_healthy.add("green")
    d = deploy(world)
    assert_rolled_back(world, d, stage=Stage.SCALE_UP, reason="The candidate green never became healthy")
    assert set(world.connect.applied) == {PRODUCTION_ON_BLUE}
    assert ("stop", "green") in world.tasks.calls


@pytest.mark.parametrize("stage", [Stage.POST_SCALE_UP, Stage.POST_TEST_TRAFFIC_SHIFT, Stage.BAKE_TIME])
def test_a_candidate_killed_while_watched_rolls_back(stage):
    world = World()
    # A hook that keeps the stage busy, so the death comes while the engine waits.
    script = [HookAnswer(HookStatus.IN_PROGRESS, 10.0, None, "wait")] * 3
    world.hooks.script["slow"] = list(script)
    hooks = () if stage == Stage.BAKE_TIME else (Hook(stage, "slow"),)
    world.on(EventKind.STAGE_STARTED, stage, lambda: world.clock.after(2.5, lambda: world.tasks.kill("green")))
    d = deploy(world, hooks=hooks)
    assert_rolled_back(world, d, stage=stage, reason="The candidate green stopped (exited) before CLEAN_UP.")
    rolled_back = next(e for e in world.events if e.kind == EventKind.ROLLING_BACK)
    assert rolled_back.message == "The candidate green stopped (exited) before CLEAN_UP."


def test_a_desired_count_starts_that_many_tasks_and_the_service_keeps_it():
    world = World()
    d = deploy(world, desired_count=3)
    assert d.status == Status.SUCCESSFUL and (d.desired_count, d.source_count) == (3, 1)
    assert world.tasks.counts == [("green", 3)]
    assert world.records.saved.desired_count == 3  # type: ignore[union-attr]
    # The next deployment's source is the service as it now runs.
    assert world.deployer().start(request(target="blue")).source_count == 3


def test_a_lost_task_with_a_sibling_serving_is_replaced_not_rolled_back():
    world = World()
    world.on(EventKind.STAGE_STARTED, Stage.BAKE_TIME,
             lambda: world.clock.after(5.0, lambda: world.tasks.kill_sibling("green")))
    d = deploy(world, desired_count=2, bake_seconds=60.0)
    assert d.status == Status.SUCCESSFUL
    assert world.tasks.counts == [("green", 2), ("green", 2)]  # SCALE_UP, then the replacement
    assert [t.status for t in world.tasks.all_tasks("green")] == ["running", "running"]
    notes = [e.message for e in world.events if e.kind == EventKind.NOTE]
    assert ("backend-green-2's container stopped (exit code 137). green still serves from 1 of 2 tasks; "
            "starting a replacement.") in notes
    assert "green runs 2 healthy tasks again." in notes
    assert world.connect.registered[-1][0] == "green"
    assert not any(t == PRODUCTION_ON_BLUE for t in world.connect.applied[2:])  # never rolled back


def test_a_candidate_with_no_task_left_serving_rolls_back():
    world = World()

    def kill_all() -> None:
        world.tasks.kill_sibling("green")
        world.tasks.kill("green")
    world.on(EventKind.STAGE_STARTED, Stage.BAKE_TIME, lambda: world.clock.after(5.0, kill_all))
    d = deploy(world, desired_count=2)
    assert_rolled_back(world, d, stage=Stage.BAKE_TIME, reason="The candidate green stopped (exited) before CLEAN_UP.")
    assert world.tasks.counts == [("green", 2)]


def test_a_rollback_restarts_the_source_at_its_own_count():
    world = World()
    deploy(world, desired_count=2)
    world.tasks.crash_after_stop.add("green")
    with pytest.raises(Crash):
        world.deployer().start(request(target="blue", desired_count=1))
    # Killed right after CLEAN_UP stopped green (the source, 2 tasks): a rollback starts both again.
    d = world.deployer().roll_back()
    assert d.status == Status.ROLLBACK_SUCCESSFUL
    assert world.tasks.counts[-1] == ("green", 2)


def test_a_candidate_that_turns_unhealthy_during_bake_rolls_back_at_once():
    world = World()
    world.on(EventKind.STAGE_STARTED, Stage.BAKE_TIME, lambda: world.clock.after(5.0, lambda: world.tasks.sicken("green")))
    d = deploy(world, bake_seconds=300.0)
    assert_rolled_back(world, d, stage=Stage.BAKE_TIME, reason="The candidate green turned unhealthy.")
    assert d.finished - d.bake_until < -290  # type: ignore[operator]  # not at the end of the bake
    assert world.connect.applied[-2:] == [PRODUCTION_ON_GREEN, PRODUCTION_ON_BLUE]


def test_a_failing_hook_rolls_back_and_the_traffic_shift_hooks_run_again():
    world = World()
    world.hooks.script["smoke"] = [HookAnswer(HookStatus.FAILED, 30.0, None, "exit status 3")]
    hooks = (Hook(Stage.TEST_TRAFFIC_SHIFT, "record"), Hook(Stage.PRODUCTION_TRAFFIC_SHIFT, "record"),
             Hook(Stage.POST_TEST_TRAFFIC_SHIFT, "smoke"))
    d = deploy(world, hooks=hooks)
    assert_rolled_back(world, d, stage=Stage.POST_TEST_TRAFFIC_SHIFT,
                       reason="The POST_TEST_TRAFFIC_SHIFT hook `smoke` failed (exit status 3).")
    assert world.hooks.called() == [
        ("TEST_TRAFFIC_SHIFT", "record", False),
        ("POST_TEST_TRAFFIC_SHIFT", "smoke", False),
        ("TEST_TRAFFIC_SHIFT", "record", True),
        ("PRODUCTION_TRAFFIC_SHIFT", "record", True),
    ]
    assert PRODUCTION_ON_GREEN not in world.connect.applied


def test_a_hook_that_hangs_past_its_time_limit_rolls_back():
    world = World()
    world.hooks.script["hang"] = ["hang"]
    d = deploy(world, hooks=(Hook(Stage.PRE_SCALE_UP, "hang"),), hook_timeout=7.0)
    assert_rolled_back(world, d, stage=Stage.PRE_SCALE_UP, reason="timed out after 7s")
    assert world.hooks.calls[0].timeout == 7.0
    assert ("start", "green") not in world.tasks.calls


def test_an_in_progress_hook_is_called_again_after_its_delay_with_its_details():
    world = World()
    world.hooks.script["check"] = [
        HookAnswer(HookStatus.IN_PROGRESS, 7.0, {"checks": 1}, "call back after 7s"),
        HookAnswer(HookStatus.IN_PROGRESS, 3.0, {"checks": 2}, "call back after 3s"),
    ]
    d = deploy(world, hooks=(Hook(Stage.POST_TEST_TRAFFIC_SHIFT, "check"), Hook(Stage.POST_TEST_TRAFFIC_SHIFT, "next")))
    assert d.status == Status.SUCCESSFUL
    # Hooks at one stage run in parallel (ECS): "next" is called with the first call of "check".
    calls = [c for c in world.hooks.calls if c.command == "check"]
    assert [(c.command, c.details) for c in calls] == [
        ("check", None), ("check", {"checks": 1}), ("check", {"checks": 2})]
    assert 7.0 <= calls[1].at - calls[0].at < 7.2
    assert 3.0 <= calls[2].at - calls[1].at < 3.2
    (following,) = [c for c in world.hooks.calls if c.command == "next"]
    assert following.at == calls[0].at


def test_an_in_progress_hook_without_a_delay_waits_ecs_default_30s():
    world = World()
    world.hooks.script["check"] = [HookAnswer(HookStatus.IN_PROGRESS, DEFAULT_CALLBACK_DELAY, None, "later")]
    deploy(world, hooks=(Hook(Stage.PRE_SCALE_UP, "check"),))
    first, second = world.hooks.calls
    assert 30.0 <= second.at - first.at < 30.2


@pytest.mark.parametrize("stage", [Stage.TEST_TRAFFIC_SHIFT, Stage.PRODUCTION_TRAFFIC_SHIFT])
def test_a_route_file_envoy_rejects_rolls_back(stage):
    world = World()
    world.connect.reject_at.add(stage)
    d = deploy(world)
    assert_rolled_back(world, d, stage=stage, reason="Envoy rejected routes")
    assert "no such field: 'domainz'" in (d.reason or "")
    assert PRODUCTION_ON_GREEN not in world.connect.applied
    assert (TEST_WINDOW in world.connect.applied) == (stage == Stage.PRODUCTION_TRAFFIC_SHIFT)


def test_a_5xx_alarm_during_bake_rolls_back():
    world = World()
    world.connect.counts["green"] = {"upstream_rq_total": 1000, "upstream_rq_5xx": 900}  # before the bake: ignored
    world.on(EventKind.STAGE_STARTED, Stage.BAKE_TIME, lambda: world.clock.after(
        3.5, lambda: world.connect.counts.update(green={"upstream_rq_total": 1100, "upstream_rq_5xx": 920})))
    d = deploy(world, bake_seconds=120.0, alarm_5xx_percent=10.0)
    assert_rolled_back(world, d, stage=Stage.BAKE_TIME,
                       reason="Alarm: 20 of 100 responses from green during bake were 5xx (20.0%, above 10%).")


def test_5xx_below_the_alarm_threshold_does_not_roll_back():
    world = World()
    world.on(EventKind.STAGE_STARTED, Stage.BAKE_TIME, lambda: world.clock.after(
        3.5, lambda: world.connect.counts.update(green={"upstream_rq_total": 100, "upstream_rq_5xx": 5})))
    assert deploy(world, bake_seconds=20.0, alarm_5xx_percent=10.0).status == Status.SUCCESSFUL


# -- user rollback ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES[:-1], ids=str)
def test_a_user_rollback_requested_before_a_stage_rolls_back_there(stage):
    world = leftover_candidate(World()) if stage == Stage.RECONCILE_SERVICE else World()
    runs = stages_run(stage)
    index = runs.index(stage)
    if index == 0:
        world.requests.requested = True
    else:
        world.on(EventKind.STAGE_ENDED, runs[index - 1], lambda: setattr(world.requests, "requested", True))
    d = deploy(world)
    assert_rolled_back(world, d, stage=stage, reason=USER_ROLLBACK)
    assert d.reason == USER_ROLLBACK
    assert stage not in world.stages()  # asked for before it began: it never did


def test_a_user_rollback_during_bake_does_not_wait_for_the_bake():
    world = World()
    world.on(EventKind.STAGE_STARTED, Stage.BAKE_TIME,
             lambda: world.clock.after(2.0, lambda: setattr(world.requests, "requested", True)))
    d = deploy(world, bake_seconds=300.0)
    assert_rolled_back(world, d, stage=Stage.BAKE_TIME, reason=USER_ROLLBACK)
    assert d.finished - d.bake_until < -295  # type: ignore[operator]


def test_a_user_rollback_while_a_hook_waits_to_be_called_again():
    world = World()
    world.hooks.script["check"] = [HookAnswer(HookStatus.IN_PROGRESS, 60.0, None, "later")]
    world.on(EventKind.HOOK_CALLED, Stage.POST_SCALE_UP,
             lambda: world.clock.after(1.0, lambda: setattr(world.requests, "requested", True)))
    d = deploy(world, hooks=(Hook(Stage.POST_SCALE_UP, "check"),))
    assert_rolled_back(world, d, stage=Stage.POST_SCALE_UP, reason=USER_ROLLBACK)
    assert len(world.hooks.calls) == 1


@pytest.mark.parametrize("stage", [Stage.RECONCILE_SERVICE, Stage.POST_SCALE_UP, Stage.POST_TEST_TRAFFIC_SHIFT,
                                   Stage.PRE_PRODUCTION_TRAFFIC_SHIFT, Stage.POST_PRODUCTION_TRAFFIC_SHIFT], ids=str)
def test_rollback_from_a_pause(stage):
    world = leftover_candidate(World()) if stage == Stage.RECONCILE_SERVICE else World()
    hooks = (Hook(Stage.TEST_TRAFFIC_SHIFT, "shift"), Hook(Stage.PRODUCTION_TRAFFIC_SHIFT, "shift"))
    deploy(world, pause_at=stage, hooks=hooks)
    d = world.deployer().roll_back()
    assert_rolled_back(world, d, stage=stage, reason=USER_ROLLBACK)
    assert [call for call in world.hooks.called() if call[2]] == [
        ("TEST_TRAFFIC_SHIFT", "shift", True), ("PRODUCTION_TRAFFIC_SHIFT", "shift", True)]


# -- rollback troubles -----------------------------------------------------------------------------


def test_a_rollback_after_clean_up_stopped_the_old_slot_starts_it_again():
    world = World()
    world.tasks.crash_after_stop.add("blue")
    with pytest.raises(Crash):
        deploy(world)
    assert world.tasks.running() == {"green"}
    assert world.record.stage == Stage.CLEAN_UP
    before = len(world.tasks.calls)
    d = world.deployer().roll_back()
    assert_rolled_back(world, d, stage=Stage.CLEAN_UP, reason=USER_ROLLBACK)
    assert world.tasks.calls[before:] == [("start", "blue"), ("stop", "green")]
    assert world.connect.registered[-1][0] == "blue"
    assert "Starting blue again." in [e.message for e in world.events]


def test_a_rollback_that_cannot_restore_the_old_slot_fails():
    world = World()
    world.tasks.crash_after_stop.add("blue")
    with pytest.raises(Crash):
        deploy(world)
    world.tasks.cannot_start.add("blue")
    d = world.deployer().roll_back()
    assert d.status == Status.ROLLBACK_FAILED
    assert d.reason == (f"{USER_ROLLBACK}; the rollback could not restore blue: "
                        "Docker could not start backend-blue: no such image")
    assert world.records.saved.traffic == PRODUCTION_ON_GREEN  # type: ignore[union-attr]


def test_a_rollback_hook_that_fails_makes_the_rollback_failed_but_traffic_is_back():
    world = World()
    world.hooks.script["shift"] = [HookAnswer(HookStatus.SUCCEEDED, 30.0, None, "ok"),
                                   HookAnswer(HookStatus.FAILED, 30.0, None, "exit status 1")]
    deploy(world, pause_at=Stage.POST_TEST_TRAFFIC_SHIFT, hooks=(Hook(Stage.TEST_TRAFFIC_SHIFT, "shift"),))
    d = world.deployer().roll_back()
    assert d.status == Status.ROLLBACK_FAILED
    assert d.rollback_history == ("The TEST_TRAFFIC_SHIFT hook `shift` failed during the rollback (exit status 1).",)
    assert world.records.saved.traffic == PRODUCTION_ON_BLUE  # type: ignore[union-attr]
    assert world.tasks.running() == {"blue"}


def test_an_in_progress_rollback_hook_is_called_again_after_its_delay():
    world = World()
    world.hooks.script["shift"] = [HookAnswer(HookStatus.SUCCEEDED, 30.0, None, "ok"),
                                   HookAnswer(HookStatus.IN_PROGRESS, 4.0, {"n": 1}, "later")]
    deploy(world, pause_at=Stage.POST_TEST_TRAFFIC_SHIFT, hooks=(Hook(Stage.TEST_TRAFFIC_SHIFT, "shift"),))
    d = world.deployer().roll_back()
    assert d.status == Status.ROLLBACK_SUCCESSFUL
    first, second = world.hooks.calls[1:]
    assert (first.rollback, second.rollback, second.details) == (True, True, {"n": 1})
    assert 4.0 <= second.at - first.at < 4.2


# -- resume after a crash -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [EventKind.STAGE_STARTED, EventKind.STAGE_ENDED])
@pytest.mark.parametrize("stage", STAGES, ids=str)
def test_killed_at_any_stage_then_continue_finishes_the_deployment(stage, kind):
    world = leftover_candidate(World()) if stage == Stage.RECONCILE_SERVICE else World()
    runs = stages_run(stage)
    hooks = tuple(Hook(s, "hook") for s in (Stage.PRE_SCALE_UP, Stage.POST_TEST_TRAFFIC_SHIFT))
    world.crash_on(kind, stage)
    with pytest.raises(Crash):
        deploy(world, hooks=hooks, bake_seconds=30.0)
    if kind == EventKind.STAGE_ENDED and stage == Stage.CLEAN_UP:
        assert world.record.status == Status.SUCCESSFUL  # recorded before it was said
        return
    # A stage that ended was recorded with the next one: that one is where bgctl goes on.
    resumes_at = stage if kind == EventKind.STAGE_STARTED else runs[runs.index(stage) + 1]
    assert world.record.stage == resumes_at and world.record.status == Status.IN_PROGRESS
    d = world.deployer().resume()
    assert d.status == Status.SUCCESSFUL
    assert world.records.saved.traffic == PRODUCTION_ON_GREEN  # type: ignore[union-attr]
    assert world.tasks.running() == {"green"}
    assert [r.stage for r in d.history] == runs
    assert without_repeats(world.connect.applied) == [PRODUCTION_ON_BLUE, TEST_WINDOW, PRODUCTION_ON_GREEN]
    assert f"Resuming an interrupted deployment at {resumes_at}." in [e.message for e in world.events]
    # A hook that answered SUCCEEDED before the crash is not called again, unless its stage had not ended.
    calls = [c.stage for c in world.hooks.calls]
    assert calls.count(Stage.PRE_SCALE_UP) == 1 and calls.count(Stage.POST_TEST_TRAFFIC_SHIFT) == 1


# PRE_SCALE_UP: killed in the route reconciliation done without RECONCILE_SERVICE (still PENDING).
@pytest.mark.parametrize("stage", [Stage.TEST_TRAFFIC_SHIFT, Stage.PRODUCTION_TRAFFIC_SHIFT, Stage.RECONCILE_SERVICE,
                                   Stage.PRE_SCALE_UP])
def test_killed_after_publishing_but_before_recording_continue_publishes_again(stage):
    world = leftover_candidate(World()) if stage == Stage.RECONCILE_SERVICE else World()
    world.connect.crash_at.add(stage)
    with pytest.raises(Crash):
        deploy(world)
    d = world.deployer().resume()
    assert d.status == Status.SUCCESSFUL
    assert world.records.saved.traffic == PRODUCTION_ON_GREEN  # type: ignore[union-attr]


def test_killed_during_bake_then_continue_bakes_only_what_is_left():
    world = World()
    world.on(EventKind.STAGE_STARTED, Stage.BAKE_TIME, lambda: world.clock.after(40.0, crash("killed during bake")))
    with pytest.raises(Crash):
        deploy(world, bake_seconds=100.0)
    world.clock.t += 25.0  # bgctl was down for a while
    resumed_at = world.clock.now()
    d = world.deployer().resume()
    assert d.status == Status.SUCCESSFUL
    bake = next(r for r in d.history if r.stage == Stage.BAKE_TIME)
    assert 100.0 <= bake.ended - bake.started < 100.2  # type: ignore[operator]  # the first start is kept
    assert 34.5 <= bake.ended - resumed_at < 35.2  # type: ignore[operator]  # not another 100 s


def test_killed_while_a_hook_waits_to_be_called_again_then_continue_waits_only_what_is_left():
    world = World()
    world.hooks.script["check"] = [HookAnswer(HookStatus.IN_PROGRESS, 20.0, {"checks": 1}, "later")]
    world.on(EventKind.HOOK_CALLED, Stage.POST_TEST_TRAFFIC_SHIFT,
             lambda: world.clock.after(5.0, crash("killed while waiting")))
    with pytest.raises(Crash):
        deploy(world, hooks=(Hook(Stage.POST_TEST_TRAFFIC_SHIFT, "check"),))
    world.clock.t += 3.0
    d = world.deployer().resume()
    assert d.status == Status.SUCCESSFUL
    first, second = world.hooks.calls
    assert second.details == {"checks": 1}
    assert 20.0 <= second.at - first.at < 20.2


def test_killed_while_a_hook_runs_then_continue_calls_it_again():
    world = World()
    world.hooks.script["check"] = ["crash"]
    with pytest.raises(Crash):
        deploy(world, hooks=(Hook(Stage.POST_SCALE_UP, "check"),))
    d = world.deployer().resume()
    assert d.status == Status.SUCCESSFUL
    assert [c.command for c in world.hooks.calls] == ["check", "check"]


def test_a_candidate_that_died_while_bgctl_was_down_rolls_back_on_continue():
    world = World()
    world.crash_on(EventKind.STAGE_STARTED, Stage.POST_TEST_TRAFFIC_SHIFT)
    with pytest.raises(Crash):
        deploy(world)
    world.tasks.tasks["green"] = replace(world.tasks.tasks["green"], status="exited")
    d = world.deployer().resume()
    assert_rolled_back(world, d, stage=Stage.POST_TEST_TRAFFIC_SHIFT,
                       reason="The candidate green stopped (exited) before CLEAN_UP.")


def test_killed_during_a_rollback_then_continue_finishes_the_rollback():
    world = World()
    world.hooks.script["shift"] = [HookAnswer(HookStatus.SUCCEEDED, 30.0, None, "ok"), "crash"]
    deploy(world, pause_at=Stage.POST_TEST_TRAFFIC_SHIFT, hooks=(Hook(Stage.TEST_TRAFFIC_SHIFT, "shift"),))
    with pytest.raises(Crash):
        world.deployer().roll_back()
    assert world.record.status == Status.ROLLBACK_IN_PROGRESS
    d = world.deployer().resume()
    assert_rolled_back(world, d, stage=Stage.POST_TEST_TRAFFIC_SHIFT, reason=USER_ROLLBACK)
    assert [c.rollback for c in world.hooks.calls] == [False, True, True]


# -- ECS's hook contract: parallel hooks, events, timeouts, PAUSE hooks ----------------------------


def lambda_hook(stage: Stage, arn: str, **fields) -> Hook:
    return Hook((stage,), arn, HookTargetType.AWS_LAMBDA, **fields)


def pause(stage: Stage, hook_id: str, minutes: float = 1440, action: TimeoutAction = TimeoutAction.ROLLBACK) -> Hook:
    return Hook((stage,), None, HookTargetType.PAUSE, hook_id=hook_id, timeout=HookTimeout(minutes, action))


def execution(world: World, hook_id: str, stage: Stage, step: int = 0):
    return next(e for e in world.record.hook_executions if e.hook_id == hook_id and e.stage == stage
                and e.step == step and not e.rollback)


def test_hooks_at_one_stage_run_in_parallel():
    world = World()
    world.hooks.script["a"] = [Slow(5.0)]
    world.hooks.script["b"] = [Slow(5.0)]
    d = deploy(world, hooks=(Hook(Stage.POST_TEST_TRAFFIC_SHIFT, "a"), Hook(Stage.POST_TEST_TRAFFIC_SHIFT, "b")))
    assert d.status == Status.SUCCESSFUL
    a, b = world.hooks.calls
    assert a.at == b.at  # both started together: their calls overlap
    stage = next(r for r in d.history if r.stage == Stage.POST_TEST_TRAFFIC_SHIFT)
    assert 5.0 <= stage.ended - stage.started < 5.2  # type: ignore[operator]  # not 10 s


def test_when_one_parallel_hook_fails_the_others_still_running_are_cancelled():
    world = World()
    world.hooks.script["fails"] = [Slow(2.0, HookAnswer(HookStatus.FAILED, DEFAULT_CALLBACK_DELAY, None, "exit status 1"))]
    world.hooks.script["slow"] = [Slow(300.0)]
    world.hooks.script["quick"] = [Slow(1.0)]
    hooks = tuple(Hook(Stage.POST_TEST_TRAFFIC_SHIFT, c) for c in ("fails", "slow", "quick"))
    d = deploy(world, hooks=hooks, hook_timeout=600.0)
    assert_rolled_back(world, d, stage=Stage.POST_TEST_TRAFFIC_SHIFT, reason="`fails` failed (exit status 1)")
    # Only the one still running, as soon as the failure was read ("quick" had answered by then).
    assert [c for c, _ in world.hooks.cancelled] == ["slow"] and 2.0 <= world.hooks.cancelled[0][1] - START < 2.2
    slow = execution(world, "hook-2", Stage.POST_TEST_TRAFFIC_SHIFT)
    assert (slow.status, slow.reason) == ("FAILED", "cancelled: the deployment rolls back")
    assert d.finished - START < 10  # type: ignore[operator]  # not the slow hook's 300 s


def test_every_call_gets_ecs_event_with_weights_and_merged_details():
    world = World()
    world.hooks.script["arn:fn"] = [HookAnswer(HookStatus.IN_PROGRESS, 2.0, {"n": 1}, "later"),
                                    HookAnswer(HookStatus.IN_PROGRESS, 2.0, {"m": 2}, "later")]
    d = deploy(world, hooks=(lambda_hook(Stage.POST_TEST_TRAFFIC_SHIFT, "arn:fn", details={"bucket": "b"}),))
    first, second, third = [c.event for c in world.hooks.calls]
    assert first["hookDetails"] == {"bucket": "b"}
    assert second["hookDetails"] == {"bucket": "b", "n": 1}
    assert third["hookDetails"] == {"bucket": "b", "n": 1, "m": 2}
    assert first["executionId"] == third["executionId"]
    source = d.names.service_revision_arn(d.source_revision_id)
    target = d.names.service_revision_arn(d.target_revision_id)
    assert first["executionDetails"]["targetServiceRevisionArn"] == target
    assert first["executionDetails"]["testTrafficWeights"] == {target: 100}
    assert first["executionDetails"]["productionTrafficWeights"] == {source: 100}
    assert first["resourceArn"] == d.names.service_deployment_arn(d.id)
    assert execution(world, "hook-1", Stage.POST_TEST_TRAFFIC_SHIFT).status == "SUCCEEDED"
    assert [o.stdout for o in d.hook_outputs] == ["out of arn:fn"] * 3  # what each call printed is kept


def test_rollback_hooks_see_production_back_on_the_source():
    world = World()
    world.hooks.script["smoke"] = [HookAnswer(HookStatus.FAILED, 30.0, None, "no")]
    hooks = (Hook(Stage.PRODUCTION_TRAFFIC_SHIFT, "shift"), Hook(Stage.POST_PRODUCTION_TRAFFIC_SHIFT, "smoke"))
    d = deploy(world, hooks=hooks)
    assert d.status == Status.ROLLBACK_SUCCESSFUL
    forward, back = [c.event for c in world.hooks.calls if c.command == "shift"]
    source = d.names.service_revision_arn(d.source_revision_id)
    target = d.names.service_revision_arn(d.target_revision_id)
    assert forward["executionDetails"]["productionTrafficWeights"] == {target: 100}
    assert back["executionDetails"]["productionTrafficWeights"] == {source: 100}


@pytest.mark.parametrize("action", [TimeoutAction.ROLLBACK, TimeoutAction.CONTINUE])
def test_a_hook_timeout_bounds_its_in_progress_calls_and_applies_its_action(action):
    world = World()
    world.hooks.script["arn:slow"] = [HookAnswer(HookStatus.IN_PROGRESS, 1.0, None, "later")] * 100
    hook = lambda_hook(Stage.POST_TEST_TRAFFIC_SHIFT, "arn:slow", timeout=HookTimeout(2, action))
    d = deploy(world, hooks=(hook,), minute_seconds=3.0)  # 2 ECS minutes = 6 s
    e = execution(world, "hook-1", Stage.POST_TEST_TRAFFIC_SHIFT)
    assert e.status == "TIMED_OUT" and 6.0 <= e.ended - e.started < 6.2  # type: ignore[operator]
    assert 5 <= len(world.hooks.calls) <= 7
    if action == TimeoutAction.ROLLBACK:
        assert_rolled_back(world, d, stage=Stage.POST_TEST_TRAFFIC_SHIFT, reason="timed out after 2 minutes")
    else:
        assert d.status == Status.SUCCESSFUL


def test_a_call_running_into_the_hook_timeout_is_cut_there():
    world = World()
    world.hooks.script["arn:hang"] = ["hang"]
    hook = lambda_hook(Stage.PRE_SCALE_UP, "arn:hang", timeout=HookTimeout(1, TimeoutAction.CONTINUE))
    d = deploy(world, hooks=(hook,), minute_seconds=2.0, hook_timeout=60.0)
    assert world.hooks.calls[0].timeout == 2.0
    assert execution(world, "hook-1", Stage.PRE_SCALE_UP).status == "TIMED_OUT"
    assert d.status == Status.SUCCESSFUL


def test_two_pause_hooks_continued_by_id():
    world = World()
    hooks = (pause(Stage.POST_TEST_TRAFFIC_SHIFT, "first"), pause(Stage.POST_TEST_TRAFFIC_SHIFT, "second"),
             Hook(Stage.POST_TEST_TRAFFIC_SHIFT, "smoke"))
    d = deploy(world, hooks=hooks)
    assert (d.status, d.stage, d.paused) == (Status.IN_PROGRESS, Stage.POST_TEST_TRAFFIC_SHIFT, True)
    assert {e.hook_id for e in d.awaiting()} == {"first", "second"}
    assert world.hooks.called() == [("POST_TEST_TRAFFIC_SHIFT", "smoke", False)]  # ran while the pauses wait
    assert world.events[-1].kind == EventKind.PAUSED and world.events[-1].message == "first, second"
    d = world.deployer().resume("second")
    assert d.paused and [e.hook_id for e in d.awaiting()] == ["first"]
    assert execution(world, "second", Stage.POST_TEST_TRAFFIC_SHIFT).status == "SUCCEEDED"
    with pytest.raises(InvalidInput, match="No PAUSE hook second awaits action"):
        world.deployer().resume("second")
    d = world.deployer().resume("first")
    assert d.status == Status.SUCCESSFUL
    assert world.stages().count(Stage.POST_TEST_TRAFFIC_SHIFT) == 3  # entered again after each continue
    assert len(world.hooks.calls) == 1  # the smoke hook that succeeded is not called again


def test_continue_without_an_id_continues_every_awaiting_pause():
    world = World()
    deploy(world, hooks=(pause(Stage.PRE_SCALE_UP, "a"), pause(Stage.PRE_SCALE_UP, "b")))
    assert world.deployer().resume().status == Status.SUCCESSFUL


def test_rollback_while_a_pause_awaits_action():
    world = World()
    deploy(world, hooks=(pause(Stage.POST_TEST_TRAFFIC_SHIFT, "gate"),))
    d = world.deployer().roll_back()
    assert_rolled_back(world, d, stage=Stage.POST_TEST_TRAFFIC_SHIFT, reason=USER_ROLLBACK)
    assert execution(world, "gate", Stage.POST_TEST_TRAFFIC_SHIFT).status == "FAILED"
    assert Status.ROLLBACK_REQUESTED in [e.deployment.status for e in world.events]


@pytest.mark.parametrize("action", [TimeoutAction.ROLLBACK, TimeoutAction.CONTINUE])
def test_a_pause_timeout_applies_its_action(action):
    world = World()
    deploy(world, hooks=(pause(Stage.POST_TEST_TRAFFIC_SHIFT, "gate", minutes=5, action=action),),
           minute_seconds=1.0)
    world.clock.t += 10.0  # longer than the pause's 5 ECS minutes (5 s here)
    d = world.deployer().resume()
    assert execution(world, "gate", Stage.POST_TEST_TRAFFIC_SHIFT).status == "TIMED_OUT"
    if action == TimeoutAction.ROLLBACK:
        assert_rolled_back(world, d, stage=Stage.POST_TEST_TRAFFIC_SHIFT, reason="timed out after 5 minutes")
    else:
        assert d.status == Status.SUCCESSFUL


def paused_past_its_timeout(action: TimeoutAction, *more: Hook) -> World:
    """A PAUSE hook `gate` (5 ECS minutes of 1 s) whose timeout ran out while no bgctl ran."""
    world = World()
    deploy(world, hooks=(pause(Stage.POST_TEST_TRAFFIC_SHIFT, "gate", minutes=5, action=action), *more),
           minute_seconds=1.0)
    world.clock.t += 10.0
    return world


def said(world: World) -> list[str]:
    return [e.message for e in world.events if e.kind == EventKind.NOTE and "while no bgctl ran" in e.message]


@pytest.mark.parametrize("verb", ["continue", "rollback", "deploy"])
def test_a_pause_that_timed_out_with_rollback_is_applied_first_by_every_verb(verb):
    world = paused_past_its_timeout(TimeoutAction.ROLLBACK)
    deadline = execution(world, "gate", Stage.POST_TEST_TRAFFIC_SHIFT).expires_at
    if verb == "continue":
        d = world.deployer().resume()
    elif verb == "rollback":
        d = world.deployer().roll_back()
    else:
        first = world.record.id
        new = deploy(world)
        assert new.status == Status.SUCCESSFUL and new.id != first
        d = next(e.deployment for e in world.events if e.kind == EventKind.FINISHED and e.deployment.id == first)
    assert d.status == Status.ROLLBACK_SUCCESSFUL
    assert d.reason == "The POST_TEST_TRAFFIC_SHIFT hook `PAUSE gate` timed out after 5 minutes; action ROLLBACK."
    gate = next(e for e in d.hook_executions if e.hook_id == "gate")
    assert (gate.status, gate.ended) == ("TIMED_OUT", deadline)  # when it ran out, not when it was noticed
    assert said(world) == [f"PAUSE timed out while no bgctl ran: gate at POST_TEST_TRAFFIC_SHIFT at "
                           f"{format_clock(deadline)} (ROLLBACK); applying it now."]


def test_a_pause_that_timed_out_with_continue_goes_on_with_continue_and_is_recorded_before_a_rollback():
    world = paused_past_its_timeout(TimeoutAction.CONTINUE)
    assert world.deployer().resume().status == Status.SUCCESSFUL
    assert len(said(world)) == 1

    world = paused_past_its_timeout(TimeoutAction.CONTINUE)
    d = world.deployer().roll_back()
    assert_rolled_back(world, d, stage=Stage.POST_TEST_TRAFFIC_SHIFT, reason=USER_ROLLBACK)
    assert execution(world, "gate", Stage.POST_TEST_TRAFFIC_SHIFT).status == "TIMED_OUT"


def test_a_deploy_over_a_pause_that_timed_out_with_continue_records_it_and_is_refused():
    world = paused_past_its_timeout(TimeoutAction.CONTINUE)
    with pytest.raises(InvalidInput, match="already in progress"):
        deploy(world)
    assert execution(world, "gate", Stage.POST_TEST_TRAFFIC_SHIFT).status == "TIMED_OUT"
    assert len(said(world)) == 1
    assert world.deployer().resume().status == Status.SUCCESSFUL


def test_continue_naming_a_pause_that_timed_out_with_continue_goes_on_and_others_still_wait():
    world = paused_past_its_timeout(TimeoutAction.CONTINUE, pause(Stage.POST_TEST_TRAFFIC_SHIFT, "later"))
    d = world.deployer().resume("gate")
    assert d.paused and [e.hook_id for e in d.awaiting()] == ["later"]
    assert world.events[-1].kind == EventKind.PAUSED and world.events[-1].message == "later"
    world = paused_past_its_timeout(TimeoutAction.CONTINUE, pause(Stage.POST_TEST_TRAFFIC_SHIFT, "later"))
    assert world.deployer().resume().status == Status.SUCCESSFUL  # no id: every one awaiting continued


def test_a_pause_timing_out_while_bgctl_waits_for_another_hook():
    world = World()
    world.hooks.script["slow"] = [Slow(20.0)]
    hooks = (pause(Stage.POST_SCALE_UP, "gate", minutes=1, action=TimeoutAction.CONTINUE),
             Hook(Stage.POST_SCALE_UP, "slow"))
    d = deploy(world, hooks=hooks, minute_seconds=5.0, hook_timeout=60.0)
    assert d.status == Status.SUCCESSFUL
    assert execution(world, "gate", Stage.POST_SCALE_UP).status == "TIMED_OUT"


def test_no_stage_runs_longer_than_ecs_24_hours():
    world = World()
    world.hooks.script["arn:forever"] = [HookAnswer(HookStatus.IN_PROGRESS, 1.0, None, "later")] * 10_000
    hook = lambda_hook(Stage.POST_SCALE_UP, "arn:forever", timeout=HookTimeout(20160))
    d = deploy(world, hooks=(hook,), minute_seconds=0.01)
    assert_rolled_back(world, d, stage=Stage.POST_SCALE_UP,
                       reason="POST_SCALE_UP ran longer than ECS allows a stage (1440 minutes).")


def test_a_pause_hook_at_a_traffic_shift_is_refused():
    with pytest.raises(InvalidInput, match="A PAUSE hook cannot run at PRODUCTION_TRAFFIC_SHIFT"):
        pause(Stage.PRODUCTION_TRAFFIC_SHIFT, "x")


def test_a_deployment_is_pending_before_its_first_stage_and_rollback_requested_when_asked():
    world = World()
    world.on(EventKind.STAGE_ENDED, Stage.POST_SCALE_UP, lambda: setattr(world.requests, "requested", True))
    deploy(world)
    statuses = [s for i, s in enumerate(world.records.statuses) if i == 0 or world.records.statuses[i - 1] != s]
    assert statuses == [Status.PENDING, Status.IN_PROGRESS, Status.ROLLBACK_REQUESTED,
                        Status.ROLLBACK_IN_PROGRESS, Status.ROLLBACK_SUCCESSFUL]


def test_a_5xx_alarm_with_rollback_off_is_reported_only():
    world = World()
    world.on(EventKind.STAGE_STARTED, Stage.BAKE_TIME, lambda: world.clock.after(
        3.5, lambda: world.connect.counts.update(green={"upstream_rq_total": 100, "upstream_rq_5xx": 50})))
    d = deploy(world, bake_seconds=20.0, alarm_5xx_percent=10.0, alarm_rollback=False)
    assert d.status == Status.SUCCESSFUL
    assert d.alarm_triggered == "Alarm: 50 of 100 responses from green during bake were 5xx (50.0%, above 10%)."


def test_the_alarm_watches_from_the_test_traffic_shift():
    world = World()
    world.hooks.script["wait"] = [Slow(5.0)]
    world.on(EventKind.STAGE_STARTED, Stage.POST_TEST_TRAFFIC_SHIFT, lambda: world.clock.after(
        1.0, lambda: world.connect.counts.update(green={"upstream_rq_total": 10, "upstream_rq_5xx": 5})))
    d = deploy(world, hooks=(Hook(Stage.POST_TEST_TRAFFIC_SHIFT, "wait"),), alarm_5xx_percent=10.0)
    assert_rolled_back(world, d, stage=Stage.POST_TEST_TRAFFIC_SHIFT,
                       reason="Alarm: 5 of 10 responses from green since TEST_TRAFFIC_SHIFT were 5xx")


# -- LINEAR and CANARY ------------------------------------------------------------------------------


def linear(percent: float, bake: float = 60.0) -> TrafficShift:
    return TrafficShift(Strategy.LINEAR, step_percent=percent, step_bake_seconds=bake)


def canary(percent: float, bake: float = 120.0) -> TrafficShift:
    return TrafficShift(Strategy.CANARY, canary_percent=percent, canary_bake_seconds=bake)


def test_linear_steps_shift_production_and_repeat_the_production_hooks():
    world = World()
    hooks = (Hook(Stage.PRE_PRODUCTION_TRAFFIC_SHIFT, "pre"), Hook(Stage.PRODUCTION_TRAFFIC_SHIFT, "shift"),
             Hook(Stage.POST_PRODUCTION_TRAFFIC_SHIFT, "post"))
    d = deploy(world, shift=linear(30.0), hooks=hooks)
    assert d.status == Status.SUCCESSFUL
    shares = [t.candidate_percent for t in without_repeats(world.connect.applied) if t.candidate == "green"]
    assert shares == [0, 30, 60, 90]
    assert without_repeats(world.connect.applied)[-1] == PRODUCTION_ON_GREEN
    assert all(t.test_rule == RULE for t in world.connect.applied if t.candidate == "green")  # header throughout
    calls = [c.command for c in world.hooks.calls]
    assert (calls.count("pre"), calls.count("shift"), calls.count("post")) == (4, 4, 1)
    steps = [r for r in d.history if r.stage == Stage.PRODUCTION_TRAFFIC_SHIFT]
    # A step bake after each step but the one reaching 100 %.
    assert [round(r.ended - r.started) for r in steps] == [60, 60, 60, 0]  # type: ignore[operator]


def test_canary_goes_to_its_percent_then_100():
    world = World()
    d = deploy(world, shift=canary(0.1))
    assert d.status == Status.SUCCESSFUL
    partial = [t for t in without_repeats(world.connect.applied) if t.candidate == "green"]
    assert [t.candidate_percent for t in partial] == [0, 0.1]
    assert partial[-1].weights() == {"blue": 99.9, "green": 0.1}
    steps = [r for r in d.history if r.stage == Stage.PRODUCTION_TRAFFIC_SHIFT]
    assert [round(r.ended - r.started) for r in steps] == [120, 0]  # type: ignore[operator]


def test_pauses_repeat_at_every_step():
    world = World()
    deploy(world, shift=linear(50.0), hooks=(pause(Stage.PRE_PRODUCTION_TRAFFIC_SHIFT, "step"),))
    assert world.records.saved.traffic.candidate_percent == 0  # type: ignore[union-attr]
    d = world.deployer().resume()
    assert d.paused and d.step == 1
    assert world.records.saved.traffic.candidate_percent == 50  # type: ignore[union-attr]
    d = world.deployer().resume()
    assert d.status == Status.SUCCESSFUL


def test_a_rollback_mid_way_puts_everything_back_on_the_source_at_once():
    world = World()
    hooks = (pause(Stage.PRE_PRODUCTION_TRAFFIC_SHIFT, "step"), Hook(Stage.PRODUCTION_TRAFFIC_SHIFT, "shift"))
    deploy(world, shift=linear(25.0), hooks=hooks)
    world.deployer().resume()
    world.deployer().resume()
    assert world.records.saved.traffic.candidate_percent == 50  # type: ignore[union-attr]
    applied = len(world.connect.applied)
    d = world.deployer().roll_back()
    assert_rolled_back(world, d, stage=Stage.PRE_PRODUCTION_TRAFFIC_SHIFT, reason=USER_ROLLBACK)
    assert world.connect.applied[applied:] == [PRODUCTION_ON_BLUE]
    back = [c for c in world.hooks.calls if c.rollback]
    assert [(c.command, c.event["executionDetails"]["productionTrafficWeights"]) for c in back] == [
        ("shift", {d.names.service_revision_arn(d.source_revision_id): 100})]


def test_killed_mid_step_then_continue_bakes_only_what_is_left_and_keeps_the_step():
    world = World()
    world.on(EventKind.STAGE_STARTED, Stage.PRODUCTION_TRAFFIC_SHIFT,
             lambda: world.on(EventKind.STAGE_STARTED, Stage.PRODUCTION_TRAFFIC_SHIFT,
                              lambda: world.clock.after(20.0, crash("killed in the second step's bake"))))
    with pytest.raises(Crash):
        deploy(world, shift=linear(40.0, bake=60.0))
    assert world.record.step == 1 and world.record.stage == Stage.PRODUCTION_TRAFFIC_SHIFT
    resumed_at = world.clock.now()
    d = world.deployer().resume()
    assert d.status == Status.SUCCESSFUL
    second = [r for r in d.history if r.stage == Stage.PRODUCTION_TRAFFIC_SHIFT][1]
    assert 39.5 <= second.ended - resumed_at < 40.5  # type: ignore[operator]
    shares = [t.candidate_percent for t in without_repeats(world.connect.applied) if t.candidate == "green"]
    assert shares == [0, 40, 80]


def test_linear_and_canary_ranges_are_ecs_own():
    with pytest.raises(InvalidInput, match="stepPercent must be from 3 to 100, not 2"):
        TrafficShift(Strategy.LINEAR, step_percent=2)
    with pytest.raises(InvalidInput, match="canaryPercent must be from 0.1 to 100"):
        TrafficShift(Strategy.CANARY, canary_percent=0.05)
    defaults = TrafficShift.of(Strategy.LINEAR, minute_seconds=1.0)
    assert defaults.steps() == tuple(float(p) for p in range(10, 101, 10)) and defaults.step_bake_seconds == 6.0
    assert TrafficShift.of(Strategy.CANARY, minute_seconds=1.0).canary_bake_seconds == 10.0
    assert TrafficShift.of(Strategy.CANARY).steps() == (5.0, 100.0)
