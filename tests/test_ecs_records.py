"""Deployment records as ECS's DescribeServiceDeployments and ListServiceDeployments return them."""

import datetime
import re
from dataclasses import replace

import pytest

from bgctl.core.arns import ServiceNames
from bgctl.core.deployment import Deployment, HookExecution, HookExecutionStatus, StageRecord
from bgctl.core.ecs_records import (
    KeptDeployment,
    describe_service_deployments,
    list_service_deployments,
    service_revision_id,
)
from bgctl.core.hooks import Hook, HookTargetType, HookTimeout, TimeoutAction
from bgctl.core.stages import STAGES, Stage, Status
from bgctl.core.strategy import Strategy, TrafficShift
from bgctl.core.taskdef import HealthCheck, Revision
from bgctl.core.traffic import TestTrafficRule
from tests.ecs_shapes import parsed

V3 = Revision(
    family="backend-v3", container_name="api", image="nginx:1.27", command=None, entry_point=None,
    environment=(("VERSION", "3"),), container_port=3000, port_name="api",
    health_check=HealthCheck(("CMD", "true"), 5, 2, 2, 1), cpu_units=256, memory_mib=512,
    ignored=(), source="v3.json",
)
ARN = r"arn:aws:ecs:us-east-1:123456789012"
DEPLOYMENT_ARN = re.compile(ARN + r":service-deployment/default/backend/[A-Za-z0-9-]+")
REVISION_ARN = re.compile(ARN + r":service-revision/default/backend/\d{19}")


def through(stage: Stage, start: float = 1000.0, *, ended: bool = True) -> tuple[StageRecord, ...]:
    """Stage records from RECONCILE_SERVICE up to `stage`, one second each (`stage` still open unless `ended`)."""
    records = []
    for i, s in enumerate(STAGES[:STAGES.index(stage) + 1]):
        records.append(StageRecord(s, start + i, start + i + 1 if (s != stage or ended) else None))
    return tuple(records)


def make(**overrides) -> KeptDeployment:
    fields = dict(target="green", source="blue", revision=V3,
                  test_rule=TestTrafficRule("x-amzn-ecs-bluegreen-test", "test"), bake_seconds=300.0,
                  created=999.0)
    fields.update(overrides)
    return KeptDeployment(Deployment.new(**fields), source_revision=None)


def successful() -> KeptDeployment:
    return make(status=Status.SUCCESSFUL, stage=Stage.CLEAN_UP, history=through(Stage.CLEAN_UP), finished=1011.0)


SMOKE = Hook(Stage.POST_TEST_TRAFFIC_SHIFT, "curl -f http://x/", hook_id="hook-1")
LAMBDA_ARN = "arn:aws:lambda:us-east-1:123456789012:function:smoke"


def execution(hook: Hook, status: HookExecutionStatus, *, stage: Stage | None = None, step: int = 0,
              rollback: bool = False) -> HookExecution:
    return HookExecution(hook.hook_id, stage or hook.stage, f"x-{hook.hook_id}", status, 1005.0, 1065.0,
                         step=step, rollback=rollback)


def rolled_back() -> KeptDeployment:
    return make(status=Status.ROLLBACK_SUCCESSFUL, stage=Stage.POST_TEST_TRAFFIC_SHIFT,
                history=through(Stage.POST_TEST_TRAFFIC_SHIFT, ended=False), finished=1008.0,
                hooks=(SMOKE,), hook_executions=(execution(SMOKE, HookExecutionStatus.FAILED),),
                reason="The POST_TEST_TRAFFIC_SHIFT hook `curl -f http://x/` failed (exit status 22).",
                rollback_started=1006.5)


def described(k: KeptDeployment) -> dict:
    """The record as an SDK returns it, after checking it against botocore's output shape."""
    return parsed("DescribeServiceDeployments", describe_service_deployments([k]))["serviceDeployments"][0]


