import json
import time
from pathlib import Path

import pytest

from bgctl.core.errors import InvalidInput
from bgctl.core.hooks import (
    DEFAULT_CALLBACK_DELAY,
    Hook,
    HookAnswer,
    hook_environment,
    parse_hook_answer,
    parse_hook_option,
)
from bgctl.adapters.hook_runner import run_hook
from bgctl.core.stages import Stage

STAGE = Stage.POST_TEST_TRAFFIC_SHIFT


def run(command, *, env=None, timeout=10.0, details=None, cwd=None):
    return run_hook(Hook(STAGE, command), env=env or {}, timeout=timeout, details=details, cwd=cwd)


def answer_line(**fields):
    return "echo " + "'" + json.dumps(fields) + "'"


def is_dead(pid: int, within: float = 2.0) -> bool:
    """Gone, or a zombie nobody has reaped yet (PID 1 in a container may not)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.02)
    return False


# --- exit status decides when there is no answer --------------------------------


def test_exit_zero_succeeds():
    result = run("echo hello")
    assert result.answer == HookAnswer("SUCCEEDED", DEFAULT_CALLBACK_DELAY, None, "exit status 0")
    assert result.exit_code == 0
    assert result.stdout == "hello\n"
    assert result.seconds < 5


def test_non_zero_exit_fails_and_stderr_is_kept():
    result = run("echo oops >&2; exit 3")
    assert result.answer.status == "FAILED"
    assert result.answer.reason == "exit status 3"
    assert result.exit_code == 3
    assert result.stderr == "oops\n"


def test_command_not_found_says_so():
    result = run("no-such-command-bgctl-test")
    assert result.answer.status == "FAILED"
    assert result.answer.reason == "exit status 127 (command not found)"


def test_killed_by_signal_fails():
    result = run("kill -KILL $$")
    assert result.answer.status == "FAILED"
    assert result.answer.reason == "killed by SIGKILL"


def test_stdin_is_closed():
    # A hook reading stdin must see EOF at once, not wait on bgctl's terminal.
    result = run("cat; echo done", timeout=5)
    assert result.answer.status == "SUCCEEDED"
    assert result.stdout == "done\n"


# --- JSON answers ----------------------------------------------------------------


def test_json_succeeded_with_details():
    result = run(answer_line(hookStatus="SUCCEEDED", hookDetails={"checked": 3}))
    assert result.answer == HookAnswer("SUCCEEDED", DEFAULT_CALLBACK_DELAY, {"checked": 3}, "hookStatus SUCCEEDED")


def test_json_failed_beats_exit_zero():
    result = run(answer_line(hookStatus="FAILED"))
    assert result.exit_code == 0
    assert result.answer.status == "FAILED"
    assert result.answer.reason == "hookStatus FAILED"


def test_json_succeeded_beats_non_zero_exit():
    result = run(answer_line(hookStatus="SUCCEEDED") + "; exit 4")
    assert result.exit_code == 4
    assert result.answer.status == "SUCCEEDED"


def test_json_in_progress_with_callback_delay_and_details():
    result = run(answer_line(hookStatus="IN_PROGRESS", callBackDelay=5, hookDetails={"attempt": 1}))
    assert result.answer == HookAnswer("IN_PROGRESS", 5.0, {"attempt": 1}, "hookStatus IN_PROGRESS, call back after 5s")


def test_in_progress_defaults_to_30_seconds():
    answer = parse_hook_answer(0, '{"hookStatus": "IN_PROGRESS"}\n')
    assert answer.status == "IN_PROGRESS"
    assert answer.callback_delay == 30.0
    assert parse_hook_answer(0, '{"hookStatus": "IN_PROGRESS", "callBackDelay": null}').callback_delay == 30.0
    assert parse_hook_answer(0, '{"hookStatus": "IN_PROGRESS", "callBackDelay": 0.5}').callback_delay == 0.5


def test_answer_among_other_output_last_one_wins():
    command = "; ".join(
        [
            "echo starting",
            answer_line(hookStatus="FAILED"),
            "echo '<html>curl body</html>'",
            answer_line(hookStatus="IN_PROGRESS", callBackDelay=2),
            answer_line(status="not an answer"),
            "echo '{not json'",
            "echo done >&2",
        ]
    )
    result = run(command)
    assert result.answer.status == "IN_PROGRESS"
    assert result.answer.callback_delay == 2.0


def test_indented_answer_and_crlf_are_read():
    assert parse_hook_answer(1, '  {"hookStatus": "SUCCEEDED"}\r\n').status == "SUCCEEDED"


def test_json_without_hook_status_is_ignored():
    assert run(answer_line(ok=True, status="FAILED")).answer == HookAnswer(
        "SUCCEEDED", DEFAULT_CALLBACK_DELAY, None, "exit status 0"
    )
    assert run(answer_line(ok=True, status="SUCCEEDED") + "; exit 1").answer.status == "FAILED"


def test_nested_hook_status_is_not_an_answer():
    assert parse_hook_answer(2, '{"body": {"hookStatus": "SUCCEEDED"}}').reason == "exit status 2"
    assert parse_hook_answer(0, '["hookStatus"]').reason == "exit status 0"


@pytest.mark.parametrize(
    "status, reason",
    [
        ("MAYBE", "invalid hookStatus 'MAYBE'"),
        ("succeeded", "invalid hookStatus 'succeeded'"),
        (None, "invalid hookStatus None"),
        (1, "invalid hookStatus 1"),
    ],
)
def test_invalid_status_fails(status, reason):
    result = run(answer_line(hookStatus=status))
    assert result.exit_code == 0
    assert result.answer == HookAnswer("FAILED", DEFAULT_CALLBACK_DELAY, None, reason)


@pytest.mark.parametrize(
    "delay, why",
    [
        ("soon", "must be a number of seconds"),
        ("10", "must be a number of seconds"),
        (True, "must be a number of seconds"),
        ([5], "must be a number of seconds"),
        (-1, "must not be negative"),
    ],
)
def test_bad_callback_delay_fails(delay, why):
    answer = run(answer_line(hookStatus="IN_PROGRESS", callBackDelay=delay)).answer
    assert answer.status == "FAILED"
    assert answer.reason == f"invalid callBackDelay {delay!r}; it {why}"


def test_non_finite_callback_delay_fails():
    answer = parse_hook_answer(0, '{"hookStatus": "IN_PROGRESS", "callBackDelay": NaN}')
    assert answer.status == "FAILED"
    assert "callBackDelay" in answer.reason


def test_hook_details_must_be_an_object():
    answer = parse_hook_answer(0, '{"hookStatus": "SUCCEEDED", "hookDetails": [1]}')
    assert answer.status == "FAILED"
    assert answer.reason == "invalid hookDetails [1]; it must be a JSON object"


# --- details and environment -----------------------------------------------------


ECHO_DETAILS = (
    """printf '{"hookStatus": "IN_PROGRESS", "callBackDelay": 1, "hookDetails": %s}\\n' "$BGCTL_HOOK_DETAILS" """
)


def test_details_are_handed_back():
    first = run("""echo '{"hookStatus": "IN_PROGRESS", "hookDetails": {"attempt": 1, "seen": ["a"]}}'""")
    second = run(ECHO_DETAILS, details=first.answer.details)
    assert second.answer.details == {"attempt": 1, "seen": ["a"]}
    assert second.answer.callback_delay == 1.0


def test_details_empty_when_none(monkeypatch):
    # A value in bgctl's own environment must not reach the hook as if handed back.
    monkeypatch.setenv("BGCTL_HOOK_DETAILS", '{"stale": true}')
    result = run('test -z "$BGCTL_HOOK_DETAILS" && test "${BGCTL_HOOK_DETAILS+set}" = set')
    assert result.answer.reason == "exit status 0"


def test_environment_reaches_the_hook(monkeypatch):
    monkeypatch.setenv("BGCTL_TEST_INHERITED", "from-parent")
    env = hook_environment(
        stage=Stage.PRE_SCALE_UP,  # run_hook's own stage wins over this
        target="green",
        production="blue",
        ingress_url="http://127.0.0.1:8080",
        test_header="x-canary",
        test_value=None,
        deployment_id="dep-42",
    )
    names = sorted(env) + ["BGCTL_TEST_INHERITED"]
    result = run("; ".join(f'echo "{name}=${name}"' for name in names), env=env)
    seen = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert seen == {
        "BGCTL_STAGE": "POST_TEST_TRAFFIC_SHIFT",
        "BGCTL_TARGET_SLOT": "green",
        "BGCTL_PRODUCTION_SLOT": "blue",
        "BGCTL_INGRESS_URL": "http://127.0.0.1:8080",
        "BGCTL_TEST_HEADER": "x-canary",
        "BGCTL_TEST_HEADER_VALUE": "",
        "BGCTL_DEPLOYMENT_ID": "dep-42",
        "BGCTL_ROLLBACK": "",
        "BGCTL_TEST_INHERITED": "from-parent",
    }


def test_hook_environment_omits_nothing():
    env = hook_environment(
        stage=STAGE, target="green", production="blue", ingress_url="",
        test_header=None, test_value=None, deployment_id="d",
    )
    assert env == {
        "BGCTL_STAGE": "POST_TEST_TRAFFIC_SHIFT",
        "BGCTL_TARGET_SLOT": "green",
        "BGCTL_PRODUCTION_SLOT": "blue",
        "BGCTL_INGRESS_URL": "",
        "BGCTL_TEST_HEADER": "",
        "BGCTL_TEST_HEADER_VALUE": "",
        "BGCTL_DEPLOYMENT_ID": "d",
        "BGCTL_ROLLBACK": "",
    }
    assert all(isinstance(v, str) for v in env.values())
    rolling_back = hook_environment(
        stage=STAGE, target="green", production="blue", ingress_url="",
        test_header=None, test_value=None, deployment_id="d", rollback=True,
    )
    assert rolling_back["BGCTL_ROLLBACK"] == "1"
    with_value = hook_environment(
        stage=STAGE, target="green", production="blue", ingress_url="",
        test_header="x-env", test_value="canary", deployment_id="d",
    )
    assert with_value["BGCTL_TEST_HEADER_VALUE"] == "canary"


def test_cwd(tmp_path):
    assert run("pwd -P", cwd=tmp_path).stdout.strip() == str(tmp_path.resolve())


def test_missing_cwd_is_a_failed_answer(tmp_path):
    result = run("true", cwd=tmp_path / "missing")
    assert result.answer.status == "FAILED"
    assert result.answer.reason.startswith("could not start:")
    assert result.exit_code is None


# --- timeouts and process groups -------------------------------------------------


def test_timeout_kills_sleep():
    started = time.monotonic()
    result = run("echo partial; sleep 30", timeout=1)
    assert time.monotonic() - started < 2.5
    assert result.exit_code is None
    assert result.answer == HookAnswer("FAILED", DEFAULT_CALLBACK_DELAY, None, "timed out after 1s")
    assert result.stdout == "partial\n"  # what it printed before the kill is kept
    assert 1 <= result.seconds < 2.5


def test_timeout_kills_child_processes(tmp_path):
    pid_file = tmp_path / "pid"
    started = time.monotonic()
    result = run(f"sleep 30 & echo $! > {pid_file}; wait", timeout=0.5)
    assert time.monotonic() - started < 1.5
    assert result.answer.reason == "timed out after 0.5s"
    assert is_dead(int(pid_file.read_text()))


def test_timeout_beats_an_answer_already_printed():
    result = run(answer_line(hookStatus="SUCCEEDED") + "; sleep 30", timeout=0.5)
    assert result.answer.status == "FAILED"
    assert result.answer.reason == "timed out after 0.5s"


def test_background_leftovers_neither_block_nor_survive(tmp_path):
    # The shell exits at once; its background child holds stdout but must not
    # make the hook wait for it, and is cleaned up like the rest of the group.
    pid_file = tmp_path / "pid"
    started = time.monotonic()
    result = run(f"sleep 30 & echo $! > {pid_file}; echo ok", timeout=10)
    assert time.monotonic() - started < 2
    assert result.answer.status == "SUCCEEDED"
    assert result.stdout == "ok\n"
    assert is_dead(int(pid_file.read_text()))


def test_a_cancelled_call_ends_at_once_with_everything_it_started(tmp_path):
    # The engine cancels a stage's other calls when one fails and the deployment rolls back.
    from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

    from bgctl.adapters.hook_runner import HookRunner
    from bgctl.core.hooks import Hook, HookInvocation

    pid_file = tmp_path / "pid"
    runner = HookRunner(tmp_path)
    pending = runner.start(HookInvocation(Hook(STAGE, f"sleep 30 & echo $! > {pid_file}; wait"), STAGE,
                                          {"hookDetails": None}, {}, 60.0))

    def awaited(condition):
        return Retrying(stop=stop_after_delay(10), wait=wait_fixed(0.02), retry=retry_if_result(lambda r: not r))(
            condition)

    awaited(lambda: pid_file.exists() and pid_file.read_text().strip())  # its child is up
    cancelled_at = time.monotonic()
    pending.cancel()
    run = awaited(pending.result)
    assert run is not None and time.monotonic() - cancelled_at < 2
    assert run.answer.status == "FAILED"
    assert is_dead(int(pid_file.read_text()))


# --- --hook STAGE=COMMAND --------------------------------------------------------


@pytest.mark.parametrize(
    "text, stage, command",
    [
        ("POST_TEST_TRAFFIC_SHIFT=curl -f $BGCTL_INGRESS_URL", STAGE, "curl -f $BGCTL_INGRESS_URL"),
        ("pre_scale_up=./check.sh", Stage.PRE_SCALE_UP, "./check.sh"),
        ("post-production-traffic-shift=true", Stage.POST_PRODUCTION_TRAFFIC_SHIFT, "true"),
        (" RECONCILE_SERVICE =exit 0", Stage.RECONCILE_SERVICE, "exit 0"),
        ("TEST_TRAFFIC_SHIFT=curl -H x-env=1 http://x?a=b", Stage.TEST_TRAFFIC_SHIFT, "curl -H x-env=1 http://x?a=b"),
    ],
)
def test_parse_hook_option(text, stage, command):
    assert parse_hook_option(text) == Hook(stage, command)


@pytest.mark.parametrize("stage", ["SCALE_UP", "bake_time", "CLEAN-UP"])
def test_parse_hook_option_refuses_stages_without_hooks(stage):
    with pytest.raises(InvalidInput) as e:
        parse_hook_option(f"{stage}=true")
    name = stage.upper().replace("-", "_")
    assert str(e.value) == f"ECS runs no lifecycle hooks at {name}; choose another stage."


def test_parse_hook_option_refuses_unknown_stage():
    with pytest.raises(InvalidInput, match=r"^'DEPLOY' is not a lifecycle stage; use one of RECONCILE_SERVICE, .*\.$"):
        parse_hook_option("DEPLOY=true")


def test_parse_hook_option_refuses_missing_equals():
    with pytest.raises(InvalidInput) as e:
        parse_hook_option("POST_SCALE_UP curl -f http://x")
    assert str(e.value).startswith("--hook 'POST_SCALE_UP curl -f http://x' is not of the form STAGE=COMMAND")


@pytest.mark.parametrize("text", ["POST_SCALE_UP=", "POST_SCALE_UP=   "])
def test_parse_hook_option_refuses_empty_command(text):
    with pytest.raises(InvalidInput) as e:
        parse_hook_option(text)
    assert str(e.value) == f"--hook {text!r} has no command after '='; give the shell command to run at POST_SCALE_UP."


def test_messages_are_one_sentence():
    for text in ["SCALE_UP=true", "nope=true", "POST_SCALE_UP", "POST_SCALE_UP="]:
        with pytest.raises(InvalidInput) as e:
            parse_hook_option(text)
        message = str(e.value)
        assert message.endswith(".") and "\n" not in message


# --- Hook -----------------------------------------------------------------------


def test_hook_round_trips():
    hook = Hook(Stage.PRE_PRODUCTION_TRAFFIC_SHIFT, "curl -f http://x")
    assert hook.to_dict() == {"stage": "PRE_PRODUCTION_TRAFFIC_SHIFT", "command": "curl -f http://x"}
    assert json.loads(json.dumps(hook.to_dict())) == hook.to_dict()
    assert Hook.from_dict(hook.to_dict()) == hook


@pytest.mark.parametrize(
    "d",
    [
        {"stage": "BAKE_TIME", "command": "true"},
        {"stage": "nope", "command": "true"},
        {"stage": "POST_SCALE_UP", "command": ""},
        {"stage": "POST_SCALE_UP", "command": None},
        {},
    ],
)
def test_hook_from_dict_refuses_bad_data(d):
    with pytest.raises(InvalidInput):
        Hook.from_dict(d)


def test_hook_refuses_stage_without_hooks():
    with pytest.raises(InvalidInput, match="no lifecycle hooks at CLEAN_UP"):
        Hook(Stage.CLEAN_UP, "true")


def test_a_function_environment_takes_the_hooks_kit_variables():
    from bgctl.core.hooks import with_kit_variables

    env = {"BGCTL_INGRESS_URL": "http://127.0.0.1:41234", "HOME": "/root"}
    assert with_kit_variables({"ALB_URL": "${BGCTL_INGRESS_URL}/", "PASS": "a$b${HOME}$$", "N": "${BGCTL_NOPE}"},
                              env) == {"ALB_URL": "http://127.0.0.1:41234/", "PASS": "a$b${HOME}$$",
                                       "N": "${BGCTL_NOPE}"}
