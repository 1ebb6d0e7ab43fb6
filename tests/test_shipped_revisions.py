"""revisions/*.json is the one source of what the stack runs; everything else is checked against it.

- compose.yaml runs each revision's command, environment and health check (frontend included);
- examples/task-definitions/ holds the seed's task definitions: the revisions without the kit's /slow;
- nginx/servers/*.conf are the revisions' server blocks, pretty-printed for reading.
"""

import json
import re
from pathlib import Path

import pytest
import yaml

from bgctl.adapters.project_files import shipped_revision
from bgctl.core.topology import FRONTEND_SERVICE, SERVICE_CONNECT_PORT, slot_service

REPO = Path(__file__).resolve().parent.parent
SLOTS = ("blue", "green")
SERVICES = (FRONTEND_SERVICE, *(slot_service(slot) for slot in SLOTS))
BODY = {"blue": "Hello from BACKEND BLUE", "green": "Hello from BACKEND GREEN (v2.0)"}
# The shell command writes the server block with `echo '<block>' > .../default.conf`.
_ECHOED = re.compile(r"echo '(server \{.*\})' > /etc/nginx/conf\.d/default\.conf")


def revision(service: str) -> dict:
    return json.loads((REPO / "revisions" / f"{service}.json").read_text())


def container(task_definition: dict) -> dict:
    (only,) = task_definition["containerDefinitions"]
    return only


def compose_service(service: str) -> dict:
    return yaml.safe_load((REPO / "compose.yaml").read_text())["services"][service]


def server_block(task_definition: dict) -> str:
    found = _ECHOED.search(container(task_definition)["command"][2])
    assert found, "the command no longer writes a server block with echo '...'"
    return found.group(1)


def slow_location(slot: str) -> str:
    return f' location /slow {{ limit_rate 64; return 200 "Slow {BODY[slot]}"; add_header Content-Type text/plain; }}'


def without_comments_and_spacing(conf: str) -> str:
    code = "\n".join(line.split("#", 1)[0] for line in conf.splitlines())
    return " ".join(code.split())


@pytest.mark.parametrize("service", SERVICES)
def test_compose_runs_the_revision(service):
    ran, shipped = compose_service(service), container(revision(service))
    assert ran["command"] == shipped["command"]
    assert {k: str(v) for k, v in ran["environment"].items()} == {e["name"]: e["value"] for e in shipped["environment"]}
    assert ran["healthcheck"]["test"] == shipped["healthCheck"]["command"]
    assert ran["image"].endswith(":-" + shipped["image"] + "}")  # ${BGCTL_NGINX_IMAGE:-nginx:alpine}


@pytest.mark.parametrize("slot", SLOTS)
def test_the_shipped_backend_revision_parses_and_serves_the_service_connect_port(slot):
    parsed = shipped_revision(slot, REPO / "revisions")
    assert parsed.command == tuple(compose_service(slot_service(slot))["command"])
    assert parsed.container_port == SERVICE_CONNECT_PORT and parsed.image == "nginx:alpine"


@pytest.mark.parametrize("service", SERVICES)
def test_the_examples_are_the_seed_the_revisions_minus_slow(service):
    seed = json.loads((REPO / "examples" / "task-definitions" / f"{service}.json").read_text())
    shipped = revision(service)
    slot = next((s for s in SLOTS if slot_service(s) == service), None)
    shipped_command = container(shipped)["command"][2]
    if slot is not None:
        assert slow_location(slot) in shipped_command
        shipped_command = shipped_command.replace(slow_location(slot), "")
    assert shipped_command == container(seed)["command"][2]
    container(seed)["command"] = container(shipped)["command"] = None
    assert seed == shipped


@pytest.mark.parametrize("service", SERVICES)
def test_the_readable_server_block_is_the_revisions(service):
    readable = (REPO / "nginx" / "servers" / f"{service}.conf").read_text()
    assert without_comments_and_spacing(readable) == " ".join(server_block(revision(service)).split())
