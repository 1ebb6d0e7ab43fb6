"""Zero failed requests, and the right slot for every request, under real load.

Ten clients through the ingress — keep-alive and new-connection-per-request,
untagged and tagged with the test header, and four on the ~3 s /slow endpoint
(staggered, so some are always in flight) — during (a) a full deploy of
green, (b) a rollback from BAKE_TIME, (c) a deploy of blue back. Stage times
come from the deployment record; client times from the same clock.
"""

import subprocess
import sys
import time


from bgctl.adapters.load_generator import Client, Traffic
from tests.integration.conftest import REPO, SEED_HEADER, status_json, until

CLIENTS = [
    Client(keep_alive=True, name="keepalive-1"),
    Client(keep_alive=True, name="keepalive-2"),
    Client(keep_alive=True, name="keepalive-3"),
    Client(keep_alive=False, name="new-conn-1"),
    Client(keep_alive=False, name="new-conn-2"),
    Client(keep_alive=True, headers=SEED_HEADER, name="tagged-keepalive"),
    Client(keep_alive=False, headers=SEED_HEADER, name="tagged-new-conn"),
    *[Client(keep_alive=i % 2 == 0, path="/slow", start_after=0.75 * i, name=f"slow-{i}") for i in range(4)],
]


FAST = {c.name for c in CLIENTS if c.path != "/slow"}


def load(kit) -> Traffic:
    return Traffic(kit.url, CLIENTS, pause=0.002, clock=time.time)


def every_client_answered_after(traffic: Traffic, moment: float) -> None:
    """Every keep-alive and new-connection client has an answer to a request it started after `moment`."""
    until(lambda: FAST <= {a.client for a in list(traffic.answers) if a.started > moment})


def stage_times(deployment: dict) -> dict[str, tuple[float, float]]:
    return {r["stage"]: (r["started"], r["ended"]) for r in deployment["history"]}


def assert_zero_downtime(traffic: Traffic, deployment: dict) -> None:
    """No request failed, and requests ran all through the deployment: some before its first
    stage, some after its last, and never a gap of 2 s between two requests starting. (How
    many a deployment sees depends on the machine's load: 825 to 3000 seen.)"""
    failures = traffic.failures()
    assert failures == [], failures[:5]
    starts = sorted(a.started for a in traffic.answers)
    history = deployment["history"]
    began, finished = history[0]["started"], history[-1]["ended"] or history[-1]["started"]
    assert starts[0] < began and max(a.ended for a in traffic.answers) > finished, (starts[0], began, finished)
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert max(gaps) < 2.0, f"no request started for {max(gaps):.2f} s"


def assert_routing(traffic: Traffic, deployment: dict) -> None:
    """The deployment's routing promises, request by request."""
    old, new = deployment["source"], deployment["target"]
    stages = stage_times(deployment)
    production_shift = stages["PRODUCTION_TRAFFIC_SHIFT"][0]
    test_shift_done = stages["TEST_TRAFFIC_SHIFT"][1]
    clean_up = stages["CLEAN_UP"][0]
    early = [a for a in traffic.answers if not a.tagged and a.slot == new and a.ended < production_shift]
    assert early == [], f"untagged requests answered by the candidate before PRODUCTION_TRAFFIC_SHIFT: {early[:3]}"
    late = [a for a in traffic.answers if a.slot == old and a.started > clean_up]
    assert late == [], f"requests answered by the old slot after CLEAN_UP began: {late[:3]}"
    tagged = [a for a in traffic.answers if a.tagged and a.started > test_shift_done]
    assert tagged and all(a.slot == new for a in tagged), "a tagged request missed the candidate"


def slow_across(traffic: Traffic, moment: float) -> list:
    return [a for a in traffic.answers if a.path == "/slow" and a.started < moment < a.ended]


# A client notes a request's start before it sends it; on a loaded machine the request can
# reach Envoy a good while later, after routes that bgctl began to switch just after it.
SEND_LAG = 1.0


