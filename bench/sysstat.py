"""Reading CPU time and memory of containers and host processes without `docker exec`.

A container's figures come from its cgroup (v1 or v2, found through
/proc/<pid>/cgroup of its main process), falling back to `docker stats`
(memory only) when the cgroup files are not readable. Host processes (the
load generator, docker-proxy, dockerd, containerd shims) are read from /proc.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

CGROOT = Path("/sys/fs/cgroup")
MIB = 1024 * 1024
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Container:
    service: str
    name: str
    pid: int
    id: str


def container(project: str, service: str) -> Container | None:
    name = f"{project}-{service}-1"
    result = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}} {{.Id}}", name],
                            capture_output=True, text=True)
    fields = result.stdout.split()
    if result.returncode != 0 or len(fields) != 2 or not fields[0].isdigit() or int(fields[0]) == 0:
        return None
    return Container(service, name, int(fields[0]), fields[1])


def _cgroup_dir(pid: int, controller: str) -> Path | None:
    """The cgroup directory of `pid` for `controller` (v1), or its unified (v2) directory."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    unified = None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            for mount in (controllers, controller):
                candidate = CGROOT / mount / path.lstrip("/")
                if candidate.is_dir():
                    return candidate
        if controllers == "":
            unified = CGROOT / path.lstrip("/")
    if unified is not None and (unified / "cgroup.controllers").exists():
        return unified
    return None


def cpu_seconds(c: Container) -> float | None:
    """Total CPU time used by the container's cgroup so far."""
    d = _cgroup_dir(c.pid, "cpuacct")
    if d is None:
        return None
    if (d / "cpuacct.usage").exists():
        return int((d / "cpuacct.usage").read_text()) / 1e9
    if (d / "cpu.stat").exists():
        for line in (d / "cpu.stat").read_text().splitlines():
            key, value = line.split()
            if key == "usage_usec":
                return int(value) / 1e6
    return None


def memory(c: Container) -> dict[str, float] | None:
    """MiB: rss = anonymous resident memory; usage = what `docker stats` shows (usage − inactive file cache)."""
    d = _cgroup_dir(c.pid, "memory")
    if d is not None:
        stat = {}
        for line in (d / "memory.stat").read_text().splitlines():
            key, value = line.split()
            stat[key] = int(value)
        if (d / "memory.usage_in_bytes").exists():  # cgroup v1
            usage = int((d / "memory.usage_in_bytes").read_text())
            rss, inactive = stat.get("total_rss", stat.get("rss", 0)), stat.get("total_inactive_file", 0)
        else:  # cgroup v2
            usage = int((d / "memory.current").read_text())
            rss, inactive = stat.get("anon", 0), stat.get("inactive_file", 0)
        return {"rss_mib": rss / MIB, "usage_mib": max(0, usage - inactive) / MIB}
    return docker_stats_memory(c.name)


def docker_stats_memory(name: str) -> dict[str, float] | None:
    result = subprocess.run(["docker", "stats", "--no-stream", "--format", "{{json .}}", name],
                            capture_output=True, text=True)
    if result.returncode != 0 or not result.stdout.strip():
        return None
    used = json.loads(result.stdout.splitlines()[0])["MemUsage"].split("/")[0].strip()
    units = {"B": 1, "KiB": 1024, "MiB": MIB, "GiB": 1024 * MIB}
    for unit in sorted(units, key=len, reverse=True):
        if used.endswith(unit):
            return {"rss_mib": None, "usage_mib": float(used[: -len(unit)]) * units[unit] / MIB}
    return None


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of one host process (its threads included)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def pids_where(predicate) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if predicate(comm, cmdline):
            found.append(int(entry.name))
    return found


def docker_proxy_pids(port: int) -> list[int]:
    return pids_where(lambda comm, cmd: comm == "docker-proxy" and f"-host-port {port} " in cmd + " ")


def docker_daemon_pids() -> list[int]:
    return pids_where(lambda comm, cmd: comm in ("dockerd", "containerd") or comm.startswith("containerd-shim"))


