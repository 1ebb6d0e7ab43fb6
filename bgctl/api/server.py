"""ECS's JSON 1.1 protocol over HTTP on 127.0.0.1: `POST /` with `X-Amz-Target`.

Signatures are not checked (any credentials work): the endpoint listens on the
loopback address only. Answers carry `x-amzn-RequestId` as ECS's do; errors are
HTTP 400 with `__type` and `message`, which botocore turns into ClientError.
"""

from __future__ import annotations

import json
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bgctl.api.operations import Api, ApiError, dispatch

TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113."
CONTENT_TYPE = "application/x-amz-json-1.1"


class EcsApiServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, api: Api, port: int, host: str = "127.0.0.1") -> None:
        self.api = api
        super().__init__((host, port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: EcsApiServer
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        target = self.headers.get("X-Amz-Target", "")
        try:
            if not target.startswith(TARGET_PREFIX):
                raise ApiError("UnknownOperationException",
                               f"X-Amz-Target must be {TARGET_PREFIX}<Operation>, not {target!r}.")
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                raise ApiError("SerializationException", "The request body is not valid JSON.") from None
            answer, status = dispatch(self.server.api, target[len(TARGET_PREFIX):], body), 200
        except ApiError as exc:
            answer, status = {"__type": exc.type_name, "message": exc.message}, exc.status
        except Exception as exc:  # a bug: still AWS's shape, never a dropped connection
            answer, status = {"__type": "ServerException",
                              "message": f"bgctl serve failed ({type(exc).__name__}: {exc}); please report it."}, 500
        self._answer(status, answer)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(404, {"__type": "UnknownOperationException", "message": "The ECS API takes POST / requests."})

    def _answer(self, status: int, answer: dict) -> None:
        data = json.dumps(answer, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass  # the CLI says what matters; a line per poll would drown it
