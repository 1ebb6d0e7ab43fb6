"""An ECS blue/green lifecycle hook: smoke-test the new revision through the test traffic rule.

The common shape of published ECS hook functions, as it would be deployed to
Lambda: it reads its settings from environment variables, sends a GET through
the load balancer with the test header, so that Service Connect routes it to
the green revision, and says SUCCEEDED only if the body is what the new
revision should answer.

Environment:
  ALB_URL             the load balancer's URL, e.g. http://127.0.0.1:8080/
  TEST_HEADER_NAME    the test traffic rule's header (default x-amzn-ecs-bluegreen-test)
  TEST_HEADER_VALUE   its value (default test)
  EXPECTED_RESPONSE   a string the new revision's body must contain
"""

import json
import os

import requests


def lambda_handler(event, context):
    print(json.dumps(event))
    url = os.environ["ALB_URL"]
    header_name = os.environ.get("TEST_HEADER_NAME", "x-amzn-ecs-bluegreen-test")
    header_value = os.environ.get("TEST_HEADER_VALUE", "test")
    expected = os.environ["EXPECTED_RESPONSE"]

    try:
        response = requests.get(url, headers={header_name: header_value}, timeout=10)
    except requests.RequestException as e:
        print(f"Request to {url} failed: {e}")
        return {"hookStatus": "FAILED"}

    print(f"GET {url} with {header_name}: {header_value} -> {response.status_code} {response.text!r}")
    if response.status_code == 200 and expected in response.text:
        return {"hookStatus": "SUCCEEDED"}
    print(f"Expected {expected!r} in the response body")
    return {"hookStatus": "FAILED"}
