"""Lambda hooks against real containers: ECS's event, IN_PROGRESS loops, parallel hooks, rollback calls.

Each test writes its own configuration file (BGCTL_CONFIG) mapping Lambda ARNs
to the functions in handlers/recording_hooks.py, which append every event they
receive to a file; the test then reads what ECS's contract says they got.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from pathlib import Path

from bgctl.adapters.deployment_history import history_dir
from tests.ecs_shapes import parsed
from tests.integration.conftest import BLUE, GREEN, HERE, REPO, SEED_HEADER, Traffic, definition, status_json

HANDLERS = HERE / "handlers" / "recording_hooks.py"
ACCOUNT_REGION = "arn:aws:ecs:us-east-1:123456789012"
DEPLOYMENT_ARN = re.compile(ACCOUNT_REGION + r":service-deployment/default/backend/[A-Za-z0-9-]+")
REVISION_ARN = re.compile(ACCOUNT_REGION + r":service-revision/default/backend/\d+")
SERVICE_ARN = ACCOUNT_REGION + ":service/default/backend"
# One ECS minute lasts this long: the hooks' default timeoutConfiguration (1440 minutes) is still 12 minutes.
MINUTE = "0.5s"
TEST_HEADER = {"TEST_HEADER_NAME": "x-amzn-ecs-bluegreen-test", "TEST_HEADER_VALUE": "test"}


def lambda_arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:123456789012:function:{name}"


def configure(tmp_path: Path, kit, functions: dict[str, tuple[str, dict[str, str]]],
              handlers: Path = HANDLERS) -> tuple[dict[str, str], Path]:
    """A configuration file mapping each function name to `handlers:function` with its environment
    (the stack's ingress URL and the record file included); the env that names it, and the record file."""
    record = tmp_path / "calls.jsonl"
    text = '[deployment]\nbake_time = "0"\n'
    for name, (function, environment) in functions.items():
        environment = {"ALB_URL": f"{kit.url}/", "RECORD": str(record), **environment}
        table = ", ".join(f"{key} = {json.dumps(value)}" for key, value in environment.items())
        text += f'[functions."{lambda_arn(name)}"]\nhandler = "{handlers}:{function}"\nenvironment = {{ {table} }}\n'
    config = tmp_path / "bgctl.toml"
    config.write_text(text)
    return {"BGCTL_CONFIG": str(config), "BGCTL_MINUTE": MINUTE}, record


def lambda_hook(name: str, *stages: str, details: dict | None = None) -> dict:
    hook = {"targetType": "AWS_LAMBDA", "hookTargetArn": lambda_arn(name), "lifecycleStages": list(stages)}
    if details is not None:
        hook["hookDetails"] = details
    return hook


def calls(record: Path) -> list[dict]:
    return [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []


def latest(kit) -> dict:
    result = kit.bgctl("describe", "--json")
    assert result.returncode == 0, result.stderr
    [deployment] = parsed("DescribeServiceDeployments", json.loads(result.stdout))["serviceDeployments"]
    return deployment


def kept_record(kit, deployment_arn: str) -> dict:
    """The deployment as bgctl keeps it (.bgctl/<project>/deployments/<id>.json)."""
    path = history_dir(kit.settings.state_dir) / f"{deployment_arn.rsplit('/', 1)[1]}.json"
    return json.loads(path.read_text())["deployment"]


def test_in_progress_twice_then_succeeded_with_hook_details_merged(blue_serves, tmp_path):
    kit = blue_serves
    env, record = configure(tmp_path, kit, {"wait-for-checks": ("in_progress_twice", {"CALLBACK_DELAY": "1"})})
    hook = lambda_hook("wait-for-checks", "POST_TEST_TRAFFIC_SHIFT", details={"ticket": "CHG-42"})

    result = kit.bgctl("deploy", "--service-definition", definition(tmp_path, [hook]), env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    answered = calls(record)
    events = [c["event"] for c in answered]
    [execution_id] = {e["executionId"] for e in events}  # one execution across its calls
    seen = f"seen {execution_id}"
    # Each call gets the configured details merged with every IN_PROGRESS answer before it.
    assert [e["hookDetails"] for e in events] == [
        {"ticket": "CHG-42"},
        {"ticket": "CHG-42", "calls": 1, "answer-1": seen},
        {"ticket": "CHG-42", "calls": 2, "answer-1": seen, "answer-2": seen},
    ]
    assert {e["lifecycleStage"] for e in events} == {"POST_TEST_TRAFFIC_SHIFT"}
    # Called again only after callBackDelay (1 s; a little slack for the clocks of two processes).
    assert all(later["at"] - earlier["at"] >= 0.9 for earlier, later in zip(answered, answered[1:]))
    answers = [line.split("`: ", 1)[1].split()[0] for line in result.stdout.splitlines()
               if line.startswith("  hook ")]
    assert answers == ["IN_PROGRESS", "IN_PROGRESS", "SUCCEEDED"], result.stdout

    report = status_json(kit)
    assert (report["production"], report["deployment"]["status"]) == ("green", "SUCCESSFUL")
    assert kit.get("/").text == GREEN
    deployment = latest(kit)
    assert deployment["status"] == "SUCCESSFUL"
    assert [(h["targetType"], h["targetArn"], h["status"]) for h in deployment["lifecycleHookDetails"]] == [
        ("AWS_LAMBDA", lambda_arn("wait-for-checks"), "SUCCEEDED")]


def test_two_hooks_at_one_stage_run_in_parallel(blue_serves, tmp_path):
    kit = blue_serves
    sleep = 3.0  # long against starting two interpreters on a loaded machine (~1 s seen at load 20 on 2 cores)
    sleeper = ("sleep_then_succeed", {"SLEEP_SECONDS": str(sleep)})
    env, record = configure(tmp_path, kit, {"checks-a": sleeper, "checks-b": sleeper})
    hooks = [lambda_hook("checks-a", "POST_TEST_TRAFFIC_SHIFT"), lambda_hook("checks-b", "POST_TEST_TRAFFIC_SHIFT")]

    result = kit.bgctl("deploy", "--service-definition", definition(tmp_path, hooks), env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    intervals = {c["function"]: (c["start"], c["end"]) for c in calls(record)}
    assert set(intervals) == {"checks-a", "checks-b"}
    (a_start, a_end), (b_start, b_end) = intervals["checks-a"], intervals["checks-b"]
    assert max(a_start, b_start) < min(a_end, b_end), f"the calls did not overlap: {intervals}"
    [stage] = [s for s in status_json(kit)["deployment"]["history"] if s["stage"] == "POST_TEST_TRAFFIC_SHIFT"]
    # The stage waited for both (the overlap above is what shows they ran together; the
    # stage's length also holds interpreter starts, which a loaded machine stretches).
    assert stage["seconds"] >= sleep, stage
    assert [h["status"] for h in latest(kit)["lifecycleHookDetails"]] == ["SUCCEEDED", "SUCCEEDED"]


def test_ecs_event_and_the_rollback_calls_the_traffic_shift_hooks_again(blue_serves, tmp_path):
    kit = blue_serves
    env, record = configure(tmp_path, kit, {
        "shift-watcher": ("record_and_succeed", {}),
        "smoke-test": ("smoke_test_expecting_another_body", {**TEST_HEADER, "EXPECTED_RESPONSE": "BACKEND PURPLE"}),
    })
    hooks = [lambda_hook("shift-watcher", "TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT"),
             lambda_hook("smoke-test", "POST_TEST_TRAFFIC_SHIFT")]

    with Traffic(kit) as untagged:
        result = kit.bgctl("deploy", "--service-definition", definition(tmp_path, hooks), env=env)

    assert result.returncode == 1, result.stdout + result.stderr
    assert untagged.answers and untagged.bodies() == {BLUE} and not untagged.failures()
    assert status_json(kit)["production"] == "blue" and kit.get("/").text == BLUE
    deployment = latest(kit)
    assert deployment["status"] == "ROLLBACK_SUCCESSFUL"
    assert "POST_TEST_TRAFFIC_SHIFT hook" in deployment["statusReason"]
    deployment_arn = deployment["serviceDeploymentArn"]
    source = deployment["sourceServiceRevisions"][0]["arn"]
    target = deployment["targetServiceRevision"]["arn"]
    assert DEPLOYMENT_ARN.fullmatch(deployment_arn) and REVISION_ARN.fullmatch(source)
    assert REVISION_ARN.fullmatch(target) and source != target

    events = [(c["function"], c["event"]) for c in calls(record)]
    assert [(f, e["lifecycleStage"]) for f, e in events] == [
        ("shift-watcher", "TEST_TRAFFIC_SHIFT"), ("smoke-test", "POST_TEST_TRAFFIC_SHIFT"),
        # the rollback: production back on the source, then both traffic-shift hooks again
        ("shift-watcher", "TEST_TRAFFIC_SHIFT"), ("shift-watcher", "PRODUCTION_TRAFFIC_SHIFT")]
    for _, event in events:
        assert set(event) == {"executionId", "lifecycleStage", "resourceArn", "executionDetails", "hookDetails"}
        assert event["resourceArn"] == deployment_arn
        assert event["executionDetails"]["serviceArn"] == SERVICE_ARN == deployment["serviceArn"]
        assert event["executionDetails"]["targetServiceRevisionArn"] == target
        assert event["hookDetails"] == {}
    forward, rollback = [e for _, e in events[:2]], [e for _, e in events[2:]]
    for event in forward:  # the test rule sends tagged requests to the target; production stays on the source
        assert event["executionDetails"]["testTrafficWeights"] == {target: 100}
        assert event["executionDetails"]["productionTrafficWeights"] == {source: 100}
    for event in rollback:  # how a function tells a rollback: production 100 % on the source revision
        assert event["executionDetails"]["productionTrafficWeights"] == {source: 100}
        assert event["executionDetails"]["testTrafficWeights"] == {source: 100}
    assert len({e["executionId"] for _, e in events}) == len(events)

    # What the failing function printed is kept with the deployment.
    outputs = kept_record(kit, deployment_arn)["hook_outputs"]
    [failed] = [o for o in outputs if o["status"] == "FAILED"]
    assert (failed["stage"], failed["rollback"]) == ("POST_TEST_TRAFFIC_SHIFT", False)
    assert f"GET {kit.url}/ -> 200 {GREEN!r}" in failed["stdout"]
    assert "expected 'BACKEND PURPLE'; failing the deployment" in failed["stderr"]
    assert [(o["stage"], o["rollback"]) for o in outputs if o["status"] != "FAILED"] == [
        ("TEST_TRAFFIC_SHIFT", False), ("TEST_TRAFFIC_SHIFT", True), ("PRODUCTION_TRAFFIC_SHIFT", True)]


def test_time_of_a_deployment_with_one_lambda_hook(blue_serves, tmp_path):
    """Measured, not asserted: `pytest -s` prints each run's wall time and the hook call's, and the medians."""
    kit = blue_serves
    smoke_test = REPO / "examples" / "hooks" / "smoke_test.py"
    env, _ = configure(tmp_path, kit, {"smoke-test": ("lambda_handler", {
        **TEST_HEADER, "EXPECTED_RESPONSE": "Hello from BACKEND GREEN"})}, handlers=smoke_test)
    service = definition(tmp_path, [lambda_hook("smoke-test", "POST_TEST_TRAFFIC_SHIFT")])
    walls, hook_seconds = [], []
    for run in range(1, 4):
        if run > 1:  # blue_serves started the first; each run leaves green in production
            reset = kit.bgctl("deploy", "blue", "--bake-time", "0")
            assert reset.returncode == 0, reset.stdout + reset.stderr
        started = time.monotonic()
        result = kit.bgctl("deploy", "--service-definition", service, env=env)
        wall = time.monotonic() - started
        assert result.returncode == 0, result.stdout + result.stderr
        assert kit.get("/", SEED_HEADER).text == GREEN
        kept = kept_record(kit, latest(kit)["serviceDeploymentArn"])
        assert (kept["status"], kept["target"]) == ("SUCCESSFUL", "green")
        [execution] = kept["hook_executions"]
        assert (execution["status"], execution["calls"]) == ("SUCCEEDED", 1)
        walls.append(wall)
        hook_seconds.append(execution["ended"] - execution["started"])
        [stage] = [s for s in kept["history"] if s["stage"] == "POST_TEST_TRAFFIC_SHIFT"]
        [printed] = re.findall(r"`: SUCCEEDED \(.*, (\S+)\)$", result.stdout, re.MULTILINE)
        print(f"\nrun {run}: bgctl deploy --service-definition (BLUE_GREEN, bake 0, one Lambda hook) {wall:.2f} s; "
              f"the hook's execution {hook_seconds[-1]:.3f} s (record: started to answer read), "
              f"POST_TEST_TRAFFIC_SHIFT {stage['seconds']:.3f} s, the call itself {printed} (deploy's output)")
    print(f"median of {len(walls)}: deployment {statistics.median(walls):.2f} s, "
          f"hook execution {statistics.median(hook_seconds):.3f} s")
