"""Lambda hook functions called as ECS calls them, in real child processes (no Docker)."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from bgctl.adapters.lambda_runner import invoke_command, invoke_handler
from bgctl.core.arns import ServiceNames
from bgctl.core.hook_event import build_event
from bgctl.core.hooks import HookStatus
from bgctl.core.stages import Stage

REPO = Path(__file__).resolve().parent.parent
ARN = "arn:aws:lambda:eu-west-1:123456789012:function:smoke-test"
EVENT = build_event(
    execution_id="5f0c3a9e-0000-4000-8000-000000000001", stage=Stage.POST_TEST_TRAFFIC_SHIFT,
    names=ServiceNames("backend"), deployment_id="dep1", target_revision_id="rev2",
    test_weights={"rev2": 100}, production_weights={"rev1": 100}, hook_details={"bucket": "approvals"},
)


def handler_file(folder: Path, source: str, name: str = "hook.py") -> str:
    (folder / name).write_text(source)
    return f"{name}:handler"


def call(folder: Path, source: str, *, environment=None, timeout=20.0, event=EVENT):
    return invoke_handler(handler_file(folder, source), event=event, function_arn=ARN,
                          environment=environment or {}, timeout=timeout, cwd=folder)


# -- the published shape against a real HTTP server -----------------------------


class Backend(BaseHTTPRequestHandler):
    """The candidate behind the test rule: GREEN only for requests carrying the test header."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        green = self.headers.get("x-amzn-ecs-bluegreen-test") == "test"
        body = b"Hello from BACKEND GREEN (v2.0)" if green else b"Hello from BACKEND BLUE"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture
def alb():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Backend)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def smoke_test(alb: str, expected: str, **extra):
    return invoke_handler(
        "hooks/smoke_test.py:lambda_handler", event=EVENT, function_arn=ARN, timeout=20.0, cwd=REPO / "examples",
        environment={"ALB_URL": alb, "TEST_HEADER_NAME": "x-amzn-ecs-bluegreen-test", "TEST_HEADER_VALUE": "test",
                     "EXPECTED_RESPONSE": expected, **extra},
    )


def test_published_smoke_test_succeeds_when_the_candidate_answers(alb):
    run = smoke_test(alb, "BACKEND GREEN")
    assert run.answer.status == HookStatus.SUCCEEDED, run.stderr
    assert run.exit_code == 0
    # What it printed is kept: the event it received and the response it saw.
    assert json.loads(run.stdout.splitlines()[0]) == EVENT
    assert "-> 200 'Hello from BACKEND GREEN (v2.0)'" in run.stdout


def test_published_smoke_test_fails_when_the_body_is_another(alb):
    run = smoke_test(alb, "BACKEND PURPLE")
    assert run.answer.status == HookStatus.FAILED
    assert run.answer.reason == "hookStatus FAILED"
    assert "Expected 'BACKEND PURPLE' in the response body" in run.stdout


def test_published_smoke_test_fails_without_the_test_header(alb):
    run = smoke_test(alb, "BACKEND GREEN", TEST_HEADER_NAME="x-other")
    assert run.answer.status == HookStatus.FAILED


def test_published_smoke_test_fails_when_nothing_listens(tmp_path):
    run = smoke_test("http://127.0.0.1:9/", "BACKEND GREEN")
    assert run.answer.status == HookStatus.FAILED
    assert "Request to http://127.0.0.1:9/ failed" in run.stdout


# -- what the function sees --------------------------------------------------


