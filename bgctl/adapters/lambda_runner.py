"""Calling a Lambda hook function locally: the function ECS would invoke, in a child process.

A `[functions."ARN"]` mapping (core/config.py) names either a handler,
`path/to/file.py:function`, run by the interpreter bgctl runs in (so the
packages installed beside bgctl, `requests` for one, import as they would in
the function's deployment package), or a command that reads the event on
stdin and prints the answer. Either way the call is one ECS invocation: the
event in, `{"hookStatus", ...}` out, and an exception, a timeout or an
invalid answer is a FAILED answer, never an exception in bgctl.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

from bgctl.adapters.child_process import run_child
from bgctl.core.arns import REGION, lambda_function_name
from bgctl.core.hook_event import answer_from_value
from bgctl.core.hooks import HookRun, failed_answer, parse_hook_answer

BOOTSTRAP = Path(__file__).with_name("lambda_bootstrap.py")
# Lambda's smallest size; reported to the function, nothing enforces it here.
MEMORY_LIMIT_MB = 128
# An exception's message goes into the deployment's record: its first line, at most this long.
_MAX_REASON = 300


def invoke_handler(
    handler: str,
    *,
    event: dict,
    function_arn: str,
    environment: Mapping[str, str],
    timeout: float,
    cwd: Path,
    on_start: Callable[[subprocess.Popen], None] | None = None,
) -> HookRun:
    """Call `function(event, context)` from `file.py` once, in a child Python process, and read its answer.

    `handler` is `FILE.py:FUNCTION`, FILE relative to `cwd` (the configuration
    file's folder). What the function prints is kept in the HookRun's stdout
    and stderr (a traceback included); the answer travels in a file of its own.

    >>> run = invoke_handler("hooks/smoke.py:lambda_handler", event=event,   # doctest: +SKIP
    ...                      function_arn="arn:aws:lambda:us-east-1:123456789012:function:smoke",
    ...                      environment={"ALB_URL": "http://127.0.0.1:8080/"}, timeout=60, cwd=Path("."))
    """
    file, sep, function = handler.rpartition(":")
    if not sep or not file or not function.isidentifier():
        return HookRun(failed_answer(f"handler {handler!r} is not of the form FILE.py:FUNCTION"), None, "", "", 0.0)
    path = Path(cwd) / file
    if not path.is_file():  # Lambda's Runtime.ImportModuleError, said plainly
        return HookRun(failed_answer(f"the handler file {path} does not exist"), None, "", "", 0.0)
    context = _context(function_arn)
    env = {
        **lambda_environment(function_arn, context=context, environment=environment),
        "LAMBDA_TASK_ROOT": str(path.parent.resolve()),
        "_HANDLER": f"{path.stem}.{function}",
    }
    with tempfile.TemporaryDirectory(prefix="bgctl-lambda-") as tmp:
        invoke_file, answer_file = Path(tmp) / "invoke.json", Path(tmp) / "answer.json"
        invoke_file.write_text(json.dumps({
            "file": str(path.resolve()),
            "function": function,
            "event": event,
            "context": context,
            # The wall-clock deadline, so that get_remaining_time_in_millis()
            # also counts the interpreter's start-up, as Lambda's does.
            "deadline": time.time() + timeout,
        }), encoding="utf-8")
        # -u: unbuffered, so a function killed at its timeout still leaves what it printed.
        child = run_child([sys.executable, "-u", str(BOOTSTRAP), str(invoke_file), str(answer_file)],
                           env=env, cwd=Path(cwd), timeout=timeout, stdin=None, on_start=on_start)
        outcome = _read_outcome(answer_file)
    if child.error is not None:
        answer = failed_answer(f"could not start: {child.error}")
    elif child.exit_code is None:
        answer = failed_answer(f"timed out after {timeout:g}s")
    elif outcome is None:
        answer = failed_answer(f"{_ended(child.exit_code)} without answering")
    elif "result" in outcome:
        answer = answer_from_value(outcome["result"])
    else:
        answer = failed_answer(_error_reason(outcome))
    return HookRun(answer, child.exit_code, child.stdout, child.stderr, child.seconds)


def invoke_command(
    command: str,
    *,
    event: dict,
    environment: Mapping[str, str],
    timeout: float,
    cwd: Path,
    function_arn: str | None = None,
    on_start: Callable[[subprocess.Popen], None] | None = None,
) -> HookRun:
    """Run `/bin/sh -c command` with the event JSON on stdin; its answer is the last `{"hookStatus": ...}` line it prints.

    A function stands behind the command, so its contract is a function's:
    an answer is required (no answer, or a non-zero exit, is FAILED), unlike a
    shell hook (`--hook`), whose exit status may be its whole answer.
    """
    env = lambda_environment(function_arn, context=_context(function_arn), environment=environment) \
        if function_arn else {**_inherited(), **environment}
    with tempfile.TemporaryFile() as stdin:
        # A file, not a pipe: a command that never reads stdin cannot block on a full pipe.
        stdin.write(json.dumps(event).encode("utf-8"))
        stdin.seek(0)
        child = run_child(["/bin/sh", "-c", command], env=env, cwd=Path(cwd), timeout=timeout, stdin=stdin,
                           on_start=on_start)
    if child.error is not None:
        answer = failed_answer(f"could not start: {child.error}")
    elif child.exit_code is None:
        answer = failed_answer(f"timed out after {timeout:g}s")
    elif child.exit_code != 0:
        answer = failed_answer(_ended(child.exit_code))
    elif '"hookStatus"' not in child.stdout:
        answer = failed_answer("printed no answer (a JSON object with hookStatus on a line of its own)")
    else:
        answer = parse_hook_answer(child.exit_code, child.stdout)
    return HookRun(answer, child.exit_code, child.stdout, child.stderr, child.seconds)


def lambda_environment(function_arn: str, *, context: Mapping, environment: Mapping[str, str]) -> dict[str, str]:
    """The function's environment: bgctl's minus its own settings, the mapping's variables, then Lambda's.

    Lambda's variables come last because Lambda reserves them: a function
    cannot set AWS_REGION or AWS_LAMBDA_FUNCTION_NAME itself.
    """
    region = _region(function_arn)
    return {
        **_inherited(),
        **environment,
        "AWS_LAMBDA_FUNCTION_NAME": context["function_name"],
        "AWS_LAMBDA_FUNCTION_VERSION": context["function_version"],
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(context["memory_limit_in_mb"]),
        "AWS_LAMBDA_LOG_GROUP_NAME": context["log_group_name"],
        "AWS_LAMBDA_LOG_STREAM_NAME": context["log_stream_name"],
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_python{sys.version_info.major}.{sys.version_info.minor}",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }


def _context(function_arn: str | None) -> dict:
    name = lambda_function_name(function_arn or "")
    return {
        "function_name": name,
        "function_version": "$LATEST",
        "invoked_function_arn": function_arn or "",
        "memory_limit_in_mb": MEMORY_LIMIT_MB,
        "aws_request_id": str(uuid.uuid4()),
        "log_group_name": f"/aws/lambda/{name}",
        "log_stream_name": time.strftime("%Y/%m/%d", time.gmtime()) + f"/[$LATEST]{uuid.uuid4().hex}",
    }


def _inherited() -> dict[str, str]:
    # bgctl's own settings (ports, project, fault injection) are not the function's business.
    return {k: v for k, v in os.environ.items() if not k.startswith("BGCTL_")}


def _region(function_arn: str) -> str:
    parts = function_arn.split(":")
    if len(parts) >= 4 and parts[:3] == ["arn", "aws", "lambda"] and parts[3]:
        return parts[3]
    return REGION


def _read_outcome(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):  # the child died before writing, or mid-write
        return None
    return value if isinstance(value, dict) else None


def _error_reason(outcome: dict) -> str:
    kind = str(outcome.get("errorType") or "Error")
    message = str(outcome.get("errorMessage") or "").strip().splitlines()
    first = message[0] if message else ""
    if len(first) > _MAX_REASON:
        first = first[: _MAX_REASON - 3] + "..."
    return f"raised {kind}: {first}" if first else f"raised {kind}"


def _ended(exit_code: int) -> str:
    if exit_code < 0:
        try:
            return f"killed by {signal.Signals(-exit_code).name}"
        except ValueError:
            return f"killed by signal {-exit_code}"
    return f"exited with status {exit_code}"
