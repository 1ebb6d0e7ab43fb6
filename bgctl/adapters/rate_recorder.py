"""Recording each slot's request rate while a bgctl runs a deployment, for `bgctl describe --chart`.

A background thread reads every slot's Envoy counters about twice a second
(one admin query on Envoy's Unix socket: no Docker call, no process) and
appends them to the deployment's sample file. It records only a deployment in
progress, plus one last sample when it finishes; it stops when the verb's
work ends (finished, paused, failed or interrupted), with one last sample.

A recorder must never hurt the deployment it watches: a read or write that
fails ends the current segment (the chart shows a gap there) and sampling
goes on.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Mapping

from bgctl.adapters.sample_file import SampleFile
from bgctl.core.deployment import Deployment
from bgctl.core.errors import BgctlError
from bgctl.core.slot_rates import Sample

INTERVAL = 0.5  # seconds between samples
# Until there is a deployment to record (the verb is still checking), it looks this often,
# so that the first sample is taken within moments of the deployment's creation.
IDLE_POLL = 0.05
# The join at the end waits for a sample under way, which an Envoy that stopped answering bounds.
STOP_WAIT = 5.0

ReadCounters = Callable[[], Mapping[str, Mapping[str, int]]]


class RateRecorder:
    """`with RateRecorder(...):` around the Deployer's work."""

    def __init__(self, read: ReadCounters, file_for: Callable[[str], SampleFile],
                 current: Callable[[], Deployment | None], *, interval: float = INTERVAL,
                 clock: Callable[[], float] = time.time) -> None:
        self.read = read
        self.file_for = file_for
        self.current = current
        self.interval = interval
        self.clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bgctl-rate-recorder", daemon=True)
        self._lock = threading.Lock()  # the thread's samples and the last one, taken by the caller
        self._file: SampleFile | None = None
        self._deployment_id: str | None = None
        self._segment = 0

    def __enter__(self) -> "RateRecorder":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(STOP_WAIT)
        if not self._thread.is_alive():
            self.sample()  # the deployment's last moment in this bgctl
        with self._lock:
            self._close()

    def sample(self) -> bool:
        """Read the counters and append them to the current deployment's file, if it is one to record;
        whether it was."""
        with self._lock:
            d = self.current()
            if d is None or (d.finished_ and d.id != self._deployment_id):
                return False  # nothing runs, or a deployment that ended before this bgctl: not ours to record
            try:
                self._append(d, self.read())
            except (BgctlError, OSError, ValueError):
                self._segment += 1  # a gap: no rate is computed across it
            if d.finished_:
                # Its last sample is written: later ticks find it finished, and not ours, and skip it.
                self._close()
                self._deployment_id = None
            return True

    def _append(self, d: Deployment, counters: Mapping[str, Mapping[str, int]]) -> None:
        if self._deployment_id != d.id:
            self._close()
            self._file = self.file_for(d.id)
            self._segment = self._file.open()
            self._deployment_id = d.id
        assert self._file is not None
        if self._file.append(Sample(self.clock(), counters, self._segment)):
            self.interval *= 2  # thinned to half: sample half as often from now on

    def _run(self) -> None:
        while True:
            recorded = self.sample()
            if self._stop.wait(self.interval if recorded else IDLE_POLL):
                return

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = None