def test_a_successful_deployment_has_production_on_the_target():
    k = successful()
    record = described(k)
    assert record["status"] == "SUCCESSFUL"
    assert record["lifecycleStage"] == "CLEAN_UP"
    assert DEPLOYMENT_ARN.fullmatch(record["serviceDeploymentArn"])
    assert record["serviceDeploymentArn"].endswith("/" + k.deployment.id)
    assert record["serviceArn"] == f"{ARN}:service/default/backend".replace("\\", "")
    assert record["clusterArn"] == "arn:aws:ecs:us-east-1:123456789012:cluster/default"
    target, [source] = record["targetServiceRevision"], record["sourceServiceRevisions"]
    assert REVISION_ARN.fullmatch(target["arn"]) and REVISION_ARN.fullmatch(source["arn"])
    assert target["arn"] != source["arn"]
    assert (target["requestedTestTrafficWeight"], target["requestedProductionTrafficWeight"]) == (100.0, 100.0)
    assert (source["requestedTestTrafficWeight"], source["requestedProductionTrafficWeight"]) == (0.0, 0.0)
    assert (target["runningTaskCount"], source["runningTaskCount"]) == (1, 0)
    assert record["createdAt"] == datetime.datetime.fromtimestamp(999.0, datetime.timezone.utc)
    assert record["startedAt"].timestamp() == 1000.0
    assert record["finishedAt"].timestamp() == 1011.0
    assert "stoppedAt" not in record and "rollback" not in record and "statusReason" not in record
    assert record["deploymentConfiguration"] == {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 5}


def test_a_rolled_back_deployment_names_the_revision_it_went_back_to_and_the_failed_hook():
    k = rolled_back()
    record = described(k)
    assert record["status"] == "ROLLBACK_SUCCESSFUL"
    assert record["statusReason"] == k.deployment.reason
    assert record["rollback"] == {
        "reason": k.deployment.reason,
        "startedAt": datetime.datetime.fromtimestamp(1006.5, datetime.timezone.utc),
        "serviceRevisionArn": record["sourceServiceRevisions"][0]["arn"],
    }
    assert record["finishedAt"].timestamp() == 1008.0
    target, [source] = record["targetServiceRevision"], record["sourceServiceRevisions"]
    assert (target["requestedProductionTrafficWeight"], target["requestedTestTrafficWeight"]) == (0.0, 0.0)
    assert (source["requestedProductionTrafficWeight"], source["requestedTestTrafficWeight"]) == (100.0, 100.0)
    assert (target["requestedTaskCount"], target["runningTaskCount"]) == (0, 0)
    assert record["lifecycleHookDetails"] == [{
        "hookId": "hook-1", "targetType": "COMMAND", "status": "FAILED",
        "expiresAt": datetime.datetime.fromtimestamp(1065.0, datetime.timezone.utc), "timeoutAction": "ROLLBACK"}]


def test_a_failed_rollback_says_what_went_wrong_too():
    k = rolled_back()
    k = replace(k, deployment=replace(k.deployment, status=Status.ROLLBACK_FAILED,
                                      rollback_history=("the candidate could not be stopped: gone",)))
    record = described(k)
    assert record["status"] == "ROLLBACK_FAILED"
    assert record["statusReason"].endswith("; the candidate could not be stopped: gone")
    assert "rollback" in record and "finishedAt" in record


def test_a_rollback_in_progress_has_every_weight_back_on_the_source():
    k = rolled_back()
    k = replace(k, deployment=replace(k.deployment, status=Status.ROLLBACK_IN_PROGRESS, finished=None))
    record = described(k)
    assert record["status"] == "ROLLBACK_IN_PROGRESS"
    assert "finishedAt" not in record
    assert record["rollback"]["startedAt"].timestamp() == 1006.5
    assert record["sourceServiceRevisions"][0]["requestedProductionTrafficWeight"] == 100.0


@pytest.mark.parametrize("stage, test_weight, production_weight", [
    (Stage.POST_SCALE_UP, 0.0, 0.0),
    (Stage.POST_TEST_TRAFFIC_SHIFT, 100.0, 0.0),
    (Stage.BAKE_TIME, 100.0, 100.0),
])
def test_an_ongoing_deployment_requests_the_weights_of_its_stage(stage, test_weight, production_weight):
    record = described(make(stage=stage, history=through(stage, ended=False)))
    assert record["status"] == "IN_PROGRESS" and record["lifecycleStage"] == stage.value
    target, [source] = record["targetServiceRevision"], record["sourceServiceRevisions"]
    assert target["requestedTestTrafficWeight"] == test_weight
    assert target["requestedProductionTrafficWeight"] == production_weight
    assert source["requestedProductionTrafficWeight"] == 100.0 - production_weight
    assert "finishedAt" not in record and "rollback" not in record


