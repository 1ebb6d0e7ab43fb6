"""What a deployment costs the machine: `docker` CLI processes, and bgctl's own CPU under load.

`python -m bench.cost [--repo PATH] [--runs N]` drives only the real CLI (no
bgctl internals), so the same script measures an older checkout side by side
(`--repo` points at it; its `python -m bgctl` is run from that directory).

- docker CLI processes: a `docker` shim first on PATH logs every invocation
  (python-on-whales, subprocess calls) and execs the real one; counted over
  `bgctl deploy <other slot> --bake-time 0`.
- bgctl's CPU: the deploy command runs under a wrapper that reports its own
  getrusage (user + system, all threads; children — Compose — apart) while
  wrk loads the ingress; CPU seconds ÷ wall seconds of the command. The
  deployment bakes `--bake` so that the steady part of a deployment counts.
- the whole `deploy --bake-time 0` command's wall time, median of the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.stack import free_port
from bench.throughput import ensure_wrk

WRAPPER = """
import atexit, json, os, resource, runpy, sys, time
started = time.perf_counter()
def report():
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(os.environ["BGBENCH_RUSAGE"], "w") as f:
        json.dump({"self_cpu_s": me.ru_utime + me.ru_stime, "children_cpu_s": kids.ru_utime + kids.ru_stime,
                   "wall_s": time.perf_counter() - started}, f)
atexit.register(report)
sys.argv = ["bgctl", *sys.argv[1:]]
runpy.run_module("bgctl", run_name="__main__", alter_sys=True)
"""

SHIM = """#!/bin/sh
echo "$*" >> "{log}"
exec "{real}" "$@"
"""


def run(repo: Path, env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "bgctl", *args], cwd=repo, env=env, capture_output=True, text=True)
    return result, time.perf_counter() - started


def production(repo: Path, env: dict[str, str]) -> str:
    result, _ = run(repo, env, "status", "--json")
    return json.loads(result.stdout)["production"]


def other(slot: str) -> str:
    return "blue" if slot == "green" else "green"


def measure(repo: Path, runs: int, bake: str, threads: int, connections: int) -> dict:
    http_port, admin_port = free_port(), free_port()
    env = {**os.environ, "COMPOSE_PROJECT_NAME": f"bgcost-{uuid.uuid4().hex[:6]}",
           "BGCTL_HTTP_PORT": str(http_port), "BGCTL_ADMIN_PORT": str(admin_port)}
    work = Path(tempfile.mkdtemp(prefix="bgcost-"))
    try:
        result, _ = run(repo, env, "up")
        if result.returncode != 0:
            raise SystemExit(f"bgctl up failed in {repo}: {result.stderr.strip()}")

        # docker CLI processes and the whole command's time, bake 0.
        real = shutil.which("docker")
        log = work / "docker.log"
        shim_dir = work / "bin"
        shim_dir.mkdir()
        (shim_dir / "docker").write_text(SHIM.format(log=log, real=real))
        (shim_dir / "docker").chmod(0o755)
        shimmed = {**env, "PATH": f"{shim_dir}:{env['PATH']}"}
        counts, commands, kinds = [], [], {}
        for _ in range(runs):
            # Every command through the shim (bgctl remembers which docker it checked Compose with).
            target = other(production(repo, shimmed))
            log.unlink(missing_ok=True)
            result, wall = run(repo, shimmed, "deploy", target, "--bake-time", "0")
            if result.returncode != 0:
                raise SystemExit(f"deploy failed: {result.stdout[-400:]} {result.stderr.strip()}")
            lines = log.read_text().splitlines() if log.exists() else []
            counts.append(len(lines))
            commands.append(wall)
            for line in lines:
                key = " ".join(line.split()[:2])
                kinds[key] = kinds.get(key, 0) + 1

        # bgctl's own CPU during a deployment under load.
        wrk = ensure_wrk()
        load = subprocess.Popen([wrk, f"-t{threads}", f"-c{connections}", "-d120s", f"http://127.0.0.1:{http_port}/"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(2.0)  # let wrk reach a steady rate before the deployment starts
            rusage = work / "rusage.json"
            wrapped = {**env, "BGBENCH_RUSAGE": str(rusage)}
            started = time.perf_counter()
            result = subprocess.run([sys.executable, "-c", WRAPPER, "deploy", other(production(repo, env)),
                                     "--bake-time", bake], cwd=repo, env=wrapped, capture_output=True, text=True)
            wall = time.perf_counter() - started
            if result.returncode != 0:
                raise SystemExit(f"deploy under load failed: {result.stdout[-400:]} {result.stderr.strip()}")
            usage = json.loads(rusage.read_text())
        finally:
            load.terminate()
            load.wait()
        return {
            "repo": str(repo),
            "runs": runs,
            "docker_cli_per_deploy": {"median": statistics.median(counts), "all": counts,
                                      "by_command_per_deploy": {k: v / runs for k, v in sorted(kinds.items())}},
            "deploy_bake0_command_s": {"median": round(statistics.median(commands), 3),
                                       "all": [round(c, 3) for c in commands]},
            "under_load": {"bake": bake, "wall_s": round(wall, 2), "bgctl_cpu_s": round(usage["self_cpu_s"], 3),
                           "bgctl_cpu_pct_of_core": round(100 * usage["self_cpu_s"] / wall, 1),
                           "children_cpu_s": round(usage["children_cpu_s"], 3)},
        }
    finally:
        run(repo, env, "down")
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cost")
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="the checkout whose bgctl to measure (default: this one)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--bake", default="10s", help="bake time of the deployment under load")
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--wrk-connections", type=int, default=32)
    args = parser.parse_args()
    report = measure(args.repo.resolve(), args.runs, args.bake, args.wrk_threads, args.wrk_connections)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
