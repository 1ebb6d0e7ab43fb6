import io
import time
from dataclasses import replace
from datetime import datetime
from types import SimpleNamespace

import pytest
from rich.console import Console

from bgctl.cli import output as render
from bgctl.cli.output import DeploymentPrinter, print_status
from bgctl.core.deployment import Deployment, StageRecord
from bgctl.core.hooks import Hook, HookAnswer, HookRun, HookStatus
from bgctl.core.services import ServiceState
from bgctl.core.stages import Stage, Status
from bgctl.core.status_report import DeploymentReport, RoutesReport, StatusReport
from bgctl.core.traffic import TestTrafficRule
from bgctl.lifecycle.events import Bake, Event, EventKind, HookCall

INGRESS = "http://localhost:8080"


def console() -> Console:
    return Console(file=io.StringIO(), width=120, force_terminal=False)


def output(c: Console) -> list[str]:
    return c.file.getvalue().splitlines()


def joined(lines: list[str]) -> str:
    """Lines that rich wrapped at the console width, as one sentence again."""
    return " ".join(line.strip() for line in lines)


def deployment(**overrides) -> Deployment:
    fields = dict(target="green", source="blue", revision=None, test_rule=TestTrafficRule("x-amzn-ecs-bluegreen-test", "test"),
                  bake_seconds=300.0, created=1000.0)
    fields.update(overrides)
    return Deployment(id="bgd-0123456789", **fields)


@pytest.fixture
def printed():
    """A printer on a non-terminal console, and a function returning the lines printed so far."""
    c = console()
    return DeploymentPrinter(c, INGRESS), lambda: output(c)


def test_stage_start_and_end(printed):
    printer, lines = printed
    d = deployment()
    printer(Event(EventKind.STAGE_STARTED, d, Stage.SCALE_UP))
    printer(Event(EventKind.STAGE_ENDED, d, Stage.SCALE_UP, seconds=4.5))
    printer(Event(EventKind.STAGE_ENDED, d, Stage.POST_SCALE_UP, seconds=0.012))
    printer(Event(EventKind.STAGE_ENDED, d, Stage.BAKE_TIME, seconds=300.0))
    assert lines() == ["▶ SCALE_UP", "✓ SCALE_UP  4.5s", "✓ POST_SCALE_UP  12ms", "✓ BAKE_TIME  5m00s"]


def test_stage_end_without_seconds_shows_zero(printed):
    printer, lines = printed
    printer(Event(EventKind.STAGE_ENDED, deployment(), Stage.PRE_SCALE_UP, seconds=None))
    assert lines() == ["✓ PRE_SCALE_UP  0ms"]


def hook_event(status: str, stderr: str = "", command: str = "curl -f localhost") -> Event:
    answer = HookAnswer(HookStatus(status), 30.0, None, "exit 0" if status == "SUCCEEDED" else "exit 22")
    run = HookRun(answer, 0, "", stderr, 0.25)
    return Event(EventKind.HOOK_CALLED, deployment(), Stage.POST_TEST_TRAFFIC_SHIFT,
                 hook_call=HookCall(Hook(Stage.POST_TEST_TRAFFIC_SHIFT, command), run))


def test_hook_succeeded(printed):
    printer, lines = printed
    printer(hook_event("SUCCEEDED"))
    assert lines() == ["  hook `curl -f localhost`: SUCCEEDED (exit 0, 250ms)"]


def test_failed_hook_shows_the_last_line_of_stderr(printed):
    printer, lines = printed
    printer(hook_event("FAILED", stderr="trying\ncurl: (22) The requested URL returned error: 503\n"))
    assert lines() == [
        "  hook `curl -f localhost`: FAILED (exit 22, 250ms)",
        "    curl: (22) The requested URL returned error: 503",
    ]


def test_in_progress_hook_does_not_show_stderr(printed):
    printer, lines = printed
    printer(hook_event("IN_PROGRESS", stderr="still waiting"))
    assert lines() == ["  hook `curl -f localhost`: IN_PROGRESS (exit 22, 250ms)"]


def test_hook_command_with_brackets_is_printed_verbatim(printed):
    printer, lines = printed
    printer(hook_event("SUCCEEDED", command="curl -fsS localhost | grep -q '[a-z]'"))
    assert lines() == ["  hook `curl -fsS localhost | grep -q '[a-z]'`: SUCCEEDED (exit 0, 250ms)"]


