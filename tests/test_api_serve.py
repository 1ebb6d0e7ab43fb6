"""`bgctl serve` as a process: it stops on SIGINT even when started as a shell's background job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import requests
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed

from tests.envoy_host import free_port


def test_serve_started_with_sigint_ignored_still_stops_on_it(tmp_path: Path):
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    port = free_port()
    env = {**os.environ, "COMPOSE_PROJECT_NAME": "bgserve-sigint", "BGCTL_API_PORT": str(port)}
    # What `bgctl serve &` in a non-interactive shell gets: SIGINT ignored before exec.
    serve = subprocess.Popen([sys.executable, "-m", "bgctl", "serve"], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        @retry(retry=retry_if_exception_type(requests.ConnectionError), stop=stop_after_delay(20), wait=wait_fixed(0.1),
               reraise=True)
        def answers() -> requests.Response:
            return requests.post(f"http://127.0.0.1:{port}/", json={}, timeout=5, headers={
                "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.ListClusters",
                "Content-Type": "application/x-amz-json-1.1"})

        assert answers().status_code == 200
        serve.send_signal(signal.SIGINT)
        assert serve.wait(timeout=20) == 0
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
    assert not (tmp_path / ".bgctl" / "bgserve-sigint" / "api.json").exists()
