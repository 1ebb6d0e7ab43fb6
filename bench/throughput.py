"""Throughput through the kit with wrk, at 0 errors; the same during a real deployment; and the baseline.

- kit:        wrk → 127.0.0.1:ingress (Envoy → frontend → Envoy → backend), no deployment
- direct:     wrk → 127.0.0.1:<bench-only port> → backend-blue, to show that
              the load generator (and docker-proxy) are far from the limit
- deploy:     wrk through the kit while `bgctl deploy <other slot> --bake-time 5s`
              (the real CLI, a separate process) runs; wrk starts just before
              the deployment and is stopped (SIGINT: it prints its figures for
              the time it ran) as soon as the command exits, so the window is
              the whole deployment. Compared with a no-deploy kit run of the
              same length right after it (see TIME_WAIT below).

The frontend's TIME_WAIT sockets. The seed's frontend nginx opens a new TCP
connection to Envoy's egress listener for every request (proxy_pass without
an upstream keepalive) and closes it first, so each request leaves a
TIME_WAIT socket in the frontend's network namespace for 60 s. After ~15 k
of them (about 10 s at full load) connect() has to search the ephemeral port
range (32768–60999) and the frontend's CPU goes into that search:
throughput collapses to a few hundred requests/s (`--sustained 50` shows
it). So every run through the kit starts only once the frontend holds fewer
than DRAIN_BELOW TIME_WAIT sockets (read from /proc/<pid>/net/sockstat on the
host: no docker exec), and each run records the count before and after.
Otherwise a run would measure the previous run's leftovers, not itself.

wrk: 2 threads, 32 connections by default (2 cores: the kit saturates at
~8–16 connections already; more only adds queueing). CPU seconds of wrk,
docker-proxy, each container and the docker daemons are read from /proc and
the containers' cgroups during each run.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import requests

from bench import sysstat
from bench.stack import REPO
from bgctl.core.topology import slot_service

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
DRAIN_BELOW = 1000  # frontend TIME_WAIT sockets
DRAIN_TIMEOUT = 90.0  # TIME_WAIT lasts 60 s on Linux


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("wrk is not installed: `sudo apt-get install -y wrk` (Debian/Ubuntu), then run again.")
    print("installing wrk (apt-get install -y wrk) ...", file=sys.stderr)
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    if subprocess.run(install, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True)
        result = subprocess.run(install, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"apt-get install wrk failed: {result.stderr.strip()[-300:]}")
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is still missing after apt-get install wrk.")
    return found


def parse_wrk(text: str) -> dict:
    def ms(value: str, unit: str) -> float:
        return round(float(value) * UNITS[unit], 3)

    out: dict = {}
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ValueError(f"unexpected wrk output:\n{text}")
    out["requests"] = int(m.group(1))
    out["duration_s"] = round(ms(m.group(2), m.group(3)) / 1000, 3)
    out["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    m = re.search(r"Latency\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)", text)
    if m:
        out["latency_avg_ms"], out["latency_max_ms"] = ms(m.group(1), m.group(2)), ms(m.group(5), m.group(6))
    for pct, value, unit in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M):
        out[f"p{pct}_ms"] = ms(value, unit)
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    out["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups()))) if m else {}
    out["errors"] = out["non_2xx"] + sum(out["socket_errors"].values())
    return out


class Wrk:
    """A running wrk; stop() (SIGINT) or wait() for its figures, plus its own CPU seconds."""

    def __init__(self, url: str, *, threads: int, connections: int, duration: float) -> None:
        self.out = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [ensure_wrk(), f"-t{threads}", f"-c{connections}", f"-d{int(duration)}s", "--latency", "--timeout", "5s", url],
            stdout=self.out, stderr=subprocess.STDOUT, text=True)

    def wait(self) -> dict:
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.out.seek(0)
        text = self.out.read()
        if self.proc.returncode != 0:
            raise RuntimeError(f"wrk exited {self.proc.returncode}: {text.strip()[-300:]}")
        result = parse_wrk(text)
        result["wrk_cpu_s"] = round(usage.ru_utime + usage.ru_stime, 2)
        return result

    def stop(self) -> dict:
        self.proc.send_signal(signal.SIGINT)
        return self.wait()

    def kill(self) -> None:
        if self.proc.returncode is None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _meter(ctx, services: list[str], port: int) -> sysstat.CpuMeter:
    containers = [c for c in (sysstat.container(ctx.settings.project_name, s) for s in services) if c]
    return sysstat.CpuMeter(containers, {
        "docker-proxy": sysstat.docker_proxy_pids(port),
        "dockerd+containerd (all)": sysstat.docker_daemon_pids(),
    })


def frontend_time_wait(ctx) -> int | None:
    c = sysstat.container(ctx.settings.project_name, "frontend")
    if c is None:
        return None
    try:
        for line in open(f"/proc/{c.pid}/net/sockstat"):
            if line.startswith("TCP:"):
                fields = line.split()
                return int(fields[fields.index("tw") + 1])
    except (OSError, ValueError):
        return None
    return None


def drain(ctx) -> dict:
    """Wait until the frontend holds fewer than DRAIN_BELOW TIME_WAIT sockets; how long it took."""
    started = time.perf_counter()
    first = count = frontend_time_wait(ctx)
    while count is not None and count >= DRAIN_BELOW and time.perf_counter() - started < DRAIN_TIMEOUT:
        time.sleep(1)
        count = frontend_time_wait(ctx)
    return {"time_wait_was": first, "waited_s": round(time.perf_counter() - started, 1)}


def run(ctx, url: str, port: int, services: list[str], *, threads: int, connections: int,
        duration: float, memory: sysstat.MemorySampler | None = None) -> dict:
    tw_before = frontend_time_wait(ctx)
    meter = _meter(ctx, services, port)
    meter.start()
    wrk = Wrk(url, threads=threads, connections=connections, duration=duration)
    meter.exclude(wrk.proc.pid)
    try:
        if memory is not None:
            with memory:
                result = wrk.wait()
        else:
            result = wrk.wait()
    finally:
        wrk.kill()
    cpu = meter.stop()
    cpu["cores_pct"]["wrk"] = round(100 * result["wrk_cpu_s"] / result["duration_s"], 1)
    result["cpu"] = cpu
    result["frontend_time_wait"] = [tw_before, frontend_time_wait(ctx)]
    return result


def production_slot(ctx) -> str:
    return ctx.state_file.load().traffic.production


def _upstream_2xx(ctx) -> dict[str, int]:
    text = requests.get(ctx.settings.admin_url + "/stats?filter=^cluster.backend-(blue|green).upstream_rq_2xx$",
                        timeout=5).text
    counts = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        counts[name.split(".")[1].removeprefix("backend-")] = int(value)
    return counts


class ServedCounter:
    """Envoy's ingress request counter, sampled every `interval` s in a thread (epoch time, count)."""

    def __init__(self, admin_port: int, interval: float = 0.25) -> None:
        self.admin_port, self.interval = admin_port, interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=5)
        while not self._stop.is_set():
            try:
                conn.request("GET", "/stats?filter=^http.ingress.downstream_rq_total$")
                text = conn.getresponse().read().decode()
                self.samples.append((time.time(), int(text.split(":")[1])))
            except (OSError, ValueError, IndexError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=5)
            self._stop.wait(self.interval)
        conn.close()

    def __enter__(self) -> "ServedCounter":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def at(self, when: float) -> float | None:
        """The counter at epoch `when`, interpolated between samples."""
        for (t0, c0), (t1, c1) in zip(self.samples, self.samples[1:]):
            if t0 <= when <= t1:
                return c0 + (c1 - c0) * (when - t0) / (t1 - t0) if t1 > t0 else c0
        return None

    def rate(self, start: float, end: float) -> float | None:
        a, b = self.at(start), self.at(end)
        return None if a is None or b is None or end <= start else (b - a) / (end - start)