def all_processes() -> dict[int, tuple[str, float, str, int]]:
    """pid → (comm, CPU seconds so far, cgroup path, parent pid) of every process on the machine."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            cgroup = (entry / "cgroup").read_text()
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
        found[int(entry.name)] = (comm, cpu, cgroup, int(fields[1]))
    return found


def _descends_from(pid: int, ancestor: int, procs: dict) -> bool:
    for _ in range(64):
        if pid == ancestor:
            return True
        if pid not in procs or pid <= 1:
            return False
        pid = procs[pid][3]
    return False


def machine_busy_seconds() -> tuple[float, float, float]:
    """(busy, total, irq+softirq) CPU seconds of the whole machine so far, all cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK, (values[5] + values[6]) / CLK_TCK


class CpuMeter:
    """CPU seconds used between start() and stop() by containers, host process groups and the machine."""

    def __init__(self, containers: list[Container], host_groups: dict[str, list[int]]) -> None:
        self.containers = containers
        self.host_groups = host_groups
        self.excluded: set[int] = set()

    def exclude(self, pid: int) -> None:
        """A process measured otherwise (the load generator): left out of top_others."""
        self.excluded.add(pid)

    def _read(self) -> dict[str, float]:
        now = {}
        for c in self.containers:
            value = cpu_seconds(c)
            if value is not None:
                now[c.service] = value
        for label, pids in self.host_groups.items():
            now[label] = sum(process_cpu_seconds(p) for p in pids)
        busy, total, irq = machine_busy_seconds()
        now["machine (all)"] = busy
        now["kernel irq+softirq (all)"] = irq  # packet processing (veth, bridge, netfilter) mostly
        now["_total"] = total
        return now

    def start(self) -> None:
        self._procs = all_processes()
        self._t0, self._before = time.perf_counter(), self._read()

    def stop(self) -> dict:
        after, wall = self._read(), time.perf_counter() - self._t0
        used = {k: after[k] - self._before[k] for k in after if k in self._before and k != "_total"}
        if "machine (all)" in used:
            ours = sum(v for k, v in used.items() if k != "machine (all)")
            used["everything else"] = max(0.0, used["machine (all)"] - ours)
        return {"wall_s": round(wall, 2),
                "cores_pct": {k: round(100 * v / wall, 1) for k, v in used.items()},
                "top_others_pct": self._top_others(wall)}

    def _top_others(self, wall: float, n: int = 5) -> dict[str, float]:
        """The biggest CPU users outside the groups above (other work on the machine, the kernel, this bench)."""
        ours = {p for pids in self.host_groups.values() for p in pids} | self.excluded | {os.getpid()}
        ids = [c.id for c in self.containers]
        by_comm: dict[str, float] = {}
        procs = all_processes()
        for pid, (comm, cpu, cgroup, _) in procs.items():
            if pid in ours or any(i in cgroup for i in ids):
                continue
            before = self._procs.get(pid)
            delta = cpu - (before[1] if before and before[0] == comm else 0.0)
            if delta > 0:
                label = f"{comm} (bench's child)" if _descends_from(pid, os.getpid(), procs) else comm
                by_comm[label] = by_comm.get(label, 0.0) + delta
        top = sorted(by_comm.items(), key=lambda kv: kv[1], reverse=True)[:n]
        return {comm: round(100 * v / wall, 1) for comm, v in top if v / wall >= 0.01}


class MemorySampler:
    """Samples containers' memory every `interval` s in a thread; keeps the maximum of each figure."""

    def __init__(self, project: str, services: list[str], interval: float = 0.5) -> None:
        self.project, self.services, self.interval = project, services, interval
        self.peak: dict[str, dict[str, float]] = {}
        self._containers: dict[str, Container | None] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        for service in self.services:
            c = self._containers.get(service)
            if c is None or not Path(f"/proc/{c.pid}").exists():  # (re)started: look it up again
                c = self._containers[service] = container(self.project, service)
            m = memory(c) if c else None
            if not m:
                continue
            peak = self.peak.setdefault(service, {})
            for key, value in m.items():
                if value is not None:
                    peak[key] = max(peak.get(key, 0.0), value)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
