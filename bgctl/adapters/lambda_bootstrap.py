"""The child side of a Lambda hook call: load the handler's file, call it once, write what it returned.

Run as a script by adapters/lambda_runner.py with the interpreter bgctl runs
in: `python -u lambda_bootstrap.py INVOKE_JSON ANSWER_JSON`. It imports only
the standard library, so nothing of bgctl is loaded next to the user's code,
and it writes the answer to its own file, never to stdout, so that whatever
the handler prints stays the handler's log and can never be taken for the
answer.
"""

from __future__ import annotations

import sys

# Run as a script, Python put this file's folder (bgctl's adapters) first on
# sys.path, where a module could shadow one the handler imports; drop it
# before importing anything else.
del sys.path[0]

import importlib.util  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402


class LambdaContext:
    """What the Lambda runtime passes as `context`: the attributes hook functions commonly read."""

    def __init__(self, fields: dict, deadline: float) -> None:
        self.function_name: str = fields["function_name"]
        self.function_version: str = fields["function_version"]
        self.invoked_function_arn: str = fields["invoked_function_arn"]
        self.memory_limit_in_mb: int = fields["memory_limit_in_mb"]
        self.aws_request_id: str = fields["aws_request_id"]
        self.log_group_name: str = fields["log_group_name"]
        self.log_stream_name: str = fields["log_stream_name"]
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        # Wall-clock, not monotonic: the deadline was set by the parent process.
        return max(0, int((self._deadline - time.time()) * 1000))

    def log(self, message: str) -> None:
        sys.stdout.write(message)

    def __repr__(self) -> str:
        return f"LambdaContext(function_name={self.function_name!r}, aws_request_id={self.aws_request_id!r})"


def _load(file: str, function: str):
    path = Path(file)
    # Lambda puts the function's folder first on sys.path, so a handler can
    # import the modules beside it.
    sys.path.insert(0, str(path.parent))
    name = path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {file}")
    module = importlib.util.module_from_spec(spec)
    if name not in sys.modules:  # never shadow a module already imported (a file named json.py)
        sys.modules[name] = module
    spec.loader.exec_module(module)
    handler = getattr(module, function, None)
    if not callable(handler):
        raise AttributeError(f"{path.name} has no function {function!r}")
    return handler


def _error(kind: str, exc: BaseException) -> dict:
    # Lambda's own error shape, and its log line, so users see what they would see in CloudWatch.
    message = str(exc)
    sys.stderr.write(f"[ERROR] {kind}: {message}\n")
    traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    return {"errorType": kind, "errorMessage": message}


def main(invoke_path: str, answer_path: str) -> int:
    with open(invoke_path, encoding="utf-8") as f:
        invoke = json.load(f)
    context = LambdaContext(invoke["context"], invoke["deadline"])
    try:
        handler = _load(invoke["file"], invoke["function"])
    except Exception as exc:  # Lambda: Runtime.ImportModuleError / HandlerNotFound
        outcome = _error(f"Runtime.ImportModuleError ({type(exc).__name__})", exc)
    else:
        try:
            outcome = {"result": handler(invoke["event"], context)}
        except SystemExit as exc:
            outcome = _error("SystemExit", RuntimeError(f"the handler called sys.exit({exc.code!r})"))
        except Exception as exc:
            outcome = _error(type(exc).__name__, exc)
    try:
        text = json.dumps(outcome)
    except (TypeError, ValueError) as exc:
        text = json.dumps(_error("Runtime.MarshalError", ValueError(f"Unable to marshal response: {exc}")))
    with open(answer_path, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
