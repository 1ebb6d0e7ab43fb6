"""A throw-away stack for a benchmark: its own project name and free ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from bgctl.adapters.project_files import load_settings
from bgctl.cli.wiring import Context, open_context
from bgctl.core.topology import SERVICE_CONNECT_PORT, slot_service

REPO = Path(__file__).resolve().parent.parent

# The env key under which bench_stack(direct_port=True) passes the host port
# that reaches backend-blue's :3000 directly (127.0.0.1 only, benchmark only).
DIRECT_PORT = "BGBENCH_DIRECT_PORT"
# Compose override file, in the stack's own state dir, that publishes it.
# bgctl's Stack passes every .bgctl/<project>/slots/*.yaml to every Compose
# call, so writing it before `bgctl up` is enough; `bgctl down` removes it.
DIRECT_OVERRIDE = "zz-bench-ports.yaml"


def free_port(taken: set[int] | None = None) -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not taken or port not in taken:
            return port


def bgctl(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "bgctl", *args], cwd=REPO, env=env,
                            capture_output=True, text=True)
    return result, time.perf_counter() - started


def _terminate_as_exit(signum, frame):  # pragma: no cover - signal path
    raise SystemExit(f"stopped by signal {signum}")


@contextmanager
def bench_stack(prefix: str = "bgbench", *, direct_port: bool = False
                ) -> Iterator[tuple[Context, dict[str, str], dict[str, float]]]:
    """Start a stack (own project name, free ports); `bgctl down` it afterwards, even on failure.

    With direct_port, backend-blue's :3000 is also published on a free
    127.0.0.1 port (env[DIRECT_PORT]) by a Compose override in the stack's
    state dir, for the latency/throughput baselines.
    """
    ports: set[int] = set()
    for _ in range(3):
        ports.add(free_port(ports))
    http_port, admin_port, backend_port = sorted(ports)
    env = {
        **os.environ,
        "COMPOSE_PROJECT_NAME": f"{prefix}-{uuid.uuid4().hex[:6]}",
        "BGCTL_HTTP_PORT": str(http_port),
        "BGCTL_ADMIN_PORT": str(admin_port),
    }
    settings = load_settings(env, REPO)
    if direct_port:
        env[DIRECT_PORT] = str(backend_port)
    timings: dict[str, float] = {}
    # SIGTERM (e.g. a timeout wrapper) must still reach the `finally` below.
    previous = signal.signal(signal.SIGTERM, _terminate_as_exit)
    try:
        if direct_port:
            slots = settings.slots_dir
            slots.mkdir(parents=True, exist_ok=True)
            (slots / DIRECT_OVERRIDE).write_text(
                "# bench only: backend-blue reachable directly from the host, 127.0.0.1 only\n"
                f"services:\n  {slot_service('blue')}:\n    ports: [\"127.0.0.1:{backend_port}:{SERVICE_CONNECT_PORT}\"]\n"
            )
        result, timings["up_cold_s"] = bgctl(env, "up")
        if result.returncode != 0:
            raise SystemExit(f"bgctl up failed: {result.stderr.strip()}")
        result, timings["up_again_s"] = bgctl(env, "up")
        yield open_context(load_settings(env, REPO)), env, timings
    finally:
        result, timings["down_s"] = bgctl(env, "down")
        if result.returncode != 0:
            print(f"WARNING: bgctl down failed for {env['COMPOSE_PROJECT_NAME']}: {result.stderr.strip()}",
                  file=sys.stderr)
        signal.signal(signal.SIGTERM, previous)
