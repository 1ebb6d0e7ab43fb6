"""Route switch latency: publish → confirmed live in Envoy, and → first response from the new slot.

Production flips between blue and green (both running) through the real
stack. For each switch, one thread publishes while the main thread sends
requests through the ingress in a tight loop, timing the first answer from
the new slot. Both delivery paths are measured: the host-side rename and the
in-container write (what Docker Desktop needs).
"""

from __future__ import annotations

import statistics
import threading
import time

import requests

from bgctl.core.traffic import TrafficState
from bgctl.core.state import State

BODY = {"blue": "Hello from BACKEND BLUE", "green": "Hello from BACKEND GREEN (v2.0)"}


def measure(ctx, switches: int) -> dict:
    ctx.stack.up(["backend-green"])
    session = requests.Session()
    url = ctx.settings.ingress_url + "/"
    results = {}
    for delivery in ("host-rename", "container"):
        state = ctx.state_file.load()
        state = State(state.traffic, state.routes_version, delivery)
        publisher = ctx.publisher(state)
        confirm, first = [], []
        for i in range(switches):
            target = "green" if i % 2 == 0 else "blue"
            done = {}

            def publish() -> None:
                started = time.perf_counter()
                done["publication"] = publisher.publish(TrafficState(target))
                done["confirm"] = time.perf_counter() - started

            started = time.perf_counter()
            worker = threading.Thread(target=publish)
            worker.start()
            while session.get(url, timeout=5).text != BODY[target]:
                pass
            first.append(time.perf_counter() - started)
            worker.join()
            confirm.append(done["confirm"])
            assert done["publication"].delivery == delivery
        results[delivery] = {"confirm": summary(confirm), "first_response": summary(first), "n": switches}
        ctx.state_file.save(State(TrafficState("blue" if switches % 2 == 0 else "green"),
                                  done["publication"].version, "host-rename"))
    return results


def summary(seconds: list[float]) -> dict:
    ms = sorted(s * 1000 for s in seconds)
    return {
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2),
        "max_ms": round(ms[-1], 2),
    }