def test_rollback_reason_with_a_closing_tag_does_not_crash(printed):
    printer, lines = printed
    reason = "The POST_TEST_TRAFFIC_SHIFT hook `test -d /srv/[/data]` failed (exit 1)."
    printer(Event(EventKind.ROLLING_BACK, deployment(status=Status.ROLLBACK_IN_PROGRESS), Stage.POST_TEST_TRAFFIC_SHIFT,
                  message=reason))
    assert lines() == [f"↩ Rolling back at POST_TEST_TRAFFIC_SHIFT: {reason}"]


def test_paused_shows_how_to_try_the_candidate_and_go_on(printed):
    printer, lines = printed
    d = deployment(paused=True, stage=Stage.POST_TEST_TRAFFIC_SHIFT)
    printer(Event(EventKind.PAUSED, d, Stage.POST_TEST_TRAFFIC_SHIFT))
    assert lines() == [
        "⏸ Paused after POST_TEST_TRAFFIC_SHIFT; green is the candidate, blue serves production.",
        f"  try it:   curl -H 'x-amzn-ecs-bluegreen-test: test' {INGRESS}/",
        "  then:     bgctl continue   (or bgctl rollback)",
    ]


def test_paused_with_a_header_only_rule_sends_some_value(printed):
    printer, lines = printed
    d = deployment(test_rule=TestTrafficRule("x-amzn-ecs-blue-green-test"), paused=True)
    printer(Event(EventKind.PAUSED, d, Stage.PRE_PRODUCTION_TRAFFIC_SHIFT))
    assert f"  try it:   curl -H 'x-amzn-ecs-blue-green-test: 1' {INGRESS}/" in lines()


def test_rollback_line(printed):
    printer, lines = printed
    d = deployment(status=Status.ROLLBACK_IN_PROGRESS)
    printer(Event(EventKind.ROLLING_BACK, d, Stage.BAKE_TIME, message="The candidate green turned unhealthy."))
    assert lines() == ["↩ Rolling back at BAKE_TIME: The candidate green turned unhealthy."]


def test_note_line(printed):
    printer, lines = printed
    printer(Event(EventKind.NOTE, deployment(), message="Resuming an interrupted deployment at BAKE_TIME."))
    assert lines() == ["· Resuming an interrupted deployment at BAKE_TIME."]


def test_finished_successful(printed):
    printer, lines = printed
    d = deployment(status=Status.SUCCESSFUL, stage=Stage.CLEAN_UP, finished=1075.0)
    printer(Event(EventKind.FINISHED, d))
    assert lines() == ["Deployment bgd-0123456789 SUCCESSFUL in 1m15s: green serves production."]


def test_finished_rollback_successful(printed):
    printer, lines = printed
    d = deployment(status=Status.ROLLBACK_SUCCESSFUL, finished=1012.0, reason="Rollback requested by the user.")
    printer(Event(EventKind.FINISHED, d))
    # Longer than the 120 columns: rich wraps it at a word.
    assert joined(lines()) == ("Deployment bgd-0123456789 ROLLBACK_SUCCESSFUL in 12s: blue serves production; "
                                 "green stopped. Reason: Rollback requested by the user.")


def test_finished_rollback_failed_lists_the_problems(printed):
    printer, lines = printed
    d = deployment(status=Status.ROLLBACK_FAILED, finished=1012.0, reason="Alarm: too many 5xx.",
                   rollback_history=("the candidate could not be stopped: docker said no",))
    printer(Event(EventKind.FINISHED, d))
    assert lines() == [
        "Deployment bgd-0123456789 ROLLBACK_FAILED: Alarm: too many 5xx.",
        "  the candidate could not be stopped: docker said no",
    ]


# -- the bake countdown -----------------------------------------------------------


@pytest.fixture
def clock(monkeypatch):
    """A fake monotonic clock for bgctl.cli.output only (starting well past 0, as real ones do)."""
    now = {"t": 5000.0}
    monkeypatch.setattr(render, "time", SimpleNamespace(monotonic=lambda: now["t"], time=time.time))
    return now


def bake(remaining: float, total: float = 60.0) -> Event:
    return Event(EventKind.BAKING, deployment(stage=Stage.BAKE_TIME), Stage.BAKE_TIME, bake=Bake(remaining, total))


