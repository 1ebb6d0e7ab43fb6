"""LINEAR and CANARY through real Envoy weighted clusters: each step's weights as Envoy has
them live (its route config, exactly), the share of untagged requests the candidate answered
(500 requests, within 4 standard deviations of the weight), and the hooks of each step.

Run with -s to see the per-step table.
"""

from __future__ import annotations

import json
import math
import threading
from concurrent.futures import ThreadPoolExecutor

import requests

from bgctl.adapters.envoy_admin import EnvoyAdmin
from tests.integration.conftest import BLUE, GREEN, REPO, SEED_HEADER, status_json, until

# Envoy's weights themselves are read exactly (envoy_weights); the requests show that traffic
# follows them. 500 rather than 2,000: each request crosses five processes, and 2,000 per step
# took a loaded CI about 16 s a step.
REQUESTS_PER_STEP = 500
# A measured share may be this many binomial standard deviations off its weight (a false
# failure about once in 16,000 measurements); at 0 % and 100 % it must be exact.
DEVIATIONS = 4.0
CLIENTS = 8
GREEN_TASK_DEFINITION = REPO / "examples" / "task-definitions" / "backend-green.json"


def tolerance(weight: float, n: int = REQUESTS_PER_STEP) -> float:
    """Percentage points a share measured over `n` requests may be off `weight` (%): 4 standard
    deviations of the binomial share (8.2 points at 30 %, 5.4 at 90 %, for 500 requests)."""
    p = weight / 100
    return 100 * DEVIATIONS * math.sqrt(p * (1 - p) / n)


def envoy_weights(kit) -> dict[str, int]:
    """The production route's weight per cluster in the route config Envoy has live (its
    config dump, through the admin socket: the published admin port does not serve it)."""
    settings = kit.settings
    admin = EnvoyAdmin(settings.admin_url, socket_path=settings.admin_socket)
    status, body = admin._get("/config_dump?resource=dynamic_route_configs")
    assert status == 200, body
    [config] = json.loads(body)["configs"]
    [host] = config["route_config"]["virtual_hosts"]
    [route] = [r["route"] for r in host["routes"] if r["name"] == "production-traffic"]
    if "cluster" in route:
        return {route["cluster"]: 100}
    return {c["name"]: int(c["weight"]) for c in route["weighted_clusters"]["clusters"]}


def live(weight: int) -> dict[str, int]:
    """envoy_weights while green has `weight` % of production."""
    return {name: w for name, w in (("backend-blue", 100 - weight), ("backend-green", weight)) if w}


def candidate_share(kit, n: int = REQUESTS_PER_STEP) -> float:
    """Percent of `n` untagged requests that green answered (every one must succeed).

    Sent by a few clients at once: Envoy picks a weighted cluster per request,
    independently, so the share is the same, and a loaded machine answers
    them in seconds rather than a minute."""
    local = threading.local()

    def get(_: int) -> requests.Response:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return local.session.get(kit.url + "/", timeout=10)

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        responses = list(pool.map(get, range(n)))
    assert [r.status_code for r in responses] == [200] * n
    bodies = [r.text for r in responses]
    assert set(bodies) <= {BLUE, GREEN}
    return 100.0 * bodies.count(GREEN) / n


def tagged_all_green(kit, n: int = 20) -> bool:
    return all(kit.get("/", SEED_HEADER).text == GREEN for _ in range(n))


def linear_definition(tmp_path, step_percent: float) -> str:
    definition = {
        "cluster": "c", "service": "backend", "taskDefinition": str(GREEN_TASK_DEFINITION),
        "deploymentConfiguration": {
            "strategy": "LINEAR", "bakeTimeInMinutes": 0,
            "linearConfiguration": {"stepPercent": step_percent, "stepBakeTimeInMinutes": 0},
            # Holds each step: PRE_PRODUCTION_TRAFFIC_SHIFT of step n+1 comes while step n's weights are live.
            "lifecycleHooks": [{"targetType": "PAUSE", "lifecycleStages": ["PRE_PRODUCTION_TRAFFIC_SHIFT"]}],
        },
        "serviceConnectConfiguration": {"enabled": True, "services": [{"portName": "p", "clientAliases": [
            {"port": 3000, "testTrafficRules": {"header": {"name": "x-amzn-ecs-bluegreen-test",
                                                           "value": {"exact": "test"}}}}]}]},
    }
    path = tmp_path / "linear.json"
    path.write_text(json.dumps(definition))
    return str(path)


def counting_hooks(tmp_path) -> tuple[list[str], object]:
    log = tmp_path / "calls.log"
    args = []
    for stage in ("PRE_PRODUCTION_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT"):
        args += ["--hook", f"{stage}=echo {stage} >> {log}"]
    return args, log


def calls(log) -> dict[str, int]:
    lines = log.read_text().split() if log.exists() else []
    return {stage: lines.count(stage) for stage in ("PRE_PRODUCTION_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT")}


