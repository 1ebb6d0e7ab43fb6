"""Background traffic through the ingress, every answer kept with the stage it started in.

Used by `bgctl demo`, the zero-downtime tests and the benchmarks to show that
a deployment drops no request: some clients keep their connection alive,
others open a new one per request, as real callers do.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Sequence

import requests


@dataclass(frozen=True)
class Client:
    keep_alive: bool = True
    headers: dict[str, str] = field(default_factory=dict)
    path: str = "/"
    start_after: float = 0.0  # seconds, to stagger slow clients
    name: str = ""


@dataclass(frozen=True)
class Answer:
    started: float
    ended: float
    label: str  # the stage (or phase) when the request started
    slot: str  # blue, green, other, or "failed"
    status: int | None
    error: str | None = None
    client: str = ""
    path: str = "/"
    tagged: bool = False

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.error is None


def slot_of(body: str) -> str:
    if "BLUE" in body:
        return "blue"
    if "GREEN" in body:
        return "green"
    return "other"


def mixed_clients(count: int) -> list[Client]:
    """Even-numbered clients keep a connection alive, odd ones reconnect each time."""
    return [Client(keep_alive=i % 2 == 0, name=f"c{i}") for i in range(count)]


class Traffic:
    def __init__(self, base_url: str, clients: Sequence[Client] | int = 4, *, pause: float = 0.01,
                 timeout: float = 20.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.base_url = base_url.rstrip("/")
        self.clients = mixed_clients(clients) if isinstance(clients, int) else list(clients)
        self.pause = pause
        self.timeout = timeout
        self.clock = clock
        self.label = "before"
        self.answers: list[Answer] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(c,), daemon=True) for c in self.clients]

    def __enter__(self) -> "Traffic":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)

    def _run(self, client: Client) -> None:
        if self._stop.wait(client.start_after):
            return
        session = requests.Session() if client.keep_alive else None
        url = self.base_url + client.path
        headers = client.headers if session else {**client.headers, "Connection": "close"}
        while not self._stop.is_set():
            label, started = self.label, self.clock()
            try:
                response = (session.get if session else requests.get)(url, headers=headers, timeout=self.timeout)
                slot = slot_of(response.text) if response.status_code == 200 else "failed"
                answer = Answer(started, self.clock(), label, slot, response.status_code, None,
                                client.name, client.path, bool(client.headers))
            except requests.RequestException as exc:
                answer = Answer(started, self.clock(), label, "failed", None, type(exc).__name__,
                                client.name, client.path, bool(client.headers))
            with self._lock:
                self.answers.append(answer)
            if self.pause:
                time.sleep(self.pause)

    def failures(self) -> list[Answer]:
        return [a for a in self.answers if not a.ok]

    def by_label(self) -> dict[str, Counter]:
        """label → Counter of slots (and "failed"), in the order labels were first seen."""
        table: dict[str, Counter] = {}
        for answer in sorted(self.answers, key=lambda a: a.started):
            table.setdefault(answer.label, Counter())[answer.slot] += 1
        return table