def test_bake_countdown_prints_at_most_one_line_per_10s_plus_the_last(printed, clock):
    printer, lines = printed
    # One event a second for 60 s, as Deployer._bake_time emits them.
    for second in range(61):
        clock["t"] = 5000.0 + second
        printer(bake(60.0 - second))
    assert lines() == [
        "  baking: 1m00s left of 1m00s",
        "  baking: 50s left of 1m00s",
        "  baking: 40s left of 1m00s",
        "  baking: 30s left of 1m00s",
        "  baking: 20s left of 1m00s",
        "  baking: 10s left of 1m00s",
        "  baking: 0ms left of 1m00s",
    ]


def test_bake_countdown_always_prints_the_final_line(printed, clock):
    printer, lines = printed
    printer(bake(3.0, total=3.0))
    clock["t"] += 1
    printer(bake(2.0, total=3.0))
    clock["t"] += 1
    printer(bake(1.0, total=3.0))
    clock["t"] += 1
    printer(bake(0.0, total=3.0))
    assert lines() == ["  baking: 3s left of 3s", "  baking: 0ms left of 3s"]


def test_bake_countdown_on_a_terminal_rewrites_one_line():
    c = Console(file=io.StringIO(), width=120, force_terminal=True, color_system=None)
    printer = DeploymentPrinter(c, INGRESS)
    for remaining in (3.0, 2.0, 1.0, 0.0):
        printer(bake(remaining, total=3.0))
    text = c.file.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert text.count("\r") == 3
    assert "baking:      0ms left of 3s" in text


# -- bgctl status ---------------------------------------------------------------------


def status_report(**overrides) -> StatusReport:
    """What bgctl.cli.status.run_status() returns."""
    d = deployment(stage=Stage.BAKE_TIME, history=(
        StageRecord(Stage.RECONCILE_SERVICE, 1000.0, 1000.5),
        StageRecord(Stage.SCALE_UP, 1000.5, 1004.0),
        StageRecord(Stage.BAKE_TIME, 1010.0),
    ))
    fields = dict(
        project="bgctl",
        running=True,
        production="green",
        production_revision="backend from taskdef.json",
        weights={"blue": 0, "green": 100},
        test_rule=None,
        deployment=DeploymentReport(
            id=d.id, target=d.target, source=d.source, status=d.status, stage=d.stage, paused=False,
            interrupted=True, revision=None, shipped=True, test_rule=d.test_rule, bake_seconds=d.bake_seconds,
            bake_remaining=75.0, reason=None, history=d.history, created=d.created, finished=d.finished,
        ),
        routes=RoutesReport(version="v7", live_version="v7", live=True, delivery="host-rename"),
        containers={
            "backend-blue": ServiceState("backend-blue", "exited", None, "bgctl-backend-blue-1", "nginx:blue"),
            "backend-green": ServiceState("backend-green", "running", "healthy", "bgctl-backend-green-1",
                                          "nginx:green"),
        },
        warnings=("Envoy's admin interface does not answer.",),
        ingress=INGRESS,
        admin="http://localhost:9901",
    )
    fields.update(overrides)
    return StatusReport(**fields)


def clock_of(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).strftime("%H:%M:%S.%f")[:-3]


def words(line: str) -> list[str]:
    return line.split()


def test_status_with_a_deployment_prints_warnings_stage_table_and_containers():
    c = console()
    print_status(c, status_report())
    lines = output(c)
    assert lines[0] == "! Envoy's admin interface does not answer."
    assert lines[1] == f"Project bgctl: green serves production at {INGRESS}/  backend from taskdef.json"
    assert lines[2] == "Traffic:    blue 0%, green 100%"
    assert lines[3] == "Routes:     v7 live via host-rename"
    assert lines[4] == "Deployment: bgd-0123456789 blue → green  IN_PROGRESS  stage BAKE_TIME (interrupted)"
    assert lines[5] == "            bake: 1m15s left"
    assert words(lines[6]) == ["stage", "started", "ended", "took"]
    assert words(lines[7]) == ["RECONCILE_SERVICE", clock_of(1000.0), clock_of(1000.5), "500ms"]
    assert words(lines[8]) == ["SCALE_UP", clock_of(1000.5), clock_of(1004.0), "3.5s"]
    assert words(lines[9]) == ["BAKE_TIME", clock_of(1010.0), "-", "…"]
    assert words(lines[10]) == ["service", "state", "health", "image"]
    assert words(lines[11]) == ["backend-blue", "exited", "-", "nginx:blue"]
    assert words(lines[12]) == ["backend-green", "running", "healthy", "nginx:green"]
    assert len(lines) == 13


