"""ECS's lifecycle-hook contract as data: the event a hook function receives, and its answer.

ECS invokes a Lambda hook with one JSON event (ECS.md, "The Lambda hook
contract") and reads `{"hookStatus", "callBackDelay", "hookDetails"}` back.
The same event goes to a mapped handler, a mapped command (on stdin) and a
shell hook (on stdin), so that a function written for ECS runs unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from bgctl.core.arns import ServiceNames
from bgctl.core.hooks import HookAnswer, failed_answer, parse_hook_answer
from bgctl.core.stages import Stage


def build_event(
    *,
    execution_id: str,
    stage: Stage | str,
    names: ServiceNames,
    deployment_id: str,
    target_revision_id: str,
    test_weights: Mapping[str, float],
    production_weights: Mapping[str, float],
    hook_details: dict | None,
) -> dict:
    """The event ECS passes to a hook function at `stage`.

    The weights are keyed by service-revision id here and by service-revision
    ARN in the event, as ECS keys them; a function tells a rollback apart by
    `productionTrafficWeights` giving 100 to a revision other than the target.

    >>> e = build_event(execution_id="e1", stage=Stage.POST_TEST_TRAFFIC_SHIFT, names=ServiceNames("backend"),
    ...                 deployment_id="d1", target_revision_id="r2", test_weights={"r2": 100},
    ...                 production_weights={"r1": 100}, hook_details=None)
    >>> e["executionDetails"]["targetServiceRevisionArn"]
    'arn:aws:ecs:us-east-1:123456789012:service-revision/default/backend/r2'
    """
    return {
        "executionId": execution_id,
        "lifecycleStage": Stage(stage).value,
        "resourceArn": names.service_deployment_arn(deployment_id),
        "executionDetails": {
            "serviceArn": names.service_arn,
            "targetServiceRevisionArn": names.service_revision_arn(target_revision_id),
            "testTrafficWeights": _by_arn(names, test_weights),
            "productionTrafficWeights": _by_arn(names, production_weights),
        },
        # Always an object, never absent or null: published functions read it
        # both as `event["hookDetails"]` and as `event.get("hookDetails", {})`,
        # and either way a missing or null value would crash them.
        "hookDetails": dict(hook_details) if hook_details else {},
    }


def merge_details(previous: dict | None, answer: dict | None) -> dict | None:
    """The hookDetails of the next call after an IN_PROGRESS answer.

    ECS passes the hook's configured details merged with what the function
    returned: keys the answer gives replace those before it, keys it leaves
    out stay, so a function can keep state across calls without storage.

    >>> merge_details({"bucket": "b", "attempt": 1}, {"attempt": 2})
    {'bucket': 'b', 'attempt': 2}
    """
    if previous is None and answer is None:
        return None
    return {**(previous or {}), **(answer or {})}


def answer_from_value(value: object) -> HookAnswer:
    """A hook function's return value read as ECS reads it; anything else than an answer is FAILED.

    The checks of the status, callBackDelay and hookDetails are core/hooks.py's,
    shared with the shell hooks; only what a function (rather than a command's
    stdout) can get wrong is checked here.
    """
    if not isinstance(value, dict):
        return failed_answer(f"returned {_shown(value)}, not an object with hookStatus")
    if "hookStatus" not in value:
        return failed_answer("returned an object without hookStatus")
    try:
        line = json.dumps(value, allow_nan=True)
    except (TypeError, ValueError) as exc:
        return failed_answer(f"returned an answer that is not JSON: {exc}")
    # One line of JSON is exactly what parse_hook_answer reads from stdout, so
    # a function's answer and a command's follow the same rules.
    return parse_hook_answer(0, line)


def _by_arn(names: ServiceNames, weights: Mapping[str, float]) -> dict[str, int | float]:
    return {names.service_revision_arn(revision_id): _percent(weight) for revision_id, weight in weights.items()}


def _percent(weight: float) -> int | float:
    # Whole percentages stay integers, as ECS shows them (100, not 100.0); a
    # canary may be 0.1 %, which must not become 0. Rounding drops float noise
    # from step arithmetic (30.000000000000004).
    value = round(float(weight), 6)
    return int(value) if value.is_integer() else value


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
