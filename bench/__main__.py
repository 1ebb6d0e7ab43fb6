"""`python -m bench [--only NAME]`: print a table of figures and write bench/results/latest.json."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path

from bench import deploy, latency, memory, switch, throughput
from bench.stack import DIRECT_PORT, REPO, bench_stack
from bgctl.adapters.images import OFFICIAL
from bgctl.adapters.slot_tasks import DockerSlotTasks

BENCHMARKS = ["latency", "switch", "deploy", "throughput", "memory"]


def machine() -> dict:
    def out(*cmd: str) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "")
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "docker": out("docker", "version", "--format", "{{.Server.Version}}"),
        "compose": out("docker", "compose", "version", "--short"),
        "wrk": out("wrk", "--version").splitlines()[0] if out("wrk", "--version") else "",
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
        "other_containers_at_start": len(out("docker", "ps", "-q").split()),
    }


def row(name: str, *cols: str) -> None:
    print(f"{name:62} " + " ".join(f"{c:>10}" for c in cols))


def ms(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}ms"


def cpu_text(cpu: dict) -> str:
    text = ", ".join(f"{k} {v:.0f}%" for k, v in cpu["cores_pct"].items())
    others = ", ".join(f"{k} {v:.0f}%" for k, v in cpu.get("top_others_pct", {}).items())
    return text + (f" [of which: {others}]" if others else "")


def print_table(report: dict) -> None:
    print(f"machine: {report['machine']}")
    row("figure", "p50", "p99", "max")
    if "latency" in report:
        lat = report["latency"]
        for path, label in (("kit", "kit (ingress→Envoy→frontend→Envoy→blue)"), ("direct", "direct to backend-blue")):
            f = lat[path]
            row(f"latency, {label} ({f['n']}x, {f['errors']} err)", ms(f["p50_ms"]), ms(f["p99_ms"]), ms(f["max_ms"]))
        row("latency, Envoy hops add (kit − direct)", ms(lat["added_p50_ms"]), ms(lat["added_p99_ms"]), "")
        row("latency, kit ÷ direct", f"{lat['ratio_p50']:.1f}x", "", "")
    if "throughput" in report:
        t = report["throughput"]
        tag = f"wrk -t{t['threads']} -c{t['connections']}"
        for label, r in (("kit", t["kit"]), ("direct to backend-blue", t["direct"])):
            row(f"throughput, {label}: {r['rps']:.0f} req/s, {r['errors']} err ({tag}, {r['duration_s']:.0f}s)",
                ms(r.get("p50_ms")), ms(r.get("p99_ms")), ms(r.get("latency_max_ms")))
        for d in t["during_deploy"]:
            row(f"throughput, kit during deploy {d['deployment'].split(',')[0]}: {d['rps']:.0f} req/s, "
                f"{d['errors']} err", ms(d.get("p50_ms")), ms(d.get("p99_ms")), ms(d.get("latency_max_ms")))
            print(f"    {d['deployment']}: the command took {d['deploy_command_s']:.2f}s under load "
                  f"(wrk ran {d['duration_s']:.1f}s); answered by {d['answered_by']}; "
                  f"÷ a no-deploy run as long ({d['baseline_rps']:.0f} req/s, {d['baseline_s']:.0f}s) = "
                  f"{d['ratio_to_kit']:.3f}; ÷ the first kit run = {d['ratio_to_first_kit']:.3f}")
            phases = [ph for ph in d.get("phases", []) if ph["seconds"] >= 0.2 and ph["rps"] is not None]
            print("    req/s in each phase ≥ 0.2 s: " + ", ".join(
                f"{ph['phase']} ({ph['seconds']:.1f}s) {ph['rps']}" for ph in phases))
        print(f"    no-deploy kit runs (first, then one as long as each deployment): "
              f"{', '.join(f'{v:.0f}' for v in t['kit_runs_rps'])} req/s, errors {t['kit_runs_errors']}")
        print(f"    frontend TIME_WAIT sockets before → after: kit {t['kit']['frontend_time_wait']}, "
              + ", ".join(f"deploy {d['frontend_time_wait']}, kit {k['frontend_time_wait']}"
                          for d, k in zip(t["during_deploy"], t.get("kit_after_deploys", [])))
              + f"; waits for < {t['drain_below_time_wait']} before each kit run: "
              + ", ".join(f"{w['waited_s']:.0f}s" for w in t["drains"]))
        if "during_deploy_ratio_median" in t:
            row("throughput during a deploy ÷ without (median)", f"{t['during_deploy_ratio_median']:.3f}", "", "")
        row("throughput, direct ÷ kit (load generator headroom)", f"{t['direct_over_kit']:.1f}x", "", "")
        if "sustained" in t:
            su = t["sustained"]
            row(f"throughput, kit sustained {su['duration_s']:.0f}s: {su['rps']:.0f} req/s, {su['errors']} err", "", "", "")
            print("    every 5 s: " + ", ".join(f"{x['t_s']}s {x['rps']}/s tw {x['frontend_time_wait']} "
                                             f"fe-cpu {x['frontend_cpu_pct']}%" for x in su["timeline"]))
        for label, r in (("kit", t["kit"]), ("direct", t["direct"])):
            print(f"    CPU during the {label} run (% of one core; 2 cores = 200%): {cpu_text(r['cpu'])}")
        for d, k in zip(t["during_deploy"], t.get("kit_after_deploys", [])):
            print(f"    CPU during deploy {d['deployment'].split(',')[0]}: {cpu_text(d['cpu'])}")
            print(f"    CPU during the no-deploy run as long: {cpu_text(k['cpu'])}")
    if "memory" in report:
        m = report["memory"]
        row("memory (MiB; rss / docker-stats usage)", "idle", "under load", "")
        for service in memory.SERVICES:
            idle, load = m["idle"].get(service), m["under_load"].get(service)
            if not idle and not load:
                continue
            fmt = lambda x: "" if not x else f"{x.get('rss_mib', 0):.1f}/{x['usage_mib']:.1f}"  # noqa: E731
            row(f"memory, {service}", fmt(idle), fmt(load), "")
    for delivery, figures in report.get("switch", {}).items():
        for kind, label in (("confirm", "publish → confirmed live"),
                            ("first_response", "publish → first response from new slot")):
            f = figures[kind]
            row(f"switch, {delivery} path ({figures['n']}x): {label}", ms(f["p50_ms"]), ms(f["p99_ms"]), ms(f["max_ms"]))
    if "deploy" in report:
        d = report["deploy"]
        for stage, seconds in d["stages_s"].items():
            row(f"deploy --bake-time 0: {stage}", f"{seconds * 1000:.0f}ms", "", "", )
        row(f"deploy --bake-time 0: total (record, median of {d['runs']})", f"{d['total_s']:.2f}s", "", "")
        row("deploy --bake-time 0: the whole command", f"{d['command_s']:.2f}s", "", "")
    for key, value in report["stack"].items():
        row(key, f"{value:.2f}s", "", "")
    print(f"bench wall time: {report['wall_s']:.0f}s")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--only", choices=BENCHMARKS, help="run one benchmark")
    parser.add_argument("--switches", type=int, default=200, help="route switches per delivery path")
    parser.add_argument("--deploys", type=int, default=5, help="deployments with bake 0 to time")
    parser.add_argument("--requests", type=int, default=3000, help="latency: requests per path")
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--wrk-connections", type=int, default=32)
    parser.add_argument("--wrk-duration", type=float, default=10, help="seconds per no-deploy wrk run")
    parser.add_argument("--load-deploys", type=int, default=1, help="deployments under wrk load")
    parser.add_argument("--sustained", type=float, default=0,
                        help="throughput: also one long kit run of this many seconds (shows the TIME_WAIT collapse)")
    parser.add_argument("--load-bake", default="5s", help="bake time of the deployments under load")
    args = parser.parse_args()
    chosen = [args.only] if args.only else BENCHMARKS
    if {"throughput", "memory"} & set(chosen):
        throughput.ensure_wrk()

    started = time.perf_counter()
    report: dict = {"machine": machine(), "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    need_direct = bool({"latency", "throughput"} & set(chosen))
    with bench_stack(direct_port=need_direct) as (ctx, env, timings):
        wrk_opts = dict(threads=args.wrk_threads, connections=args.wrk_connections, duration=args.wrk_duration)
        idle = memory.idle(ctx) if "memory" in chosen else None
        if "latency" in chosen:
            report["latency"] = latency.measure(ctx, int(env[DIRECT_PORT]), requests=args.requests)
        if "switch" in chosen:
            report["switch"] = switch.measure(ctx, args.switches)
            DockerSlotTasks(ctx.settings, OFFICIAL, engine=ctx.engine, stack=ctx.stack).stop("green", timeout=30)
        if "deploy" in chosen:
            report["deploy"] = deploy.measure(env, args.deploys)
        # Last: its runs through the kit wait for the frontend's TIME_WAIT sockets to drain
        # (bench/throughput.py); the deployments above send no traffic.
        if "throughput" in chosen:
            sampled = memory.sampler(ctx) if "memory" in chosen else None
            report["throughput"] = throughput.measure(ctx, env, int(env[DIRECT_PORT]), deploys=args.load_deploys,
                                                      bake=args.load_bake, sustain=args.sustained,
                                                      memory=sampled, **wrk_opts)
            if sampled is not None:
                report["memory"] = memory.result(idle, sampled)
        elif "memory" in chosen:
            report["memory"] = memory.measure(ctx, **wrk_opts)
    report["stack"] = timings
    report["wall_s"] = round(time.perf_counter() - started, 1)

    print_table(report)
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {out / 'latest.json'}")


if __name__ == "__main__":
    main()