def test_the_function_gets_ecs_s_event_and_a_lambda_context(tmp_path):
    run = call(tmp_path, """
import json, os
def handler(event, context):
    print(json.dumps({
        "event": event,
        "context": {k: getattr(context, k) for k in ("function_name", "function_version", "invoked_function_arn",
                    "memory_limit_in_mb", "aws_request_id", "log_group_name", "log_stream_name")},
        "remaining": context.get_remaining_time_in_millis(),
        "cwd": os.getcwd(),
    }))
    return {"hookStatus": "SUCCEEDED"}
""", timeout=7.0)
    assert run.answer.status == HookStatus.SUCCEEDED, run.stderr
    seen = json.loads(run.stdout)
    assert seen["event"] == EVENT
    context = seen["context"]
    assert context["function_name"] == "smoke-test"
    assert context["function_version"] == "$LATEST"
    assert context["invoked_function_arn"] == ARN
    assert context["memory_limit_in_mb"] == 128
    assert len(context["aws_request_id"]) == 36 and context["aws_request_id"].count("-") == 4
    assert context["log_group_name"] == "/aws/lambda/smoke-test"
    assert "[$LATEST]" in context["log_stream_name"]
    assert 5000 < seen["remaining"] <= 7000
    assert seen["cwd"] == str(tmp_path)


def test_each_call_has_its_own_request_id(tmp_path):
    source = "def handler(event, context):\n    print(context.aws_request_id)\n    return {'hookStatus': 'SUCCEEDED'}\n"
    assert call(tmp_path, source).stdout != call(tmp_path, source).stdout


def test_the_environment_is_the_mapping_s_and_lambda_s_without_bgctl_s(tmp_path, monkeypatch):
    monkeypatch.setenv("BGCTL_HTTP_PORT", "18080")
    monkeypatch.setenv("HOME_GROWN", "kept")
    run = call(tmp_path, """
import json, os
def handler(event, context):
    print(json.dumps(dict(os.environ)))
    return {"hookStatus": "SUCCEEDED"}
""", environment={"ALB_URL": "http://127.0.0.1:8080/", "AWS_REGION": "mars-1"})
    env = json.loads(run.stdout)
    assert env["ALB_URL"] == "http://127.0.0.1:8080/"
    assert env["HOME_GROWN"] == "kept"
    assert not [k for k in env if k.startswith("BGCTL_")]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "smoke-test"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"  # Lambda's, from the ARN; reserved
    assert env["LAMBDA_TASK_ROOT"] == str(tmp_path)
    assert env["_HANDLER"] == "hook.handler"


def test_the_handler_imports_modules_beside_it_and_packages_beside_bgctl(tmp_path):
    (tmp_path / "hooks").mkdir()
    (tmp_path / "hooks" / "checks.py").write_text("EXPECTED = 'GREEN'\n")
    (tmp_path / "hooks" / "approve.py").write_text("""
import requests, tenacity
from checks import EXPECTED
def lambda_handler(event, context):
    return {"hookStatus": "SUCCEEDED", "hookDetails": {"expected": EXPECTED}}
""")
    run = invoke_handler("hooks/approve.py:lambda_handler", event=EVENT, function_arn=ARN, environment={},
                         timeout=20, cwd=tmp_path)
    assert run.answer.status == HookStatus.SUCCEEDED, run.stderr
    assert run.answer.details == {"expected": "GREEN"}


def test_in_progress_with_hook_details(tmp_path):
    example = REPO / "examples" / "hooks" / "wait_for_checks.py"
    run = invoke_handler(f"{example}:lambda_handler", event=EVENT, function_arn=ARN,
                         environment={"REQUIRED_CALLS": "3", "CALLBACK_DELAY": "2"}, timeout=20, cwd=tmp_path)
    assert run.answer.status == HookStatus.IN_PROGRESS, run.stderr
    assert run.answer.callback_delay == 2.0
    assert run.answer.details == {"calls": 1, "executionIds": [EVENT["executionId"]]}
    # The next call, with the details merged as the engine merges them, is the second.
    second = {**EVENT, "hookDetails": {**EVENT["hookDetails"], **run.answer.details}}
    run = invoke_handler(f"{example}:lambda_handler", event=second, function_arn=ARN,
                         environment={"REQUIRED_CALLS": "2"}, timeout=20, cwd=tmp_path)
    assert run.answer.status == HookStatus.SUCCEEDED
    assert "call 2 of 2" in run.stdout