def on_their_slot(answers: list, deployment: dict) -> bool:
    """Started before the production shift: the old slot; after it: the new one (either, for
    one that started within SEND_LAG of the shift)."""
    shift_started, shift_ended = stage_times(deployment)["PRODUCTION_TRAFFIC_SHIFT"]
    for a in answers:
        expected = {deployment["source"]} if a.started < shift_started - SEND_LAG else \
            {deployment["target"]} if a.started > shift_ended else {deployment["source"], deployment["target"]}
        if a.status != 200 or a.slot not in expected:
            return False
    return True


def deploy(kit, *args) -> subprocess.CompletedProcess:
    return kit.bgctl("deploy", *args)


def test_a_full_deploy_of_green_drops_nothing(kit):
    with load(kit) as traffic:
        every_client_answered_after(traffic, 0)
        result = deploy(kit, "green", "--bake-time", "1s")
        every_client_answered_after(traffic, time.time())
    assert result.returncode == 0, result.stdout + result.stderr
    deployment = status_json(kit)["deployment"]
    assert deployment["status"] == "SUCCESSFUL"
    assert_zero_downtime(traffic, deployment)
    assert_routing(traffic, deployment)
    stages = stage_times(deployment)
    # Requests in flight across the two moments finish, with 200, on the slot they started on.
    across_shift = slow_across(traffic, stages["PRODUCTION_TRAFFIC_SHIFT"][0])
    across_clean_up = slow_across(traffic, stages["CLEAN_UP"][0])
    assert [a for a in across_shift if a.slot == "blue"] and on_their_slot(across_shift, deployment)
    assert [a for a in across_clean_up if a.slot == "blue"] and on_their_slot(across_clean_up, deployment)
    print(f"(a) deploy green: {len(traffic.answers)} requests, 0 failed; "
          f"{len(across_shift)} slow requests across PRODUCTION_TRAFFIC_SHIFT, {len(across_clean_up)} across CLEAN_UP")


def test_b_rollback_from_bake_drops_nothing(kit):
    assert status_json(kit)["production"] == "green"
    with load(kit) as traffic:
        every_client_answered_after(traffic, 0)
        deploying = subprocess.Popen([sys.executable, "-m", "bgctl", "deploy", "blue", "--bake-time", "10m"],
                                     cwd=REPO, env=kit.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            def baking() -> bool:
                d = status_json(kit)["deployment"]
                return bool(d and d["target"] == "blue" and d["stage"] == "BAKE_TIME")

            until(baking)
            every_client_answered_after(traffic, time.time())  # traffic during the bake, before the rollback
            rollback_started = time.time()
            result = kit.bgctl("rollback")
            rolled_back = time.time()
            assert deploying.wait(60) == 1
        finally:
            if deploying.poll() is None:
                deploying.kill()
        every_client_answered_after(traffic, time.time())
    assert result.returncode == 0, result.stdout + result.stderr
    report = status_json(kit)
    assert report["deployment"]["status"] == "ROLLBACK_SUCCESSFUL"
    assert report["production"] == "green"
    assert_zero_downtime(traffic, report["deployment"])
    after = [a for a in traffic.answers if a.started > rolled_back]
    assert after and all(a.slot == "green" for a in after)
    across = slow_across(traffic, rollback_started)
    assert all(a.status == 200 for a in across)
    print(f"(b) rollback from bake: {len(traffic.answers)} requests, 0 failed; "
          f"{len(across)} slow requests in flight when the rollback started")


def test_c_deploy_of_blue_back_drops_nothing(kit):
    with load(kit) as traffic:
        every_client_answered_after(traffic, 0)
        result = deploy(kit, "blue", "--bake-time", "1s")
        every_client_answered_after(traffic, time.time())
    assert result.returncode == 0, result.stdout + result.stderr
    deployment = status_json(kit)["deployment"]
    assert (deployment["status"], deployment["target"]) == ("SUCCESSFUL", "blue")
    assert_zero_downtime(traffic, deployment)
    assert_routing(traffic, deployment)
    print(f"(c) deploy blue back: {len(traffic.answers)} requests, 0 failed")