def print_table(title: str, rows: list[tuple]) -> None:
    print(f"\n{title}")
    print(f"{'step':>4} {'weight %':>9} {'measured %':>11} {'requests':>9} {'PRE_PROD calls':>15} {'PROD calls':>11}")
    for row in rows:
        print(f"{row[0]:>4} {row[1]:>9g} {row[2]:>11.1f} {row[3]:>9} {row[4]:>15} {row[5]:>11}")


def test_linear_in_four_steps_with_per_step_weights_and_hooks(blue_serves, tmp_path):
    kit = blue_serves
    hooks, log = counting_hooks(tmp_path)
    result = kit.bgctl("deploy", "--service-definition", linear_definition(tmp_path, 30.0), *hooks)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = []
    for step, weight in enumerate((0, 30, 60, 90)):
        report = status_json(kit)
        d = report["deployment"]
        assert (d["status"], d["stage"], d["paused"]) == ("IN_PROGRESS", "PRE_PRODUCTION_TRAFFIC_SHIFT", True)
        assert report["weights"] == {"blue": 100 - weight, "green": weight}
        assert envoy_weights(kit) == live(weight), step
        measured = candidate_share(kit)
        assert abs(measured - weight) <= tolerance(weight), (step, weight, measured)
        assert tagged_all_green(kit)  # the test rule reaches the candidate throughout
        counted = calls(log)
        # The PRE_PRODUCTION hook of this step ran; the PRODUCTION hook of each step before it.
        assert counted == {"PRE_PRODUCTION_TRAFFIC_SHIFT": step + 1, "PRODUCTION_TRAFFIC_SHIFT": step}
        rows.append((step, weight, measured, REQUESTS_PER_STEP, counted["PRE_PRODUCTION_TRAFFIC_SHIFT"],
                     counted["PRODUCTION_TRAFFIC_SHIFT"]))
        result = kit.bgctl("continue")
        assert result.returncode == 0, result.stdout + result.stderr
    report = status_json(kit)
    assert report["deployment"]["status"] == "SUCCESSFUL" and report["production"] == "green"
    assert envoy_weights(kit) == live(100)
    measured = candidate_share(kit)
    assert measured == 100.0
    counted = calls(log)
    assert counted == {"PRE_PRODUCTION_TRAFFIC_SHIFT": 4, "PRODUCTION_TRAFFIC_SHIFT": 4}
    rows.append(("end", 100, measured, REQUESTS_PER_STEP, 4, 4))
    print_table("LINEAR stepPercent 30 (weights while step n's PRE_PRODUCTION_TRAFFIC_SHIFT pause holds)", rows)


def test_linear_rollback_mid_way_puts_everything_back_at_once(blue_serves, tmp_path):
    kit = blue_serves
    assert kit.bgctl("deploy", "--service-definition", linear_definition(tmp_path, 25.0)).returncode == 0
    for _ in range(2):
        assert kit.bgctl("continue").returncode == 0
    assert status_json(kit)["weights"] == {"blue": 50, "green": 50}
    result = kit.bgctl("rollback")
    assert result.returncode == 0, result.stdout + result.stderr
    report = status_json(kit)
    assert report["deployment"]["status"] == "ROLLBACK_SUCCESSFUL"
    assert report["weights"] == {"blue": 100, "green": 0}
    assert envoy_weights(kit) == live(0)
    assert candidate_share(kit, 200) == 0.0


def test_canary_from_the_command_line(blue_serves, tmp_path):
    kit = blue_serves
    hooks, log = counting_hooks(tmp_path)
    # The canary's bake holds the 20 % step long enough to measure it (Envoy's weights, read
    # again after the requests, show that it did; 30 s was too short once at load 15).
    from tests.integration.test_deploy import deploy_in_background

    process = deploy_in_background(kit, "green", "--strategy", "CANARY", "--canary-percent", "20",
                                   "--canary-bake", "60s", "--bake-time", "0", *hooks)
    try:
        until(lambda: status_json(kit)["weights"].get("green") == 20, timeout=120, interval=0.2)
        # The canary step's hooks, read before measuring: on a loaded machine the measurement
        # can outlast the canary bake, and the 100 % step's calls would be counted too.
        during = until(lambda: calls(log) if calls(log).get("PRODUCTION_TRAFFIC_SHIFT") else None, timeout=60)
        assert envoy_weights(kit) == live(20)
        measured = candidate_share(kit)
        assert envoy_weights(kit) == live(20)  # the whole measurement within the canary step
        assert abs(measured - 20) <= tolerance(20), measured
        assert tagged_all_green(kit)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, out + err
    assert status_json(kit)["production"] == "green"
    assert envoy_weights(kit) == live(100)
    after = candidate_share(kit)
    assert after == 100.0
    assert during == {"PRE_PRODUCTION_TRAFFIC_SHIFT": 1, "PRODUCTION_TRAFFIC_SHIFT": 1}
    assert calls(log) == {"PRE_PRODUCTION_TRAFFIC_SHIFT": 2, "PRODUCTION_TRAFFIC_SHIFT": 2}
    print_table("CANARY canaryPercent 20 (measured during the canary bake)",
                [(0, 20, measured, REQUESTS_PER_STEP, 1, 1), (1, 100, after, REQUESTS_PER_STEP, 2, 2)])