def test_what_the_function_prints_is_kept_and_never_its_answer(tmp_path):
    run = call(tmp_path, """
import sys
def handler(event, context):
    print("checking the candidate")
    print('{"hookStatus": "FAILED"}')
    print("a warning", file=sys.stderr)
    return {"hookStatus": "SUCCEEDED"}
""")
    assert run.answer.status == HookStatus.SUCCEEDED
    assert run.stdout == 'checking the candidate\n{"hookStatus": "FAILED"}\n'
    assert run.stderr == "a warning\n"


# -- failures are FAILED answers with the reason -----------------------------


def test_an_exception_is_failed_with_its_type_and_message(tmp_path):
    run = call(tmp_path, """
def handler(event, context):
    raise ValueError("the candidate answered 503")
""")
    assert run.answer.status == HookStatus.FAILED
    assert run.answer.reason == "raised ValueError: the candidate answered 503"
    assert "Traceback (most recent call last)" in run.stderr
    assert 'raise ValueError("the candidate answered 503")' in run.stderr


def test_a_call_past_its_timeout_is_killed_and_failed(tmp_path):
    started = time.monotonic()
    run = call(tmp_path, """
import subprocess, time
def handler(event, context):
    print("started", flush=True)
    subprocess.Popen(["sleep", "30"])
    time.sleep(30)
    return {"hookStatus": "SUCCEEDED"}
""", timeout=1.0)
    assert time.monotonic() - started < 5
    assert run.answer.status == HookStatus.FAILED
    assert run.answer.reason == "timed out after 1s"
    assert run.exit_code is None
    assert run.stdout == "started\n"  # what it printed before it was killed is kept


def test_the_timeout_kills_what_the_function_started(tmp_path):
    pid_file = tmp_path / "pid"
    call(tmp_path, f"""
import subprocess, time
def handler(event, context):
    open({str(pid_file)!r}, "w").write(str(subprocess.Popen(["sleep", "30"]).pid))
    time.sleep(30)
""", timeout=1.0)
    pid = int(pid_file.read_text())
    assert not _alive(pid)


@pytest.mark.parametrize("body, reason", [
    ("return None", "returned None, not an object with hookStatus"),
    ("return 'SUCCEEDED'", "returned 'SUCCEEDED', not an object with hookStatus"),
    ("return {'status': 'SUCCEEDED'}", "returned an object without hookStatus"),
    ("return {'hookStatus': 'DONE'}", "invalid hookStatus 'DONE'"),
    ("return {'hookStatus': 'IN_PROGRESS', 'callBackDelay': 'soon'}",
     "invalid callBackDelay 'soon'; it must be a number of seconds"),
    ("return {'hookStatus': 'IN_PROGRESS', 'hookDetails': 'x'}", "invalid hookDetails 'x'; it must be a JSON object"),
    ("return {'hookStatus': 'SUCCEEDED', 'when': object()}",
     "raised Runtime.MarshalError: Unable to marshal response: Object of type object is not JSON serializable"),
    ("import sys; sys.exit(3)", "raised SystemExit: the handler called sys.exit(3)"),
    ("import os; os._exit(4)", "exited with status 4 without answering"),
    ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "killed by SIGKILL without answering"),
])
def test_an_invalid_answer_is_failed_with_the_reason(tmp_path, body, reason):
    run = call(tmp_path, f"def handler(event, context):\n    {body}\n")
    assert run.answer.status == HookStatus.FAILED
    assert run.answer.reason == reason


def test_a_missing_file_or_function(tmp_path):
    run = invoke_handler("nowhere.py:handler", event=EVENT, function_arn=ARN, environment={}, timeout=5, cwd=tmp_path)
    assert run.answer.status == HookStatus.FAILED
    assert run.answer.reason == f"the handler file {tmp_path / 'nowhere.py'} does not exist"
    (tmp_path / "hook.py").write_text("def other(event, context):\n    pass\n")
    run = invoke_handler("hook.py:handler", event=EVENT, function_arn=ARN, environment={}, timeout=5, cwd=tmp_path)
    assert run.answer.reason == "raised Runtime.ImportModuleError (AttributeError): hook.py has no function 'handler'"