def under_deploy(ctx, env: dict[str, str], *, threads: int, connections: int, bake: str) -> dict:
    """wrk through the kit for exactly the duration of one `bgctl deploy <other slot>`."""
    production = production_slot(ctx)
    target = "green" if production == "blue" else "blue"
    services = ["service-connect", "frontend", f"backend-{production}", f"backend-{target}"]
    tw_before = frontend_time_wait(ctx)
    meter = _meter(ctx, services, ctx.settings.http_port)
    before = _upstream_2xx(ctx)
    meter.start()
    wrk = Wrk(ctx.settings.ingress_url + "/", threads=threads, connections=connections, duration=600)
    meter.exclude(wrk.proc.pid)
    deploy = None
    counter = ServedCounter(ctx.settings.admin_port).__enter__()
    try:
        time.sleep(0.2)  # wrk's connections are open and busy before the deployment starts
        started, started_epoch = time.perf_counter(), time.time()
        log = tempfile.TemporaryFile(mode="w+")
        deploy = subprocess.Popen([sys.executable, "-m", "bgctl", "deploy", target, "--bake-time", bake],
                                  cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        # wait4: the exit status and the CPU time of bgctl's whole process tree (python, docker and
        # docker compose CLIs it ran); dockerd/containerd and the new container are metered apart.
        while True:
            pid, status, usage = os.wait4(deploy.pid, os.WNOHANG)
            if pid:
                deploy.returncode = os.waitstatus_to_exitcode(status)
                break
            if time.perf_counter() - started > 300:
                raise SystemExit(f"deploy {target} under load did not finish within 300 s")
            time.sleep(0.05)
        deploy_s, ended_epoch = time.perf_counter() - started, time.time()
        result = wrk.stop()
        log.seek(0)
        output = log.read()
    finally:
        counter.__exit__()
        wrk.kill()
        if deploy is not None and deploy.poll() is None:
            deploy.kill()
            deploy.wait()
    cpu = meter.stop()
    cpu["cores_pct"]["wrk"] = round(100 * result["wrk_cpu_s"] / result["duration_s"], 1)
    deploy_cpu = usage.ru_utime + usage.ru_stime
    cpu["cores_pct"]["bgctl deploy (its process tree)"] = round(100 * deploy_cpu / cpu["wall_s"], 1)
    cpu["cores_pct"]["everything else"] = round(max(0.0, cpu["cores_pct"]["everything else"]
                                                    - cpu["cores_pct"]["bgctl deploy (its process tree)"]), 1)
    result["cpu"] = cpu
    result["deploy_cpu_s"] = round(deploy_cpu, 2)
    after = _upstream_2xx(ctx)
    if deploy.returncode != 0:
        raise SystemExit(f"deploy {target} under load failed (exit {deploy.returncode}): {output[-600:]}")
    # The stage times from the deployment record, as bench/deploy.py reads them.
    status = subprocess.run([sys.executable, "-m", "bgctl", "status", "--json"], cwd=REPO, env=env,
                            capture_output=True, text=True)
    try:
        history = (json.loads(status.stdout).get("deployment") or {}).get("history", [])
        stages = {entry["stage"]: round(entry["seconds"], 3) for entry in history}
    except ValueError:
        history, stages = [], {}
    # Requests/s through the kit in each phase of the command (Envoy's counter, interpolated).
    phases = []
    if history:
        windows = [("bgctl start-up, before the record", started_epoch, history[0]["started"])]
        windows += [(e["stage"], e["started"], e["ended"]) for e in history if e.get("ended")]
        windows += [("after the record, until exit", history[-1]["ended"] or ended_epoch, ended_epoch)]
        for name, a, b in windows:
            rate = counter.rate(a, b)
            phases.append({"phase": name, "seconds": round(b - a, 3),
                           "rps": None if rate is None else round(rate)})
    result.update(
        stages_s=stages,
        phases=phases,
        deployment=f"{production} → {target}, --bake-time {bake}",
        frontend_time_wait=[tw_before, frontend_time_wait(ctx)],
        deploy_command_s=round(deploy_s, 2),
        answered_by={slot: after.get(slot, 0) - before.get(slot, 0) for slot in ("blue", "green")},
    )
    return result


def ensure_production(ctx, env: dict[str, str], slot: str) -> None:
    """Deploy `slot` (bake 0, no traffic sent) when production is elsewhere."""
    if production_slot(ctx) != slot:
        result = subprocess.run([sys.executable, "-m", "bgctl", "deploy", slot, "--bake-time", "0"],
                                cwd=REPO, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"deploy {slot} (back to the start) failed: {result.stderr.strip()}")


def sustained(ctx, *, threads: int, connections: int, duration: float, every: float = 5.0) -> dict:
    """One long run through the kit: requests/s and the frontend's TIME_WAIT count every `every` s."""
    def served() -> int:
        text = requests.get(ctx.settings.admin_url + "/stats?filter=^http.ingress.downstream_rq_total$",
                            timeout=5).text
        return int(text.split(":")[1])

    frontend = sysstat.container(ctx.settings.project_name, "frontend")
    wrk = Wrk(ctx.settings.ingress_url + "/", threads=threads, connections=connections, duration=duration)
    timeline = []
    try:
        last, last_cpu, t0 = served(), sysstat.cpu_seconds(frontend), time.perf_counter()
        while time.perf_counter() - t0 < duration - every / 2:  # (no poll(): wait() needs the child unreaped)
            time.sleep(every)
            now, cpu = served(), sysstat.cpu_seconds(frontend)
            timeline.append({"t_s": round(time.perf_counter() - t0), "rps": round((now - last) / every),
                             "frontend_time_wait": frontend_time_wait(ctx),
                             "frontend_cpu_pct": round(100 * (cpu - last_cpu) / every)})
            last, last_cpu = now, cpu
        result = wrk.wait()
    finally:
        wrk.kill()
    return {"rps": result["rps"], "errors": result["errors"], "duration_s": result["duration_s"],
            "timeline": timeline}


def measure(ctx, env: dict[str, str], direct_port: int, *, threads: int = 2, connections: int = 32,
            duration: float = 10, deploys: int = 1, bake: str = "5s", sustain: float = 0,
            memory: sysstat.MemorySampler | None = None) -> dict:
    """kit, direct, then (deploy, kit) x deploys, each run through the kit from a drained frontend.

    Each deployment's figure is compared with the no-deploy kit run right
    after it, which lasts as long as the deployment did (and with the first
    10 s kit run). Production is brought back to blue (a bake-0 deploy, no
    traffic) while the frontend drains.
    """
    ensure_wrk()
    kit_url = ctx.settings.ingress_url + "/"

    def kit(sampler=None, seconds: float = duration) -> dict:
        return run(ctx, kit_url, ctx.settings.http_port,
                   ["service-connect", "frontend", f"backend-{production_slot(ctx)}"],
                   threads=threads, connections=connections, duration=seconds, memory=sampler)

    out: dict = {"threads": threads, "connections": connections, "drain_below_time_wait": DRAIN_BELOW,
                 "drains": []}
    ensure_production(ctx, env, "blue")
    # Warm-up (Envoy's and nginx's pools): a few sequential requests only.
    for _ in range(50):
        requests.get(kit_url, timeout=5)
    out["drains"].append(drain(ctx))
    kit_runs = [kit(memory)]
    out["direct"] = run(ctx, f"http://127.0.0.1:{direct_port}/", direct_port, [slot_service("blue")],
                        threads=threads, connections=connections, duration=duration)
    during = []
    for _ in range(deploys):
        out["drains"].append(drain(ctx))
        d = under_deploy(ctx, env, threads=threads, connections=connections, bake=bake)
        during.append(d)
        ensure_production(ctx, env, "blue")
        out["drains"].append(drain(ctx))
        # The no-deploy figure over a window as long as the deployment's, from a frontend as
        # drained: a longer window holds more TIME_WAIT sockets, so only equal lengths compare.
        kit_runs.append(kit(seconds=max(duration, round(d["duration_s"]))))
    for i, d in enumerate(during):
        after = kit_runs[i + 1]
        d["baseline_rps"] = after["rps"]
        d["baseline_s"] = after["duration_s"]
        d["ratio_to_kit"] = round(d["rps"] / after["rps"], 3)
        d["ratio_to_first_kit"] = round(d["rps"] / kit_runs[0]["rps"], 3)
    out["kit"] = kit_runs[0]
    out["kit_after_deploys"] = kit_runs[1:]
    out["kit_runs_rps"] = [r["rps"] for r in kit_runs]
    out["kit_runs_errors"] = [r["errors"] for r in kit_runs]
    out["kit_rps_median"] = statistics.median(out["kit_runs_rps"])
    out["during_deploy"] = during
    if during:
        out["during_deploy_ratio_median"] = statistics.median(d["ratio_to_kit"] for d in during)
    out["direct_over_kit"] = round(out["direct"]["rps"] / out["kit"]["rps"], 1)
    if sustain > 0:
        out["drains"].append(drain(ctx))
        out["sustained"] = sustained(ctx, threads=threads, connections=connections, duration=sustain)
    return out