def test_the_target_is_pending_while_it_scales_up():
    target = described(make(stage=Stage.SCALE_UP, history=through(Stage.SCALE_UP, ended=False)))[
        "targetServiceRevision"]
    assert (target["requestedTaskCount"], target["runningTaskCount"], target["pendingTaskCount"]) == (1, 0, 1)


def test_hooks_of_the_current_stage_show_where_they_are_and_a_lambda_its_function():
    lam = Hook(Stage.POST_TEST_TRAFFIC_SHIFT, LAMBDA_ARN, HookTargetType.AWS_LAMBDA, "smoke",
               details={"expect": "v2"}, timeout=HookTimeout(5, TimeoutAction.CONTINUE))
    pause = Hook(Stage.POST_TEST_TRAFFIC_SHIFT, None, HookTargetType.PAUSE, "approve")
    earlier = Hook(Stage.POST_SCALE_UP, "true", hook_id="hook-1")
    k = make(stage=Stage.POST_TEST_TRAFFIC_SHIFT, history=through(Stage.POST_TEST_TRAFFIC_SHIFT, ended=False),
             hooks=(earlier, lam, pause), minute_seconds=1.0,
             hook_executions=(execution(earlier, HookExecutionStatus.SUCCEEDED),
                              execution(lam, HookExecutionStatus.IN_PROGRESS),
                              execution(pause, HookExecutionStatus.AWAITING_ACTION)))
    record = described(k)
    assert [(h["hookId"], h["targetType"], h.get("targetArn"), h["status"], h["timeoutAction"])
            for h in record["lifecycleHookDetails"]] == [
        ("smoke", "AWS_LAMBDA", LAMBDA_ARN, "IN_PROGRESS", "CONTINUE"),
        ("approve", "PAUSE", None, "AWAITING_ACTION", "ROLLBACK"),
    ]
    assert record["deploymentConfiguration"]["lifecycleHooks"] == [
        {"targetType": "COMMAND", "lifecycleStages": ["POST_SCALE_UP"],
         "timeoutConfiguration": {"timeoutInMinutes": 1440, "action": "ROLLBACK"}},
        {"targetType": "AWS_LAMBDA", "hookTargetArn": LAMBDA_ARN, "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
         "hookDetails": {"expect": "v2"}, "timeoutConfiguration": {"timeoutInMinutes": 5, "action": "CONTINUE"}},
        {"targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
         "timeoutConfiguration": {"timeoutInMinutes": 1440, "action": "ROLLBACK"}},
    ]
    # BGCTL_MINUTE=1s: the record's 300 s of bake are 300 ECS minutes.
    assert record["deploymentConfiguration"]["bakeTimeInMinutes"] == 300


@pytest.mark.parametrize("stage, step, production_weight", [
    (Stage.PRE_PRODUCTION_TRAFFIC_SHIFT, 0, 0.0),
    (Stage.PRODUCTION_TRAFFIC_SHIFT, 0, 25.0),
    (Stage.PRE_PRODUCTION_TRAFFIC_SHIFT, 1, 25.0),
    (Stage.POST_PRODUCTION_TRAFFIC_SHIFT, 2, 75.0),
    (Stage.BAKE_TIME, 3, 100.0),
])
def test_linear_steps_request_their_share_of_production(stage, step, production_weight):
    shift = TrafficShift(Strategy.LINEAR, step_percent=25.0, step_bake_seconds=120.0)
    record = described(make(stage=stage, step=step, shift=shift, history=through(stage, ended=False)))
    assert record["targetServiceRevision"]["requestedProductionTrafficWeight"] == production_weight
    assert record["sourceServiceRevisions"][0]["requestedProductionTrafficWeight"] == 100.0 - production_weight
    assert record["targetServiceRevision"]["requestedTestTrafficWeight"] == 100.0
    assert record["deploymentConfiguration"]["linearConfiguration"] == {"stepPercent": 25.0,
                                                                        "stepBakeTimeInMinutes": 2}