def test_status_prints_every_warning_first_whole():
    interrupted = ("The deployment of green was interrupted at BAKE_TIME (bgctl stopped); "
                   "bgctl continue resumes it, bgctl rollback aborts it.")
    c = console()
    print_status(c, status_report(warnings=(interrupted, "Envoy serves routes v6, but the record says v7.")))
    lines = output(c)
    # The first sentence is longer than 120 columns and wraps onto a second line.
    assert joined(lines[:2]) == f"! {interrupted}"
    assert lines[2] == "! Envoy serves routes v6, but the record says v7."
    assert lines[3].startswith("Project bgctl: green serves production")


def test_status_paused_with_test_rule_and_reason():
    report = status_report(
        warnings=(),
        production="blue",
        weights={"blue": 100, "green": 0},
        test_rule=TestTrafficRule("x-amzn-ecs-blue-green-test"),
        routes=RoutesReport(version="v4", live_version="v3", live=False, delivery="container"),
    )
    report = replace(report, deployment=replace(report.deployment, paused=True, interrupted=False,
                                                stage=Stage.POST_TEST_TRAFFIC_SHIFT, bake_remaining=None,
                                                reason="[why] not"))
    c = console()
    print_status(c, report)
    lines = output(c)
    assert "Test rule:  x-amzn-ecs-blue-green-test: (any value)" in lines
    assert "Routes:     v4 NOT live (Envoy serves v3) via container" in lines
    assert ("Deployment: bgd-0123456789 blue → green  IN_PROGRESS  stage POST_TEST_TRAFFIC_SHIFT (paused)"
            in lines)
    assert "            reason: [why] not" in lines
    assert not any(line.startswith("!") or "bake:" in line for line in lines)


def test_status_not_running_without_a_deployment():
    report = status_report(running=False, warnings=(), deployment=None, containers={}, weights={},
                           routes=RoutesReport(version=None, live_version=None, live=False, delivery=None))
    c = console()
    print_status(c, report)
    assert output(c) == ["Project bgctl: not running (start it with bgctl up).", "Deployment: none"]


def test_status_without_a_state_file_does_not_print_routes_or_traffic():
    report = status_report(warnings=(), deployment=None, weights={}, production_revision=None,
                           routes=RoutesReport(version=None, live_version=None, live=False, delivery=None),
                           containers={})
    c = console()
    print_status(c, report)
    assert output(c) == [f"Project bgctl: green serves production at {INGRESS}/", "Deployment: none"]


def test_status_names_the_running_ecs_api():
    from bgctl.core.status_report import ApiEndpoint

    report = status_report(warnings=(), deployment=None, containers={},
                           api=ApiEndpoint("http://127.0.0.1:4599", 1234))
    c = console()
    print_status(c, report)
    lines = output(c)
    assert lines[1] == "ECS API:    http://127.0.0.1:4599 (bgctl serve, pid 1234)"
    assert report.to_dict()["api"] == {"url": "http://127.0.0.1:4599", "pid": 1234}


# -- status --json ----------------------------------------------------------------------------


