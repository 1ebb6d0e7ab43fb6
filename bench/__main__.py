"""`python -m bench [--switches N]`: print a table of figures and write bench/results/latest.json."""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from bench import switch
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
    args = parser.parse_args()

    report: dict = {"machine": machine(), "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with bench_stack() as (ctx, env, timings):
        report["switch"] = switch.measure(ctx, args.switches)
    report["stack"] = timings

    print(f"machine: {report['machine']}")
    print(f"{'figure':58} {'p50':>9} {'p99':>9} {'max':>9}")
    for delivery, figures in report["switch"].items():
        for kind, label in (("confirm", "publish → confirmed live"), ("first_response", "publish → first response from new slot")):
            f = figures[kind]
            name = f"switch, {delivery} path ({figures['n']}x): {label}"
            print(f"{name:58} {f['p50_ms']:>7.2f}ms {f['p99_ms']:>7.2f}ms {f['max_ms']:>7.2f}ms")
    for key, value in timings.items():
        print(f"{key:58} {value:>8.2f}s")
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {out / 'latest.json'}")


if __name__ == "__main__":
    main()