def test_canary_is_configured_as_ecs_says():
    shift = TrafficShift(Strategy.CANARY, canary_percent=10.0, canary_bake_seconds=600.0)
    config = described(make(shift=shift, status=Status.SUCCESSFUL, stage=Stage.CLEAN_UP,
                            history=through(Stage.CLEAN_UP), finished=1011.0))["deploymentConfiguration"]
    assert (config["strategy"], config["canaryConfiguration"]) == (
        "CANARY", {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 10})


def test_the_record_names_its_service_and_revisions():
    k = make(names=ServiceNames("api", "prod"), source_revision_id="1111111111111111111",
             target_revision_id="2222222222222222222", stage=Stage.POST_SCALE_UP,
             history=through(Stage.POST_SCALE_UP, ended=False))
    record = described(k)
    assert record["serviceArn"] == "arn:aws:ecs:us-east-1:123456789012:service/prod/api"
    assert record["targetServiceRevision"]["arn"] == \
        "arn:aws:ecs:us-east-1:123456789012:service-revision/prod/api/2222222222222222222"
    assert record["sourceServiceRevisions"][0]["arn"].endswith("/prod/api/1111111111111111111")


def test_a_paused_deployment_awaits_action_on_a_pause_hook():
    k = make(stage=Stage.POST_TEST_TRAFFIC_SHIFT, history=through(Stage.POST_TEST_TRAFFIC_SHIFT),
             pause_at=Stage.POST_TEST_TRAFFIC_SHIFT, paused=True)
    record = described(k)
    assert record["status"] == "IN_PROGRESS"
    assert record["lifecycleStage"] == "POST_TEST_TRAFFIC_SHIFT"
    assert [(h["targetType"], h["status"]) for h in record["lifecycleHookDetails"]] == [("PAUSE", "AWAITING_ACTION")]
    assert {"targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"]} in \
        record["deploymentConfiguration"]["lifecycleHooks"]


def test_a_pending_deployment_has_no_stage_and_no_start_yet():
    record = described(make(status=Status.PENDING))
    assert record["status"] == "PENDING"
    assert "lifecycleStage" not in record and "startedAt" not in record
    assert record["lifecycleHookDetails"] == []


def test_a_stopped_deployment_has_stopped_at_rather_than_finished_at():
    record = described(make(status=Status.STOPPED, stage=Stage.POST_SCALE_UP, history=through(Stage.POST_SCALE_UP),
                            finished=1005.0, reason="Stopped by the user."))
    assert record["status"] == "STOPPED"
    assert record["stoppedAt"].timestamp() == 1005.0 and "finishedAt" not in record


def test_the_5xx_alarm_is_named_and_reported_triggered_when_it_rolled_back():
    k = make(status=Status.ROLLBACK_SUCCESSFUL, stage=Stage.BAKE_TIME, history=through(Stage.BAKE_TIME, ended=False),
             finished=1012.0, alarm_5xx_percent=5.0, reason="Alarm: 9 of 10 responses from green during bake were 5xx.")
    record = described(k)
    assert record["alarms"] == {"status": "TRIGGERED", "alarmNames": ["backend-5xx-above-5-percent"],
                                "triggeredAlarmNames": ["backend-5xx-above-5-percent"]}
    assert record["deploymentConfiguration"]["alarms"] == {
        "alarmNames": ["backend-5xx-above-5-percent"], "rollback": True, "enable": True}
    assert described(successful())["alarms"] == {"status": "DISABLED"}


def test_an_alarm_that_only_reports_is_triggered_without_a_rollback():
    k = make(stage=Stage.BAKE_TIME, history=through(Stage.BAKE_TIME, ended=False), alarm_5xx_percent=5.0,
             alarm_rollback=False, alarm_triggered="Alarm: 9 of 10 responses were 5xx.")
    record = described(k)
    assert record["status"] == "IN_PROGRESS"
    assert record["alarms"]["status"] == "TRIGGERED"
    assert record["deploymentConfiguration"]["alarms"]["rollback"] is False