def test_status_json_keys_are_the_contract():
    from bgctl.core.reconcile import Observed
    from bgctl.core.state import State
    from bgctl.core.status_report import status_report
    from bgctl.core.taskdef import Revision
    from bgctl.core.traffic import TrafficState

    shipped = Revision(family="backend", container_name="backend", image="nginx:alpine", command=None,
                       entry_point=None, environment=(), container_port=3000, port_name=None, health_check=None,
                       cpu_units=None, memory_mib=None, ignored=(), source="shipped")
    d = deployment(stage=Stage.BAKE_TIME, bake_until=1100.0, history=(StageRecord(Stage.BAKE_TIME, 1040.0),))
    state = State(TrafficState("green"), routes_version="v7", deployment=d)
    seen = Observed({"service-connect": ServiceState("service-connect", "running", None, "c", "envoy")}, "v7", True)
    report = status_report(project="bgctl", ingress=INGRESS, admin="http://localhost:9901", state=state, seen=seen,
                           now=1060.0, shipped_revision=shipped).to_dict()
    assert list(report) == ["project", "running", "production", "production_revision", "weights", "test_rule",
                            "deployment", "routes", "containers", "warnings", "ingress", "admin", "api",
                            "tasks", "services"]
    assert report["api"] is None and report["services"] == {}
    assert (report["production"], report["weights"], report["running"]) == ("green", {"blue": 0, "green": 100}, True)
    assert report["production_revision"] == "shipped green revision"
    # The deployment's source and target against their desired counts (no slot container observed here).
    assert report["tasks"] == {"blue": {"desired": 1, "running": 0, "healthy": 0},
                               "green": {"desired": 1, "running": 0, "healthy": 0}}
    assert list(report["deployment"]) == ["id", "target", "source", "status", "stage", "paused", "interrupted",
                                          "revision", "test_rule", "bake_seconds", "bake_remaining", "reason",
                                          "history", "created", "finished", "awaiting_action"]
    assert report["deployment"]["awaiting_action"] == []
    assert report["deployment"]["revision"] == {**shipped.to_dict(), "shipped": True}
    assert report["deployment"]["bake_remaining"] == 40.0
    assert report["deployment"]["status"] == "IN_PROGRESS" and report["deployment"]["stage"] == "BAKE_TIME"
    assert report["routes"] == {"version": "v7", "live_version": "v7", "live": True, "delivery": "host-rename"}
    assert report["containers"] == {"service-connect": {"status": "running", "health": None, "image": "envoy"}}
    assert report["test_rule"] is None
    assert report["warnings"] == ["green serves production but its container is missing.",
                                  "The candidate green should be running but is not."]


def test_status_lists_pause_hooks_awaiting_action_and_says_when_one_timed_out_without_changing_it():
    from bgctl.core.deployment import HookExecution, HookExecutionStatus
    from bgctl.core.hooks import HookTargetType, HookTimeout, TimeoutAction
    from bgctl.core.reconcile import Observed
    from bgctl.core.state import State
    from bgctl.core.status_report import status_report
    from bgctl.core.traffic import TrafficState

    hooks = (Hook((Stage.POST_TEST_TRAFFIC_SHIFT,), None, HookTargetType.PAUSE, hook_id="gate",
                  timeout=HookTimeout(5, TimeoutAction.CONTINUE)),
             Hook((Stage.POST_TEST_TRAFFIC_SHIFT,), None, HookTargetType.PAUSE, hook_id="late"))
    executions = (HookExecution("gate", Stage.POST_TEST_TRAFFIC_SHIFT, "e1", HookExecutionStatus.AWAITING_ACTION,
                                1000.0, 1050.0),
                  HookExecution("late", Stage.POST_TEST_TRAFFIC_SHIFT, "e2", HookExecutionStatus.AWAITING_ACTION,
                                1000.0, 1200.0))
    d = deployment(stage=Stage.POST_TEST_TRAFFIC_SHIFT, paused=True, hooks=hooks, hook_executions=executions)
    state = State(TrafficState("blue", "green", d.test_rule), routes_version="v7", deployment=d)
    seen = Observed({"service-connect": ServiceState("service-connect", "running", None, "c", "envoy")}, "v7", True)
    report = status_report(project="bgctl", ingress=INGRESS, admin="http://localhost:9901", state=state, seen=seen,
                           now=1060.0)
    assert report.to_dict()["deployment"]["awaiting_action"] == [
        {"hook_id": "gate", "stage": "POST_TEST_TRAFFIC_SHIFT", "deadline": 1050.0, "timeout_action": "CONTINUE",
         "timed_out": True},
        {"hook_id": "late", "stage": "POST_TEST_TRAFFIC_SHIFT", "deadline": 1200.0, "timeout_action": "ROLLBACK",
         "timed_out": False}]
    c = Console(file=io.StringIO(), width=200, force_terminal=False)  # as `out` does, a line is not wrapped
    print_status(c, report)
    lines = output(c)
    hhmmss = lambda epoch: datetime.fromtimestamp(epoch).strftime("%H:%M:%S")  # noqa: E731
    assert (f"            PAUSE gate at POST_TEST_TRAFFIC_SHIFT timed out at {hhmmss(1050.0)}; "
            "the next bgctl continue or rollback applies its CONTINUE") in lines
    assert (f"            PAUSE late at POST_TEST_TRAFFIC_SHIFT awaits action until {hhmmss(1200.0)} "
            "(then ROLLBACK)") in lines
    assert state.deployment == d  # status changes nothing
