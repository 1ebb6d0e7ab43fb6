"""Lambda hook functions for tests/integration/test_lambda_hooks.py, written as they would be for Lambda.

Each appends one JSON line per call to the file its environment names in
RECORD (O_APPEND writes of one line: functions running in parallel do not
mix their lines), so that a test can read what ECS's event held at every call.
"""

import json
import os
import sys
import time

import requests


def _record(entry: dict) -> None:
    with open(os.environ["RECORD"], "a") as f:
        f.write(json.dumps(entry) + "\n")


def record_and_succeed(event, context):
    _record({"function": context.function_name, "at": time.time(), "event": event})
    return {"hookStatus": "SUCCEEDED"}


def in_progress_twice(event, context):
    """IN_PROGRESS on the first two calls, each answer adding to hookDetails; SUCCEEDED on the third."""
    _record({"function": context.function_name, "at": time.time(), "event": event})
    details = event["hookDetails"]
    calls = details.get("calls", 0) + 1
    if calls <= 2:
        return {"hookStatus": "IN_PROGRESS", "callBackDelay": int(os.environ["CALLBACK_DELAY"]),
                "hookDetails": {"calls": calls, f"answer-{calls}": f"seen {event['executionId']}"}}
    return {"hookStatus": "SUCCEEDED", "hookDetails": {"calls": calls}}


def sleep_then_succeed(event, context):
    started = time.time()
    time.sleep(float(os.environ["SLEEP_SECONDS"]))
    _record({"function": context.function_name, "start": started, "end": time.time()})
    return {"hookStatus": "SUCCEEDED"}


def smoke_test_expecting_another_body(event, context):
    """The published shape, failing: GET through the ingress with the test header, the body is not EXPECTED."""
    _record({"function": context.function_name, "at": time.time(), "event": event})
    url = os.environ["ALB_URL"]
    response = requests.get(url, headers={os.environ["TEST_HEADER_NAME"]: os.environ["TEST_HEADER_VALUE"]},
                            timeout=10)
    print(f"GET {url} -> {response.status_code} {response.text!r}")
    print(f"expected {os.environ['EXPECTED_RESPONSE']!r}; failing the deployment", file=sys.stderr)
    return {"hookStatus": "FAILED"}
