"""A throw-away stack for a benchmark: its own project name and free ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from bgctl.commands.context import Context, open_context
from bgctl.settings import Settings

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bgctl(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "bgctl", *args], cwd=REPO, env=env,
                            capture_output=True, text=True)
    return result, time.perf_counter() - started


@contextmanager
def bench_stack(prefix: str = "bgbench") -> Iterator[tuple[Context, dict[str, str], dict[str, float]]]:
    env = {
        **os.environ,
        "COMPOSE_PROJECT_NAME": f"{prefix}-{uuid.uuid4().hex[:6]}",
        "BGCTL_HTTP_PORT": str(free_port()),
        "BGCTL_ADMIN_PORT": str(free_port()),
    }
    timings: dict[str, float] = {}
    try:
        result, timings["up_cold_s"] = bgctl(env, "up")
        if result.returncode != 0:
            raise SystemExit(f"bgctl up failed: {result.stderr.strip()}")
        result, timings["up_again_s"] = bgctl(env, "up")
        yield open_context(Settings.from_env(env, REPO)), env, timings
    finally:
        _, timings["down_s"] = bgctl(env, "down")
