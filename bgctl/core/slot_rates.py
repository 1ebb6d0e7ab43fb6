"""Requests per second per slot, from samples of Envoy's per-cluster counters.

Pure: `bgctl watch` turns its last two samples into rates; the deployment
chart turns the samples bgctl recorded while it ran a deployment into a series
per slot. A sample is also one line of `<id>.samples.jsonl` (adapters/sample_file.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from bgctl.core.topology import SLOTS

# The counters bgctl reads per slot (its Envoy cluster): requests, 5xx answers,
# requests in flight (a gauge), connections that could not be made.
COUNTERS = ("upstream_rq_total", "upstream_rq_5xx", "upstream_rq_active", "upstream_cx_connect_fail")
# Counters that only grow while Envoy runs: one that went down means Envoy restarted.
_CUMULATIVE = ("upstream_rq_total", "upstream_rq_5xx", "upstream_cx_connect_fail")


@dataclass(frozen=True)
class Sample:
    """Envoy's counters per slot at `at` (seconds: monotonic for `watch`, epoch when recorded).

    `segment` numbers a run of samples taken one after the other by one sampler;
    no rate is computed across two segments (no bgctl ran in between, or Envoy
    did not answer).
    """

    at: float
    counters: Mapping[str, Mapping[str, int]]
    segment: int = 0

    def to_dict(self) -> dict:
        return {"at": round(self.at, 3), "segment": self.segment,
                "counters": {slot: dict(values) for slot, values in self.counters.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> "Sample":
        counters = {str(slot): {str(name): int(value) for name, value in values.items()}
                    for slot, values in data["counters"].items()}
        return cls(float(data["at"]), counters, int(data.get("segment", 0)))


@dataclass(frozen=True)
class SlotRates:
    rps: float
    errors_per_s: float  # 5xx answers and failed connections
    active: int

    def to_dict(self) -> dict:
        return {"rps": round(self.rps, 1), "errors_per_s": round(self.errors_per_s, 1), "active": self.active}


def _delta(before: Mapping[str, int], after: Mapping[str, int], name: str) -> int:
    # A counter that went down means Envoy restarted: nothing is known about the interval.
    return max(0, int(after.get(name, 0)) - int(before.get(name, 0)))


def rates(before: Sample, after: Sample, slots: Sequence[str] = SLOTS) -> dict[str, SlotRates]:
    """Per slot: requests and errors per second between the two samples, and the requests in flight now."""
    elapsed = after.at - before.at
    result = {}
    for slot in slots:
        b, a = before.counters.get(slot, {}), after.counters.get(slot, {})
        if elapsed <= 0:
            rps = errors = 0.0
        else:
            rps = _delta(b, a, "upstream_rq_total") / elapsed
            errors = (_delta(b, a, "upstream_rq_5xx") + _delta(b, a, "upstream_cx_connect_fail")) / elapsed
        result[slot] = SlotRates(rps, errors, int(a.get("upstream_rq_active", 0)))
    return result


def continuous(before: Sample, after: Sample) -> bool:
    """Whether a rate between the two samples means anything: same segment, time went forward,
    and no counter went down (Envoy did not restart in between)."""
    if before.segment != after.segment or after.at <= before.at:
        return False
    for slot in set(before.counters) & set(after.counters):
        b, a = before.counters[slot], after.counters[slot]
        if any(int(a.get(name, 0)) < int(b.get(name, 0)) for name in _CUMULATIVE):
            return False
    return True


def thinned(samples: Sequence[Sample]) -> list[Sample]:
    """Every other sample of each segment, keeping each segment's first and last.

    Counters are cumulative, so a rate between the samples kept is the average
    over the samples dropped: a long deployment's file stays bounded and still
    covers the whole deployment, at a coarser grain.
    """
    kept: list[Sample] = []
    position = 0
    for i, sample in enumerate(samples):
        position = 0 if i == 0 or samples[i - 1].segment != sample.segment else position + 1
        last = i + 1 == len(samples) or samples[i + 1].segment != sample.segment
        if last or position % 2 == 0:
            kept.append(sample)
    return kept
