import json

import pytest

from bgctl.core.arns import ServiceNames
from bgctl.core.hook_event import answer_from_value, build_event, merge_details
from bgctl.core.hooks import DEFAULT_CALLBACK_DELAY, HookStatus
from bgctl.core.stages import Stage

NAMES = ServiceNames("backend", cluster="demo")
PREFIX = "arn:aws:ecs:us-east-1:123456789012"


def event(**overrides):
    fields = dict(
        execution_id="0b7b5c1e-2f7a-4a44-9d1e-6d1c4f3f2a10",
        stage=Stage.POST_TEST_TRAFFIC_SHIFT,
        names=NAMES,
        deployment_id="dep1",
        target_revision_id="rev2",
        test_weights={"rev2": 100},
        production_weights={"rev1": 100},
        hook_details={"bucket": "approvals"},
    )
    return build_event(**{**fields, **overrides})


def test_the_event_is_ecs_s_shape_exactly():
    assert event() == {
        "executionId": "0b7b5c1e-2f7a-4a44-9d1e-6d1c4f3f2a10",
        "lifecycleStage": "POST_TEST_TRAFFIC_SHIFT",
        "resourceArn": f"{PREFIX}:service-deployment/demo/backend/dep1",
        "executionDetails": {
            "serviceArn": f"{PREFIX}:service/demo/backend",
            "targetServiceRevisionArn": f"{PREFIX}:service-revision/demo/backend/rev2",
            "testTrafficWeights": {f"{PREFIX}:service-revision/demo/backend/rev2": 100},
            "productionTrafficWeights": {f"{PREFIX}:service-revision/demo/backend/rev1": 100},
        },
        "hookDetails": {"bucket": "approvals"},
    }


def test_the_event_is_json_and_arns_split_as_functions_split_them():
    e = json.loads(json.dumps(event()))
    _, _, service, region, account, resource = e["resourceArn"].split(":")
    assert (service, region, account) == ("ecs", "us-east-1", "123456789012")
    assert resource.split("/") == ["service-deployment", "demo", "backend", "dep1"]


def test_a_linear_step_carries_both_revisions_weights():
    e = event(stage="PRODUCTION_TRAFFIC_SHIFT", production_weights={"rev1": 70, "rev2": 30})
    assert e["lifecycleStage"] == "PRODUCTION_TRAFFIC_SHIFT"
    assert e["executionDetails"]["productionTrafficWeights"] == {
        f"{PREFIX}:service-revision/demo/backend/rev1": 70,
        f"{PREFIX}:service-revision/demo/backend/rev2": 30,
    }


def test_fractional_weights_are_kept_and_whole_ones_are_integers():
    e = event(stage="PRODUCTION_TRAFFIC_SHIFT", production_weights={"rev1": 99.9, "rev2": 0.1},
              test_weights={"rev2": 100.0})
    weights = e["executionDetails"]
    assert list(weights["productionTrafficWeights"].values()) == [99.9, 0.1]
    assert json.dumps(weights["testTrafficWeights"]).endswith(": 100}")
    assert list(event(production_weights={"rev1": 70.00000000000001, "rev2": 29.999999999999996})
                ["executionDetails"]["productionTrafficWeights"].values()) == [70, 30]


def test_a_rollback_shows_production_back_on_the_source():
    e = event(stage=Stage.PRODUCTION_TRAFFIC_SHIFT, test_weights={"rev1": 100}, production_weights={"rev1": 100})
    target = e["executionDetails"]["targetServiceRevisionArn"]
    assert target.endswith("/rev2")
    assert e["executionDetails"]["productionTrafficWeights"].get(target, 0) == 0


@pytest.mark.parametrize("details", [None, {}])
def test_no_details_is_an_empty_object(details):
    assert event(hook_details=details)["hookDetails"] == {}


def test_the_event_does_not_share_the_callers_details():
    details = {"a": 1}
    e = event(hook_details=details)
    e["hookDetails"]["a"] = 2
    assert details == {"a": 1}


def test_an_unknown_stage_is_refused():
    with pytest.raises(ValueError):
        event(stage="SOMETIME")


# -- IN_PROGRESS details -------------------------------------------------------


def test_merge_keeps_earlier_keys_and_takes_the_answers():
    assert merge_details({"bucket": "b", "attempt": 1}, {"attempt": 2, "job": "j"}) == {
        "bucket": "b", "attempt": 2, "job": "j"}


def test_merge_with_nothing():
    assert merge_details(None, None) is None
    assert merge_details(None, {"a": 1}) == {"a": 1}
    assert merge_details({"a": 1}, None) == {"a": 1}


def test_merge_does_not_change_its_inputs():
    previous, answer = {"a": 1}, {"b": 2}
    merge_details(previous, answer)
    assert (previous, answer) == ({"a": 1}, {"b": 2})


# -- a function's return value ------------------------------------------------


def test_succeeded():
    answer = answer_from_value({"hookStatus": "SUCCEEDED"})
    assert (answer.status, answer.details, answer.reason) == (HookStatus.SUCCEEDED, None, "hookStatus SUCCEEDED")


def test_in_progress_with_delay_and_details():
    answer = answer_from_value({"hookStatus": "IN_PROGRESS", "callBackDelay": 5, "hookDetails": {"n": 1}})
    assert (answer.status, answer.callback_delay, answer.details) == (HookStatus.IN_PROGRESS, 5.0, {"n": 1})
    assert answer.reason == "hookStatus IN_PROGRESS, call back after 5s"


def test_in_progress_without_delay_waits_ecs_s_default():
    assert answer_from_value({"hookStatus": "IN_PROGRESS"}).callback_delay == DEFAULT_CALLBACK_DELAY


@pytest.mark.parametrize("value, reason", [
    (None, "returned None, not an object with hookStatus"),
    ("SUCCEEDED", "returned 'SUCCEEDED', not an object with hookStatus"),
    ('{"hookStatus": "SUCCEEDED"}', "returned '{\"hookStatus\": \"SUCCEEDED\"}', not an object with hookStatus"),
    ({"status": "SUCCEEDED"}, "returned an object without hookStatus"),
    ({"hookStatus": "succeeded"}, "invalid hookStatus 'succeeded'"),
    ({"hookStatus": None}, "invalid hookStatus None"),
    ({"hookStatus": "SUCCEEDED", "callBackDelay": "5"}, "invalid callBackDelay '5'; it must be a number of seconds"),
    ({"hookStatus": "IN_PROGRESS", "callBackDelay": -1}, "invalid callBackDelay -1; it must not be negative"),
    ({"hookStatus": "IN_PROGRESS", "callBackDelay": float("nan")}, "invalid callBackDelay nan; it must be a number of seconds"),
    ({"hookStatus": "IN_PROGRESS", "hookDetails": [1]}, "invalid hookDetails [1]; it must be a JSON object"),
])
def test_anything_but_an_answer_is_failed_with_the_reason(value, reason):
    answer = answer_from_value(value)
    assert answer.status == HookStatus.FAILED
    assert answer.reason == reason


def test_a_long_return_value_is_shortened_in_the_reason():
    reason = answer_from_value("x" * 500).reason
    assert len(reason) < 120 and reason.endswith("..., not an object with hookStatus")
