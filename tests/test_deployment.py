import json
import re
from dataclasses import replace

import pytest

from bgctl.core.deployment import Deployment, HookExecution, HookExecutionStatus, HookOutput, StageRecord
from bgctl.core.hooks import Hook
from bgctl.core.stages import STAGES, Stage, Status
from bgctl.core.taskdef import HealthCheck, Revision
from bgctl.core.traffic import TestTrafficRule

REVISION = Revision(
    family="backend-v3", container_name="api", image="nginx:1.27", command=("nginx", "-g", "daemon off;"),
    entry_point=None, environment=(("VERSION", "3"),), container_port=3000, port_name="api",
    health_check=HealthCheck(("CMD", "true"), 5, 2, 2, 1), cpu_units=256, memory_mib=512,
    ignored=("executionRoleArn",), source="v3.json",
)


def make(**overrides) -> Deployment:
    fields = dict(
        target="green",
        source="blue",
        revision=None,
        test_rule=TestTrafficRule("x-amzn-ecs-bluegreen-test", "test"),
        bake_seconds=300.0,
        created=1000.0,
    )
    fields.update(overrides)
    return Deployment.new(**fields)


def test_new_gives_a_fresh_bgd_id_and_starts_in_progress_at_reconcile():
    one, two = make(), make()
    assert re.fullmatch(r"bgd-[0-9a-f]{10}", one.id)
    assert one.id != two.id
    assert one.status == Status.IN_PROGRESS
    assert one.stage == Stage.RECONCILE_SERVICE
    assert one.history == ()
    assert not one.paused


def test_stage_started_records_the_start():
    d = make().stage_started(1001.0)
    assert d.history == (StageRecord(Stage.RECONCILE_SERVICE, 1001.0),)
    assert d.current_record() == StageRecord(Stage.RECONCILE_SERVICE, 1001.0)


def test_stage_started_again_on_resume_keeps_the_first_start_time():
    d = make().stage_started(1001.0)
    resumed = d.stage_started(2000.0)
    assert resumed.history == (StageRecord(Stage.RECONCILE_SERVICE, 1001.0),)


EXECUTION = HookExecution("hook-1", Stage.BAKE_TIME, "e-1", HookExecutionStatus.IN_PROGRESS, started=90.0,
                          expires_at=190.0, next_call_at=99.5, details={"attempt": 3}, calls=2)


def test_stage_ended_closes_the_record():
    d = make().stage_started(10.0)
    ended = d.stage_ended(12.5)
    assert ended.history == (StageRecord(Stage.RECONCILE_SERVICE, 10.0, 12.5),)
    assert ended.current_record() is None


def test_an_execution_is_kept_per_hook_stage_step_and_rollback():
    d = make().with_execution(EXECUTION)
    later = replace(EXECUTION, status=HookExecutionStatus.SUCCEEDED, calls=3)
    assert d.with_execution(later).hook_executions == (later,)
    again = replace(EXECUTION, rollback=True)
    assert d.with_execution(again).hook_executions == (EXECUTION, again)
    assert replace(d, stage=Stage.BAKE_TIME).executions_at(Stage.BAKE_TIME) == (EXECUTION,)


def test_stage_ended_without_an_open_record_changes_nothing():
    d = make()
    assert d.stage_ended(5.0) is d


def test_advanced_goes_through_every_stage_then_successful():
    d = make()
    seen = [d.stage]
    for _ in range(len(STAGES) - 1):
        d = d.advanced()
        seen.append(d.stage)
        assert d.status == Status.IN_PROGRESS
    assert seen == list(STAGES)
    done = d.advanced()
    assert done.stage == Stage.CLEAN_UP
    assert done.status == Status.SUCCESSFUL
    assert done.finished_


def test_a_full_run_records_each_stage_once_with_its_seconds():
    d, now = make(), 0.0
    while not d.finished_:
        d = d.stage_started(now).stage_ended(now + 1.25)
        now += 2
        d = d.advanced()
    assert [r.stage for r in d.history] == list(STAGES)
    assert d.stage_seconds() == {s.value: 1.25 for s in STAGES}


def test_stage_seconds_leaves_out_the_open_stage_and_rounds_to_ms():
    d = make().stage_started(1.0).stage_ended(1.0 + 2 / 3).advanced().stage_started(5.0)
    assert d.stage_seconds() == {"RECONCILE_SERVICE": 0.667}


