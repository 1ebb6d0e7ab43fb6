"""Memory of the Envoy container and each nginx container, idle and under load.

Read from each container's cgroup (memory.stat / memory.usage_in_bytes on
cgroup v1, memory.current on v2; no `docker exec`), falling back to `docker
stats --no-stream`. Two figures per container, in MiB:
  rss   — anonymous resident memory (the processes' own heap/stacks);
  usage — what `docker stats` shows: cgroup usage minus inactive file cache.
"Under load" is the peak of samples taken every 0.5 s during the wrk run
through the kit (bench.throughput's `kit` run, or a run of its own).
"""

from __future__ import annotations

from bench import sysstat
from bgctl.core.topology import ENVOY_SERVICE, FRONTEND_SERVICE, slot_service

SERVICES = [ENVOY_SERVICE, FRONTEND_SERVICE, slot_service("blue"), slot_service("green")]


def idle(ctx) -> dict:
    out = {}
    for service in SERVICES:
        c = sysstat.container(ctx.settings.project_name, service)
        m = sysstat.memory(c) if c else None
        if m:
            out[service] = {k: round(v, 1) for k, v in m.items() if v is not None}
    return out


def sampler(ctx) -> sysstat.MemorySampler:
    return sysstat.MemorySampler(ctx.settings.project_name, SERVICES)


def result(idle_figures: dict, sampled: sysstat.MemorySampler) -> dict:
    return {
        "idle": idle_figures,
        "under_load": {s: {k: round(v, 1) for k, v in m.items()} for s, m in sampled.peak.items()},
    }


def measure(ctx, *, threads: int = 2, connections: int = 32, duration: float = 10) -> dict:
    """Standalone: idle figures, then a wrk run through the kit of its own."""
    from bench import throughput

    idle_figures = idle(ctx)
    sampled = sampler(ctx)
    throughput.ensure_wrk()
    throughput.run(ctx, ctx.settings.ingress_url + "/", ctx.settings.http_port, [],
                   threads=threads, connections=connections, duration=duration, memory=sampled)
    return result(idle_figures, sampled)
