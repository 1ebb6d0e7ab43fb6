"""An ECS lifecycle hook that takes several calls: IN_PROGRESS with hookDetails, then SUCCEEDED.

ECS calls an IN_PROGRESS hook again after callBackDelay seconds, with the
hookDetails it returned merged into the next event's, so a function can keep
state between calls without any storage. This one counts its calls and
succeeds on the call number REQUIRED_CALLS (default 3).

Environment:
  REQUIRED_CALLS    how many calls until SUCCEEDED (default 3)
  CALLBACK_DELAY    seconds ECS waits between calls (default 1)
"""

import os


def lambda_handler(event, context):
    details = event.get("hookDetails") or {}
    calls = int(details.get("calls", 0)) + 1
    required = int(os.environ.get("REQUIRED_CALLS", "3"))
    print(f"{event['lifecycleStage']}: call {calls} of {required}, {context.get_remaining_time_in_millis()} ms left")
    if calls < required:
        return {
            "hookStatus": "IN_PROGRESS",
            "callBackDelay": int(os.environ.get("CALLBACK_DELAY", "1")),
            "hookDetails": {"calls": calls, "executionIds": details.get("executionIds", []) + [event["executionId"]]},
        }
    return {"hookStatus": "SUCCEEDED", "hookDetails": {"calls": calls}}
