"""compose.yaml's backends and the shipped revisions (revisions/*.json) must not drift apart."""

from bgctl.adapters.project_files import shipped_revision
import json
from pathlib import Path

import pytest
import yaml


REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("slot", ["blue", "green"])
def test_compose_runs_the_shipped_revision(slot):
    service = yaml.safe_load((REPO / "compose.yaml").read_text())["services"][f"backend-{slot}"]
    revision = shipped_revision(slot, REPO / "revisions")
    assert tuple(service["command"]) == revision.command
    assert {k: str(v) for k, v in service["environment"].items()} == dict(revision.environment)
    assert tuple(service["healthcheck"]["test"]) == revision.health_check.test
    assert revision.container_port == 3000 and revision.image == "nginx:alpine"


@pytest.mark.parametrize("slot, body", [("blue", "Hello from BACKEND BLUE"),
                                        ("green", "Hello from BACKEND GREEN (v2.0)")])
def test_shipped_revisions_are_the_seed_plus_a_slow_endpoint(slot, body):
    seed = json.loads((REPO / f"examples/task-definitions/backend-{slot}.json").read_text())
    shipped = json.loads((REPO / f"revisions/backend-{slot}.json").read_text())
    seed_command = seed["containerDefinitions"][0]["command"][2]
    shipped_command = shipped["containerDefinitions"][0]["command"][2]
    slow = f' location /slow {{ limit_rate 64; return 200 "Slow {body}"; add_header Content-Type text/plain; }}'
    assert shipped_command.replace(slow, "") == seed_command
    seed["containerDefinitions"][0]["command"] = shipped["containerDefinitions"][0]["command"] = None
    assert seed == shipped
