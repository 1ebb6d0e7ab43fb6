"""Background traffic through the ingress, every answer kept with the stage it started in.

Used by `bgctl demo` (and the benchmarks) to show that a deployment drops no
request: some clients keep their connection alive, others open a new one per
request, as real callers do.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass

import requests


@dataclass(frozen=True)
class Answer:
    started: float
    ended: float
    label: str  # the stage (or phase) when the request started
    slot: str  # blue, green, other, or "failed"
    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.error is None


def slot_of(body: str) -> str:
    if "BLUE" in body:
        return "blue"
    if "GREEN" in body:
        return "green"
    return "other"


class Traffic:
    """`clients` threads; even-numbered ones keep a connection alive, odd ones reconnect each time."""

    def __init__(self, url: str, *, clients: int = 4, headers: dict[str, str] | None = None,
                 pause: float = 0.01, timeout: float = 20.0) -> None:
        self.url = url
        self.clients = clients
        self.headers = headers or {}
        self.pause = pause
        self.timeout = timeout
        self.label = "before"
        self.answers: list[Answer] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, args=(i % 2 == 0,), daemon=True)
                         for i in range(clients)]

    def __enter__(self) -> "Traffic":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)

    def _client(self, keep_alive: bool) -> None:
        session = requests.Session() if keep_alive else None
        while not self._stop.is_set():
            label, started = self.label, time.monotonic()
            try:
                getter = session.get if session else requests.get
                headers = self.headers if session else {**self.headers, "Connection": "close"}
                response = getter(self.url, headers=headers, timeout=self.timeout)
                answer = Answer(started, time.monotonic(), label,
                                slot_of(response.text) if response.status_code == 200 else "failed",
                                response.status_code)
            except requests.RequestException as exc:
                answer = Answer(started, time.monotonic(), label, "failed", None, type(exc).__name__)
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