def test_a_file_that_does_not_import(tmp_path):
    run = call(tmp_path, "import no_such_package_here\ndef handler(event, context):\n    pass\n")
    assert run.answer.status == HookStatus.FAILED
    assert run.answer.reason == ("raised Runtime.ImportModuleError (ModuleNotFoundError): "
                                 "No module named 'no_such_package_here'")


def test_a_malformed_handler(tmp_path):
    run = invoke_handler("hook.py", event=EVENT, function_arn=ARN, environment={}, timeout=5, cwd=tmp_path)
    assert run.answer.reason == "handler 'hook.py' is not of the form FILE.py:FUNCTION"


# -- a command stands in for the function ------------------------------------


def command(tmp_path, script, **kw):
    return invoke_command(script, event=EVENT, environment=kw.pop("environment", {}), timeout=kw.pop("timeout", 10),
                          cwd=tmp_path, **kw)


def test_a_command_reads_the_event_on_stdin_and_prints_the_answer(tmp_path):
    run = command(tmp_path, """
python3 -c '
import json, sys
event = json.load(sys.stdin)
print("stage", event["lifecycleStage"])
print(json.dumps({"hookStatus": "IN_PROGRESS", "callBackDelay": 1, "hookDetails": event["hookDetails"]}))
'""", function_arn=ARN)
    assert run.answer.status == HookStatus.IN_PROGRESS, run.stderr
    assert run.answer.details == {"bucket": "approvals"}
    assert run.stdout.startswith("stage POST_TEST_TRAFFIC_SHIFT\n")


def test_a_command_gets_the_mapping_s_environment(tmp_path):
    run = command(tmp_path, 'echo "{\\"hookStatus\\": \\"$STATUS\\"}"; echo "$AWS_LAMBDA_FUNCTION_NAME" >&2',
                  environment={"STATUS": "SUCCEEDED"}, function_arn=ARN)
    assert run.answer.status == HookStatus.SUCCEEDED
    assert run.stderr == "smoke-test\n"


@pytest.mark.parametrize("script, reason", [
    ("true", "printed no answer (a JSON object with hookStatus on a line of its own)"),
    ("""echo '{"hookStatus": "SUCCEEDED"}'; exit 1""", "exited with status 1"),
    ("""echo '{"hookStatus": "MAYBE"}'""", "invalid hookStatus 'MAYBE'"),
    ("sleep 30", "timed out after 1s"),
])
def test_a_command_without_a_valid_answer_is_failed(tmp_path, script, reason):
    run = command(tmp_path, script, timeout=1)
    assert run.answer.status == HookStatus.FAILED
    assert run.answer.reason == reason


def test_a_command_that_never_reads_a_large_event_still_answers(tmp_path):
    big = {**EVENT, "hookDetails": {"blob": "x" * 1_000_000}}
    run = invoke_command("""echo '{"hookStatus": "SUCCEEDED"}'""", event=big, environment={}, timeout=5, cwd=tmp_path)
    assert run.answer.status == HookStatus.SUCCEEDED


def _alive(pid: int, within: float = 2.0) -> bool:
    """Still running after `within` seconds of waiting to see it gone (or a zombie nobody reaped)."""
    def running() -> bool:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return False
        return state not in ("Z", "X")

    return Retrying(stop=stop_after_delay(within), wait=wait_fixed(0.02), retry=retry_if_result(bool),
                    retry_error_callback=lambda state: True)(running)


def test_calls_from_several_threads_run_at_the_same_time(tmp_path):
    """The engine calls the hooks of one stage in parallel, each from its own thread."""
    from concurrent.futures import ThreadPoolExecutor

    source = """
import time
def handler(event, context):
    started = time.time()
    time.sleep(1.0)
    return {"hookStatus": "SUCCEEDED", "hookDetails": {"started": started, "ended": time.time()}}
"""
    handler = handler_file(tmp_path, source)
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: invoke_handler(handler, event=EVENT, function_arn=ARN, environment={},
                                                      timeout=20, cwd=tmp_path), range(2)))
    assert [r.answer.status for r in runs] == [HookStatus.SUCCEEDED] * 2
    first, second = (r.answer.details for r in runs)
    assert first["started"] < second["ended"] and second["started"] < first["ended"]  # the calls overlap