def test_updated_at_is_the_latest_moment_the_record_knows():
    assert described(replace(successful(), updated=1011.5))["updatedAt"].timestamp() == 1011.5
    assert described(successful())["updatedAt"].timestamp() == 1011.0


def test_service_revision_ids_are_stable_per_slot_and_revision():
    assert service_revision_id("green", V3) == service_revision_id("green", replace(V3, source="elsewhere.json"))
    assert re.fullmatch(r"\d{19}", service_revision_id("green", None))
    ids = {service_revision_id("green", V3), service_revision_id("blue", V3), service_revision_id("green", None),
           service_revision_id("green", replace(V3, image="nginx:1.28"))}
    assert len(ids) == 4
    one, two = successful(), successful()
    assert described(one)["targetServiceRevision"]["arn"] == described(two)["targetServiceRevision"]["arn"]


def test_list_service_deployments_gives_briefs_newest_first():
    old = successful()
    new = replace(rolled_back(), deployment=replace(rolled_back().deployment, created=2000.0))
    output = list_service_deployments([old, new])
    briefs = parsed("ListServiceDeployments", output)["serviceDeployments"]
    assert [b["serviceDeploymentArn"].rsplit("/", 1)[1] for b in briefs] == [new.deployment.id, old.deployment.id]
    assert [b["status"] for b in briefs] == ["ROLLBACK_SUCCESSFUL", "SUCCESSFUL"]
    assert briefs[1]["targetServiceRevisionArn"] == described(old)["targetServiceRevision"]["arn"]
    assert "nextToken" not in output


def test_an_unknown_deployment_is_a_missing_failure_as_in_ecs():
    arn = "arn:aws:ecs:us-east-1:123456789012:service-deployment/default/backend/nope"
    output = parsed("DescribeServiceDeployments", describe_service_deployments([], [arn]))
    assert output == {"serviceDeployments": [], "failures": [{"arn": arn, "reason": "MISSING"}]}


def test_the_kept_entry_reads_back_what_it_wrote():
    k = replace(rolled_back(), source_revision=V3, updated=1009.0)
    assert KeptDeployment.from_dict(k.to_dict()) == k


def test_a_rollback_the_record_does_not_time_is_timed_from_when_the_history_first_saw_it():
    k = make(stage=Stage.BAKE_TIME, history=through(Stage.BAKE_TIME, ended=False))
    seen = k.observed(replace(k.deployment, status=Status.ROLLBACK_IN_PROGRESS), 1050.0)
    later = seen.observed(replace(seen.deployment, status=Status.ROLLBACK_SUCCESSFUL), 1060.0)
    assert (later.rollback_started, later.updated) == (1050.0, 1060.0)


def test_the_revisions_report_their_desired_counts():
    scaling = described(make(stage=Stage.SCALE_UP, history=through(Stage.SCALE_UP, ended=False), desired_count=3,
                             source_count=2))
    target, [source] = scaling["targetServiceRevision"], scaling["sourceServiceRevisions"]
    assert (target["requestedTaskCount"], target["runningTaskCount"], target["pendingTaskCount"]) == (3, 0, 3)
    assert (source["requestedTaskCount"], source["runningTaskCount"]) == (2, 2)
    baking = described(make(stage=Stage.BAKE_TIME, history=through(Stage.BAKE_TIME, ended=False), desired_count=3))
    assert baking["targetServiceRevision"]["runningTaskCount"] == 3


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_is_reported_as_a_lifecycle_stage_the_model_knows(stage):
    from bgctl.adapters.ecs_model import output_problems

    answer = describe_service_deployments([make(stage=stage, history=through(stage, ended=False))])
    assert output_problems("DescribeServiceDeployments", answer) == []
    expected = "PRODUCTION_TRAFFIC_SHIFT" if stage == Stage.PRE_PRODUCTION_TRAFFIC_SHIFT else stage.value
    assert answer["serviceDeployments"][0]["lifecycleStage"] == expected
