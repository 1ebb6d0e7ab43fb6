"""Route switch latency: publish → confirmed live in Envoy, and → first response from the new slot.

Production flips between blue and green (both running) through the real
stack. For each switch the publisher runs here while a client in another
process sends requests through the ingress in a tight loop and reports when
the first answer from the new slot came back (perf_counter is the system's
monotonic clock, the same in both processes). The client is a process of its
own because that is how it is in use — bgctl publishes, callers are
elsewhere — and a client thread in the publishing process would make the
publisher wait for the GIL (up to its 5 ms switch interval), measuring Python
rather than the switch. Both delivery paths are measured: the host-side
rename and the in-container write (what Docker Desktop needs).
"""

from __future__ import annotations

import multiprocessing
import statistics
import time

import requests

from bgctl.core.state import State
from bgctl.core.topology import slot_service
from bgctl.core.traffic import TrafficState

BODY = {"blue": "Hello from BACKEND BLUE", "green": "Hello from BACKEND GREEN (v2.0)"}


def _client(url: str, conn) -> None:
    """Told a body to wait for, polls until it answers, sends back when."""
    session = requests.Session()
    while (body := conn.recv()) is not None:
        while session.get(url, timeout=5).text != body:
            pass
        conn.send(time.perf_counter())


def measure(ctx, switches: int) -> dict:
    ctx.stack.up([slot_service("green")])
    ours, theirs = multiprocessing.get_context("spawn").Pipe()
    client = multiprocessing.get_context("spawn").Process(
        target=_client, args=(ctx.settings.ingress_url + "/", theirs), daemon=True)
    client.start()
    results = {}
    try:
        for delivery in ("host-rename", "container"):
            state = ctx.state_file.load()
            state = State(state.traffic, state.routes_version, delivery)
            publisher = ctx.publisher(state)
            confirm, first = [], []
            for i in range(switches):
                target = "green" if i % 2 == 0 else "blue"
                ours.send(BODY[target])
                started = time.perf_counter()
                publication = publisher.publish(TrafficState(target))
                confirm.append(time.perf_counter() - started)
                first.append(ours.recv() - started)
                assert publication.delivery == delivery
            results[delivery] = {"confirm": summary(confirm), "first_response": summary(first), "n": switches}
            ctx.state_file.save(State(TrafficState("blue" if switches % 2 == 0 else "green"),
                                      publication.version, "host-rename"))
    finally:
        ours.send(None)
        client.join(10)
    return results


def summary(seconds: list[float]) -> dict:
    ms = sorted(s * 1000 for s in seconds)
    return {
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2),
        "max_ms": round(ms[-1], 2),
    }
