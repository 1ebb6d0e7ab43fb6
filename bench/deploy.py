"""Each stage's duration and the total for `deploy <other slot> --bake-time 0`, median of N runs.

Runs the real CLI (a new process per deployment, as a user would), alternating
green and blue, and reads the stage times from the deployment record.
"""

from __future__ import annotations

import json
import statistics
import time

from bench.stack import bgctl

STAGES = [
    "RECONCILE_SERVICE", "PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT", "PRE_PRODUCTION_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP",
]


def measure(env: dict[str, str], runs: int) -> dict:
    per_stage: dict[str, list[float]] = {stage: [] for stage in STAGES}
    totals, commands = [], []
    slot = "green"
    for _ in range(runs):
        result, wall = bgctl(env, "deploy", slot, "--bake-time", "0")
        if result.returncode != 0:
            raise SystemExit(f"deploy {slot} failed: {result.stdout[-500:]} {result.stderr.strip()}")
        status, _ = bgctl(env, "status", "--json")
        deployment = json.loads(status.stdout)["deployment"]
        for record in deployment["history"]:
            per_stage[record["stage"]].append(record["seconds"])
        totals.append(deployment["finished"] - deployment["created"])
        commands.append(wall)
        slot = "blue" if slot == "green" else "green"
        time.sleep(0.5)
    return {
        "runs": runs,
        "stages_s": {stage: round(statistics.median(v), 3) for stage, v in per_stage.items() if v},
        "total_s": round(statistics.median(totals), 3),
        "command_s": round(statistics.median(commands), 3),
    }
