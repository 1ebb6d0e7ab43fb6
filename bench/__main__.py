"""`python -m bench [--switches N]`: print a table of figures and write bench/results/latest.json."""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from bench import deploy, switch
from bench.stack import REPO, bench_stack


def machine() -> dict:
    return {
        "cpus": __import__("os").cpu_count(),
        "memory_gib": round(int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--switches", type=int, default=200, help="route switches per delivery path")
    parser.add_argument("--deploys", type=int, default=5, help="deployments with bake 0 to time")
    parser.add_argument("--only", choices=["switch", "deploy"], help="run one benchmark")
    args = parser.parse_args()

    report: dict = {"machine": machine(), "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with bench_stack() as (ctx, env, timings):
        if args.only in (None, "switch"):
            report["switch"] = switch.measure(ctx, args.switches)
            ctx.stack.stop_gracefully("backend-green")
        if args.only in (None, "deploy"):
            report["deploy"] = deploy.measure(env, args.deploys)
    report["stack"] = timings

    print(f"machine: {report['machine']}")
    print(f"{'figure':58} {'p50':>9} {'p99':>9} {'max':>9}")
    for delivery, figures in report.get("switch", {}).items():
        for kind, label in (("confirm", "publish → confirmed live"), ("first_response", "publish → first response from new slot")):
            f = figures[kind]
            name = f"switch, {delivery} path ({figures['n']}x): {label}"
            print(f"{name:58} {f['p50_ms']:>7.2f}ms {f['p99_ms']:>7.2f}ms {f['max_ms']:>7.2f}ms")
    if "deploy" in report:
        d = report["deploy"]
        for stage, seconds in d["stages_s"].items():
            print(f"{'deploy --bake-time 0: ' + stage:58} {seconds * 1000:>7.0f}ms  (median of {d['runs']})")
        print(f"{'deploy --bake-time 0: total (record)':58} {d['total_s']:>8.2f}s")
        print(f"{'deploy --bake-time 0: the whole command':58} {d['command_s']:>8.2f}s")
    for key, value in timings.items():
        print(f"{key:58} {value:>8.2f}s")
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {out / 'latest.json'}")


if __name__ == "__main__":
    main()