def test_stage_record_to_dict_has_seconds():
    assert StageRecord(Stage.SCALE_UP, 10.0, 12.0).to_dict() == {
        "stage": "SCALE_UP", "started": 10.0, "ended": 12.0, "seconds": 2.0}
    assert StageRecord(Stage.SCALE_UP, 10.0).to_dict()["seconds"] is None


def test_round_trip_through_json_keeps_everything():
    d = make(
        revision=REVISION,
        hooks=(Hook(Stage.POST_TEST_TRAFFIC_SHIFT, "curl -f localhost"),),
        hook_timeout=30.0,
        start_timeout=42.0,
        alarm_5xx_percent=5.0,
        pause_at=Stage.POST_TEST_TRAFFIC_SHIFT,
    )
    d = d.stage_started(1.0).stage_ended(2.0).advanced().stage_started(3.0)
    d = replace(
        d,
        stage=Stage.BAKE_TIME,
        history=d.history + (StageRecord(Stage.BAKE_TIME, 4.0),),
        hook_executions=(EXECUTION,),
        hook_outputs=(HookOutput.of("hook-1", Stage.BAKE_TIME, 98.0, "IN_PROGRESS", "x" * 9000, "err"),),
        bake_until=400.0,
        bake_baseline={"upstream_rq_total": 10, "upstream_rq_5xx": 1},
        reason="because",
        finished=None,
        rollback_history=("one problem",),
    )
    back = Deployment.from_dict(json.loads(json.dumps(d.to_dict())))
    assert back == d
    assert back.pause_at == Stage.POST_TEST_TRAFFIC_SHIFT
    assert back.hook_executions == (EXECUTION,)
    assert len(back.hook_outputs[0].stdout) == 4000  # what a hook printed is kept, bounded
    assert back.test_rule == TestTrafficRule("x-amzn-ecs-bluegreen-test", "test")
    assert back.revision == REVISION and not back.shipped
    assert back.hooks_at(Stage.POST_TEST_TRAFFIC_SHIFT) == (Hook(Stage.POST_TEST_TRAFFIC_SHIFT, "curl -f localhost"),)
    assert back.hooks_at(Stage.PRE_SCALE_UP) == ()


def test_the_shipped_revision_is_none_and_so_recorded():
    d = make()
    assert d.shipped and d.to_dict()["revision"] is None
    assert Deployment.from_dict(d.to_dict()).revision is None


@pytest.mark.parametrize("old", [{"family": "backend", "image": "nginx:1.27", "shipped": True}, {}])
def test_an_older_record_with_a_shipped_flag_reads_as_the_shipped_revision(old):
    data = make().to_dict()
    data["revision"] = old
    assert Deployment.from_dict(data).shipped


def test_an_older_record_with_a_task_definition_revision_reads_it_back():
    data = make().to_dict()
    data["revision"] = {**REVISION.to_dict(), "shipped": False}
    assert Deployment.from_dict(data).revision == REVISION


def test_round_trip_without_optional_fields():
    d = make()
    data = d.to_dict()
    assert data["pause_at"] is None and data["hook_executions"] == []
    assert Deployment.from_dict(data) == d


def test_from_dict_fills_defaults_for_an_older_record():
    data = make().to_dict()
    for key in ("hooks", "hook_timeout", "start_timeout", "history", "paused", "rollback_history", "created"):
        del data[key]
    d = Deployment.from_dict(data)
    assert d.hooks == () and d.hook_timeout == 60.0 and d.history == () and d.rollback_history == ()
    assert d.start_timeout == 120.0


FLAGS = [
        (Status.PENDING, False, False),
        (Status.IN_PROGRESS, False, False),
        (Status.SUCCESSFUL, False, True),
        (Status.STOP_REQUESTED, False, False),
        (Status.STOPPED, False, True),
        (Status.ROLLBACK_REQUESTED, True, False),
        (Status.ROLLBACK_IN_PROGRESS, True, False),
        (Status.ROLLBACK_SUCCESSFUL, False, True),
        (Status.ROLLBACK_FAILED, False, True),
]


@pytest.mark.parametrize("status, rolling_back, finished", FLAGS)
def test_flags_for_each_status(status, rolling_back, finished):
    d = make(status=status)
    assert d.rolling_back is rolling_back
    assert d.finished_ is finished


def test_the_statuses_are_ecs_nine_and_each_is_covered_above():
    assert [s.value for s in Status] == [
        "PENDING", "IN_PROGRESS", "SUCCESSFUL", "STOP_REQUESTED", "STOPPED",
        "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED",
    ]
    assert [case[0] for case in FLAGS] == list(Status)
