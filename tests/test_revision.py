import json
import os
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from bgctl.adapters.project_files import load_task_definition, shipped_revision
from bgctl.core.errors import InvalidInput
from bgctl.core.compose_override import _quote, compose_override
from bgctl.core.settings import Settings
from bgctl.core.taskdef import HealthCheck

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "task-definitions"
GREEN = load_task_definition(EXAMPLES / "backend-green.json")

# A revision unlike the seed's: another entrypoint and body, `$` and quotes in
# the shell command, non-ASCII text, a CMD-style check, its own sizes.
API = replace(
    GREEN,
    entry_point=("/bin/sh", "-c"),
    command=("echo \"host $HOSTNAME\" 'it''s' ${HOME} \\ 日本語 😀 && exec nginx -g 'daemon off;'",),
    environment=(("PORT_NAME", "api"), ("PRICE", "$5"), ("EMPTY", "")),
    port_name="api",
    health_check=HealthCheck(("CMD", "wget", "-q", "--spider", "http://localhost:3000/"), 10, 3, 2, 5),
    cpu_units=512,
    memory_mib=300,
)


def test_shipped_revision():
    blue = shipped_revision("blue", EXAMPLES)
    assert blue.source == "shipped"
    assert "Hello from BACKEND BLUE" in blue.command[2]
    assert shipped_revision("green", EXAMPLES).environment[-1] == ("VERSION", "2.0")
    with pytest.raises(InvalidInput, match="backend-purple.json does not exist"):
        shipped_revision("purple", EXAMPLES)


def test_override_text_for_the_seed():
    text = compose_override(GREEN, service="backend-green", image="nginx:alpine", healthcheck_profile="fast")
    assert text.startswith("# ")
    assert '  "backend-green":\n    image: "nginx:alpine"\n' in text
    assert '    command: !override ["/bin/sh", "-c", "echo \'server { listen 3000;' in text
    assert "    entrypoint: !reset null\n" in text
    assert '    environment: !override ["ENV=production", "SERVICE_NAME=backend", "VERSION=2.0"]\n' in text
    assert (
        "    healthcheck: !override\n"
        '      test: ["CMD-SHELL", "wget --quiet --tries=1 --spider http://localhost:3000/health || exit 1"]\n'
        '      interval: "0.5s"\n      timeout: "5s"\n      retries: 3\n      start_period: "60s"\n'
    ) in text
    assert text.endswith('    cpus: 0.25\n    mem_limit: "512m"\n')
    seed = compose_override(GREEN, service="backend-green", image="nginx:alpine", healthcheck_profile="seed")
    assert '      interval: "30s"\n' in seed


def test_dollar_signs_are_escaped_for_compose():
    text = compose_override(API, service="backend-green", image="img", healthcheck_profile="fast")
    assert '"echo \\"host $$HOSTNAME\\" \'it\'\'s\' $${HOME} \\\\ ' in text
    assert '"PRICE=$$5"' in text
    assert "$HOSTNAME" not in text.replace("$$HOSTNAME", "")


def test_quote_is_yaml_safe():
    assert _quote('a"b\\c') == '"a\\"b\\\\c"'
    assert _quote("x$y") == '"x$$y"'
    assert _quote("tab\tnl\n\x7f") == '"tab\\u0009nl\\u000a\\u007f"'
    assert _quote("é😀") == '"\\u00e9\\U0001f600"'


def test_unknown_profile():
    with pytest.raises(ValueError):
        compose_override(GREEN, service="backend-green", image="x", healthcheck_profile="slow")


# --- the override as Compose reads it -------------------------------------------------------


def merged(tmp_path: Path, override: str) -> dict:
    """The project as `docker compose config` merges compose.yaml and `override` (starts nothing)."""
    path = tmp_path / "override.yaml"
    path.write_text(override)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BGCTL_", "COMPOSE_"))}
    env["COMPOSE_PROJECT_NAME"] = "bgunit"
    result = subprocess.run(
        ["docker", "compose", "-f", str(ROOT / "compose.yaml"), "-f", str(path), "config", "--format", "json"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["services"]


def escaped(text: str) -> str:
    """`docker compose config` writes a literal `$` back as `$$`, so its output can be read again."""
    return text.replace("$", "$$")


def test_compose_runs_the_seed_revision_exactly(tmp_path):
    services = merged(
        tmp_path, compose_override(GREEN, service="backend-green", image="bgctl-standin/nginx:t", healthcheck_profile="fast")
    )
    green = services["backend-green"]
    assert green["image"] == "bgctl-standin/nginx:t"
    assert green["environment"] == {"ENV": "production", "SERVICE_NAME": "backend", "VERSION": "2.0"}
    assert green["command"] == list(GREEN.command)
    assert green.get("entrypoint") is None
    assert green["healthcheck"]["test"] == list(GREEN.health_check.test)
    assert green["healthcheck"]["interval"] == "500ms"  # the slots' fast interval, as Compose writes it
    assert green["healthcheck"]["timeout"] == "5s" and green["healthcheck"]["retries"] == 3
    assert green["cpus"] == 0.25
    assert int(green["mem_limit"]) == 512 * 1024 * 1024
    # What the override does not mention still comes from compose.yaml.
    assert green["stop_signal"] == "SIGQUIT"
    assert "Hello from BACKEND BLUE" in services["backend-blue"]["command"][2]


def test_compose_replaces_rather_than_merges(tmp_path):
    """The API revision shares no env key with compose.yaml's green; none of green's may remain."""
    services = merged(tmp_path, compose_override(API, service="backend-green", image="x:1", healthcheck_profile="seed"))
    green = services["backend-green"]
    assert green["environment"] == {name: escaped(value) for name, value in API.environment}
    assert green["entrypoint"] == ["/bin/sh", "-c"]
    assert green["command"] == [escaped(API.command[0])]
    check = green["healthcheck"]
    assert check["test"] == ["CMD", "wget", "-q", "--spider", "http://localhost:3000/"]
    assert (check["interval"], check["timeout"], check["retries"], check["start_period"]) == ("10s", "3s", 2, "5s")
    assert green["cpus"] == 0.5
    assert int(green["mem_limit"]) == 300 * 1024 * 1024


def test_compose_reset_cases(tmp_path):
    bare = replace(GREEN, command=None, entry_point=None, environment=(), health_check=None,
                   cpu_units=None, memory_mib=None)
    green = merged(tmp_path, compose_override(bare, service="backend-green", image="x:1", healthcheck_profile="fast"))[
        "backend-green"
    ]
    assert green.get("command") is None  # the image's CMD applies
    assert green.get("entrypoint") is None
    assert "environment" not in green
    assert green["healthcheck"] == {"disable": True}  # not even an image HEALTHCHECK runs, as on ECS
    assert "cpus" not in green and "mem_limit" not in green


def test_slots_check_health_more_often_than_the_frontend(tmp_path):
    """A deployment waits for the candidate's first check, which Docker runs one interval after the start."""
    services = merged(tmp_path, "services: {}\n")
    assert {name: s["healthcheck"]["interval"] for name, s in services.items() if "healthcheck" in s} == {
        "frontend": "1s", "backend-blue": "500ms", "backend-green": "500ms"}
    seed = Settings.parse({"BGCTL_HEALTHCHECK": "seed"}, ROOT).compose_env(nginx_image="n", envoy_image="e")
    assert seed["BGCTL_HEALTH_INTERVAL"] == seed["BGCTL_SLOT_HEALTH_INTERVAL"] == "30s"
