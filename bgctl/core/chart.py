"""What the deployment chart shows: requests per second per slot over the deployment's time, its stages.

Pure: from the deployment's kept record and the samples of Envoy's counters
that bgctl recorded while it ran the deployment (core/slot_rates.Sample, at
epoch seconds, as the record's times) to `ChartData`, in seconds since the
deployment began; core/chart_svg.py draws it.

What it holds, and why:
- per slot, runs of rates between consecutive samples of a segment; where no
  rate is known (no bgctl ran, Envoy did not answer or restarted) a run ends
  and the time is a gap — "paused" when no stage ran then — rather than a
  rate of zero that nobody measured;
- 5xx answers and failed connections per second with each rate;
- a marker where each stage began (those that took no time and ran no hook
  are "minor": drawn without a name, or the names would hide each other), where
  the rollback began, and the end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

from bgctl.core.deployment import Deployment
from bgctl.core.ecs_records import KeptDeployment
from bgctl.core.slot_rates import Sample, continuous, rates
from bgctl.core.stages import ROLLBACK_HOOK_STAGES, Stage
from bgctl.core.topology import SLOTS

# The stages whose start is always named: where something happens to the traffic or the tasks.
MAIN_STAGES = frozenset({Stage.RECONCILE_SERVICE, Stage.SCALE_UP, Stage.TEST_TRAFFIC_SHIFT,
                         Stage.PRODUCTION_TRAFFIC_SHIFT, Stage.BAKE_TIME, Stage.CLEAN_UP})
# A stage that took less than this, ran no hook and did not pause is "minor": a faint line, no name.
MINOR_SECONDS = 1.0
# A gap is a pause when no stage ran during it but for this much at either end.
PAUSE_TOLERANCE = 0.25
# Samples closer together than this are merged: over a few milliseconds (the last sample of a
# bgctl is taken when its work ends, whenever the one before was) a rate is mostly noise.
MIN_INTERVAL = 0.2
# At most about this many rates per line: a long deployment's are averaged over longer intervals
# (counters are cumulative, so that is merely leaving samples out) rather than drawn as a scribble.
MAX_POINTS = 300


@dataclass(frozen=True)
class Point:
    """The rates between two consecutive samples, at the middle of their interval."""

    at: float  # seconds since the deployment began
    rps: float
    errors: float  # 5xx answers and failed connections per second
    since: float  # the interval's ends: a line's first and last rates reach them, so that
    until: float  # the line meets the gap beside it rather than stop half an interval short


@dataclass(frozen=True)
class Marker:
    at: float  # seconds since the deployment began
    label: str
    # "stage" (one of MAIN_STAGES), "other" (a stage that ran hooks, paused or took time), "minor"
    # (the rest: no name is drawn), "rollback" or "end".
    kind: str
    detail: str = ""


@dataclass(frozen=True)
class Gap:
    """A time without samples; `paused` when no stage ran then either (the deployment waited for
    `bgctl continue`), rather than a bgctl that was stopped or an Envoy that did not answer."""

    start: float
    end: float
    paused: bool = False


@dataclass(frozen=True)
class ChartData:
    """What the picture shows, in seconds since the deployment began."""

    title: str
    span: float
    series: dict[str, tuple[tuple[Point, ...], ...]]  # per slot, its runs of points with no gap inside
    markers: tuple[Marker, ...]
    gaps: tuple[Gap, ...]
    requests: dict[str, int]
    errors: dict[str, int]


def origin(d: Deployment, samples: Sequence[Sample] = ()) -> float:
    """Time 0 of the chart: when the deployment was created."""
    if d.created:
        return d.created
    if d.history:
        return d.history[0].started
    return samples[0].at if samples else 0.0


def chart_data(k: KeptDeployment, samples: Sequence[Sample]) -> ChartData:
    d = k.deployment
    ordered = sorted(samples, key=lambda s: (s.segment, s.at))
    t0 = origin(d, ordered)
    marks = markers(k)
    ends = [m.at for m in marks] + [s.at - t0 for s in ordered[-1:]] + [d.finished - t0 if d.finished else 0.0]
    span = max([1.0] + ends)
    samples = _spaced(ordered, max(MIN_INTERVAL, span / MAX_POINTS))
    series: dict[str, list[list[Point]]] = {slot: [] for slot in _slots(samples)}
    requests = {slot: 0 for slot in series}
    errors = {slot: 0 for slot in series}
    gaps: list[Gap] = []
    for before, after in zip(samples, samples[1:]):
        if not continuous(before, after):
            gaps.append(Gap(before.at - t0, after.at - t0))
            for runs in series.values():
                runs.append([])
            continue
        since, until = before.at - t0, after.at - t0
        elapsed = after.at - before.at
        for slot, rate in rates(before, after, slots=tuple(series)).items():
            runs = series[slot]
            if not runs:
                runs.append([])
            runs[-1].append(Point((since + until) / 2, rate.rps, rate.errors_per_s, since, until))
            requests[slot] += round(rate.rps * elapsed)
            errors[slot] += round(rate.errors_per_s * elapsed)
    if samples:
        if samples[0].at - t0 > 0:
            gaps.insert(0, Gap(0.0, samples[0].at - t0))
        if span - (samples[-1].at - t0) > 0:
            gaps.append(Gap(samples[-1].at - t0, span))
    else:
        gaps.append(Gap(0.0, span))
    return ChartData(
        title=_title(d),
        span=span,
        series={slot: tuple(tuple(run) for run in runs if run) for slot, runs in series.items()},
        markers=tuple(marks),
        gaps=tuple(replace(g, paused=_paused(d, t0, g)) for g in gaps if g.end > g.start),
        requests=requests,
        errors=errors,
    )


def markers(k: KeptDeployment) -> list[Marker]:
    """Where each stage began, the rollback (and its traffic-shift hooks), and the end."""
    d = k.deployment
    t0 = origin(d)
    found: list[Marker] = []
    seen: dict[Stage, int] = {}
    for record in d.history:
        seen[record.stage] = seen.get(record.stage, 0) + 1
        label = record.stage.value + (f" (step {seen[record.stage]})" if seen[record.stage] > 1 else "")
        took = None if record.ended is None else record.ended - record.started
        detail = f"{label} began at {record.started - t0:.1f} s" + (f", took {took:.1f} s" if took is not None else "")
        minor = (record.stage not in MAIN_STAGES and not d.hooks_at(record.stage) and d.pause_at != record.stage
                 and took is not None and took < MINOR_SECONDS)
        kind = "stage" if record.stage in MAIN_STAGES else "minor" if minor else "other"
        found.append(Marker(record.started - t0, label, kind, detail))
    rollback_started = d.rollback_started or k.rollback_started
    if rollback_started:
        found.append(Marker(rollback_started - t0, "ROLLBACK", "rollback", d.reason or "rollback"))
    for stage in ROLLBACK_HOOK_STAGES:
        starts = [e.started for e in d.hook_executions if e.rollback and e.stage == stage]
        if starts:
            found.append(Marker(min(starts) - t0, f"ROLLBACK {stage.value}", "rollback",
                                f"the {stage.value} hooks again, during the rollback"))
    if d.finished_ and d.finished:
        found.append(Marker(d.finished - t0, d.status.value, "end", f"{d.status.value} at {d.finished - t0:.1f} s"))
    return sorted(found, key=lambda m: m.at)


def _title(d: Deployment) -> str:
    status = d.status.value + (f", paused after {d.stage.value}" if d.paused and not d.finished_ else "")
    strategy = d.shift.strategy.value
    return f"{d.id}: {d.source} → {d.target} ({strategy}), {status}"


def _paused(d: Deployment, t0: float, gap: Gap) -> bool:
    """Whether no stage ran during `gap` (a stage running, or ended a moment after it began, is no pause)."""
    if d.finished_ and d.finished is not None and gap.start >= d.finished - t0 - PAUSE_TOLERANCE:
        return False
    for r in d.history:
        ended = math.inf if r.ended is None else r.ended - t0
        if r.started - t0 < gap.end - PAUSE_TOLERANCE and ended > gap.start + PAUSE_TOLERANCE:
            return False
    return gap.end - gap.start > 2 * PAUSE_TOLERANCE and bool(d.history) and gap.start >= d.history[0].started - t0


def _spaced(samples: list[Sample], interval: float) -> list[Sample]:
    """`samples` without those less than `interval` after the one kept before them; a segment's
    last sample is kept rather than the one before it, so that the segment still ends where it ended."""
    kept: list[Sample] = []
    for i, sample in enumerate(samples):
        last = i + 1 == len(samples) or samples[i + 1].segment != sample.segment
        if kept and kept[-1].segment == sample.segment and sample.at - kept[-1].at < interval:
            if not last:
                continue
            first = len(kept) == 1 or kept[-2].segment != sample.segment
            if not first:
                kept.pop()
        kept.append(sample)
    return kept


def _slots(samples: Sequence[Sample]) -> tuple[str, ...]:
    extra = sorted({slot for s in samples for slot in s.counters} - set(SLOTS))
    return SLOTS + tuple(extra)


