"""A picture of one deployment: requests per second per slot over its time, its stages marked.

Pure: from the deployment's kept record and the samples of Envoy's counters
that bgctl recorded while it ran the deployment (core/slot_rates.Sample, at
epoch seconds, as the record's times) to an SVG document. The SVG is written
by hand — a few dozen elements — so that it needs no plotting library.

What it shows, and why:
- one line per slot, rates between consecutive samples of a segment, drawn at
  the middle of their interval; where no rate is known (no bgctl ran, Envoy did
  not answer or restarted) the line stops and the time is shaded "not
  recorded", rather than drawn as zero;
- 5xx answers and failed connections as red dots on the slot's line;
- a vertical line where each stage began, with its name above the plot;
  stages that took no time and ran no hook get a faint line and no name, or
  the names would hide each other; the rollback and the end are marked too.
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

SLOT_COLOURS = {"blue": "#2563eb", "green": "#16a34a"}
OTHER_COLOUR = "#7c3aed"
ERROR_COLOUR = "#dc2626"
GAP_COLOUR = "#f1f5f9"
MARKER_COLOURS = {"stage": "#475569", "minor": "#cbd5e1", "rollback": ERROR_COLOUR, "end": "#0f172a"}
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

WIDTH = 960
PLOT_HEIGHT = 300
LEFT, RIGHT = 64, 28
LANES_TOP = 64
LANE_HEIGHT = 15
MAX_LANES = 5
LABEL_FONT = 10  # monospace: each character is 0.6 em wide, so label widths are known here
LABEL_CHAR = 0.6 * LABEL_FONT
SANS = "Helvetica, Arial, sans-serif"
MONO = "Menlo, Consolas, 'DejaVu Sans Mono', monospace"


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
    kind: str  # "stage", "minor", "rollback" or "end"
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
    samples = _spaced(sorted(samples, key=lambda s: (s.segment, s.at)))
    t0 = origin(d, samples)
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
    marks = markers(k)
    ends = [m.at for m in marks] + [s.at - t0 for s in samples[-1:]] + [d.finished - t0 if d.finished else 0.0]
    span = max([1.0] + ends)
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
        found.append(Marker(record.started - t0, label, "minor" if minor else "stage", detail))
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


def render_chart(k: KeptDeployment, samples: Sequence[Sample]) -> str:
    """The SVG document (UTF-8 text)."""
    return _Drawing(chart_data(k, samples)).svg()


# -- drawing ------------------------------------------------------------------------------


class _Drawing:
    def __init__(self, data: ChartData) -> None:
        self.data = data
        self.labels = self._lay_out_labels()
        lanes = max((lane for lane, _ in self.labels.values()), default=-1) + 1
        self.plot_top = LANES_TOP + max(lanes, 1) * LANE_HEIGHT + 8
        self.plot_bottom = self.plot_top + PLOT_HEIGHT
        self.height = self.plot_bottom + 78
        peak = max([p.rps for runs in data.series.values() for run in runs for p in run], default=0.0)
        self.y_step = _nice_step(max(peak, 1.0) * 1.08, 5)
        self.y_max = self.y_step * math.ceil(max(peak, 1.0) * 1.08 / self.y_step)

    def x(self, seconds: float) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * max(0.0, min(seconds, self.data.span)) / self.data.span

    def y(self, rps: float) -> float:
        return self.plot_bottom - PLOT_HEIGHT * min(rps, self.y_max) / self.y_max

    def svg(self) -> str:
        d = self.data
        parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{self.height}" '
            f'viewBox="0 0 {WIDTH} {self.height}" font-family="{SANS}">',
            f"<title>{_esc(d.title)}</title>",
            f'<rect width="{WIDTH}" height="{self.height}" fill="#ffffff"/>',
            f'<text class="title" x="{LEFT}" y="28" font-size="17" font-weight="bold" fill="#0f172a">'
            f"{_esc(d.title)}</text>",
            f'<text class="subtitle" x="{LEFT}" y="48" font-size="12" fill="#475569">{_esc(self._subtitle())}</text>',
        ]
        parts += self._gaps() + self._grid() + self._markers() + self._series() + self._errors()
        parts += self._axes() + self._legend()
        parts.append("</svg>")
        return "\n".join(parts) + "\n"

    def _subtitle(self) -> str:
        d = self.data
        counts = ", ".join(f"{slot} {d.requests[slot]:,}" for slot in d.series)
        errors = ", ".join(f"{slot} {n:,}" for slot, n in d.errors.items() if n) or "none"
        return (f"Requests per second per slot, from Envoy's counters. Requests: {counts}. "
                f"5xx or failed connections: {errors}.")

    def _lay_out_labels(self) -> dict[int, tuple[int, bool]]:
        """Marker index → (lane, anchored at its end); the most important names first, each in
        the first lane where it hides no other. A name that finds no lane is left out (its line stays)."""
        order = sorted((i for i, m in enumerate(self.data.markers) if m.kind != "minor"),
                       key=lambda i: (self.data.markers[i].kind == "stage"
                                      and _stage_of(self.data.markers[i]) not in MAIN_STAGES,
                                      self.data.markers[i].at))
        taken: list[list[tuple[float, float]]] = [[] for _ in range(MAX_LANES)]
        placed: dict[int, tuple[int, bool]] = {}
        for i in order:
            m = self.data.markers[i]
            x = self.x(m.at)
            width = len(m.label) * LABEL_CHAR + 4
            at_end = x + width > WIDTH - 4
            span = (x - width - 3, x) if at_end else (x, x + width + 3)
            for lane in range(MAX_LANES):
                if all(span[1] + 4 <= a or span[0] >= b + 4 for a, b in taken[lane]):
                    taken[lane].append(span)
                    placed[i] = (lane, at_end)
                    break
        return placed

    def _gaps(self) -> list[str]:
        out = []
        for gap in self.data.gaps:
            x0, x1 = self.x(gap.start), self.x(gap.end)
            if x1 - x0 < 1:
                continue
            name = "paused" if gap.paused else "not recorded"
            why = "the deployment was paused and no bgctl ran" if gap.paused else \
                "no bgctl ran the deployment, or Envoy did not answer"
            out.append(f'<rect class="gap{" paused" if gap.paused else ""}" x="{_n(x0)}" y="{self.plot_top}" '
                       f'width="{_n(x1 - x0)}" height="{PLOT_HEIGHT}" fill="{GAP_COLOUR}"><title>{name}: '
                       f"{gap.start:.1f}–{gap.end:.1f} s ({why})</title></rect>")
            if x1 - x0 > len(name) * 6.5 + 8:
                out.append(f'<text class="gap-label" x="{_n((x0 + x1) / 2)}" y="{self.plot_bottom - 8}" '
                           f'font-size="11" fill="#94a3b8" text-anchor="middle">{name}</text>')
        return out

    def _grid(self) -> list[str]:
        out = []
        for value in _ticks(self.y_max, self.y_step):
            y = _n(self.y(value))
            out.append(f'<line x1="{LEFT}" y1="{y}" x2="{WIDTH - RIGHT}" y2="{y}" stroke="#e2e8f0"/>'
                       f'<text class="y-tick" x="{LEFT - 8}" y="{_n(self.y(value) + 4)}" font-size="11" '
                       f'fill="#475569" text-anchor="end">{_number(value)}</text>')
        return out

    def _axes(self) -> list[str]:
        d = self.data
        bottom = self.plot_bottom
        out = [f'<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" stroke="#334155"/>',
               f'<line x1="{LEFT}" y1="{self.plot_top}" x2="{LEFT}" y2="{bottom}" stroke="#334155"/>']
        minutes = d.span >= 600
        step = _nice_step(d.span / 60, 8) * 60 if minutes else _nice_step(d.span, 9)
        for value in _ticks(d.span, step):
            x = _n(self.x(value))
            out.append(f'<line x1="{x}" y1="{bottom}" x2="{x}" y2="{bottom + 5}" stroke="#334155"/>'
                       f'<text class="x-tick" x="{x}" y="{bottom + 18}" font-size="11" fill="#475569" '
                       f'text-anchor="middle">{_clock(value) if minutes else _number(value)}</text>')
        unit = "minutes:seconds" if minutes else "seconds"
        out.append(f'<text class="x-label" x="{_n((LEFT + WIDTH - RIGHT) / 2)}" y="{bottom + 38}" font-size="12" '
                   f'fill="#334155" text-anchor="middle">{unit} since the deployment began</text>')
        middle = (self.plot_top + bottom) / 2
        out.append(f'<text class="y-label" x="16" y="{_n(middle)}" font-size="12" fill="#334155" '
                   f'text-anchor="middle" transform="rotate(-90 16 {_n(middle)})">requests per second</text>')
        return out

    def _markers(self) -> list[str]:
        out = []
        for i, m in enumerate(self.data.markers):
            x = _n(self.x(m.at))
            colour = MARKER_COLOURS[m.kind]
            dash = "" if m.kind == "end" else ' stroke-dasharray="4 3"'
            title = f"<title>{_esc(m.detail or m.label)}</title>"
            if i not in self.labels:
                out.append(f'<line class="marker {m.kind}" x1="{x}" y1="{self.plot_top}" x2="{x}" '
                           f'y2="{self.plot_bottom}" stroke="{colour}"{dash}>{title}</line>')
                continue
            lane, at_end = self.labels[i]
            y = LANES_TOP + (lane + 1) * LANE_HEIGHT - 4
            out.append(f'<g class="marker {m.kind}" data-label="{_esc(m.label)}">{title}'
                       f'<line x1="{x}" y1="{y - LABEL_FONT + 1}" x2="{x}" y2="{self.plot_top}" stroke="{colour}" '
                       f'stroke-width="0.8"/>'
                       f'<line x1="{x}" y1="{self.plot_top}" x2="{x}" y2="{self.plot_bottom}" stroke="{colour}"{dash}/>'
                       f'<text x="{_n(self.x(m.at) + (-3 if at_end else 3))}" y="{y}" font-family="{MONO}" '
                       f'font-size="{LABEL_FONT}" fill="{colour}" text-anchor="{"end" if at_end else "start"}">'
                       f"{_esc(m.label)}</text></g>")
        return out

    def _series(self) -> list[str]:
        out = []
        for slot, runs in self.data.series.items():
            colour = SLOT_COLOURS.get(slot, OTHER_COLOUR)
            line = " ".join(self._run_path(run) for run in runs)
            area = " ".join(self._run_path(run) + f" L{_n(self.x(run[-1].until))},{self.plot_bottom} "
                            f"L{_n(self.x(run[0].since))},{self.plot_bottom} Z" for run in runs)
            if area:
                out.append(f'<path class="area" data-slot="{slot}" d="{area}" fill="{colour}" fill-opacity="0.10"/>')
            out.append(f'<path class="rate" data-slot="{slot}" d="{line}" fill="none" stroke="{colour}" '
                       'stroke-width="2" stroke-linejoin="round" stroke-linecap="round"/>')
        return out

    def _run_path(self, run: tuple[Point, ...]) -> str:
        xs = [run[0].since] + [p.at for p in run] + [run[-1].until]
        ys = [run[0].rps] + [p.rps for p in run] + [run[-1].rps]
        return " ".join(f"{'M' if i == 0 else 'L'}{_n(self.x(x))},{_n(self.y(y))}" for i, (x, y) in enumerate(zip(xs, ys)))

    def _errors(self) -> list[str]:
        out = []
        for slot, runs in self.data.series.items():
            for p in (p for run in runs for p in run if p.errors > 0):
                out.append(f'<circle class="errors" data-slot="{slot}" cx="{_n(self.x(p.at))}" cy="{_n(self.y(p.rps))}" '
                           f'r="3.5" fill="{ERROR_COLOUR}"><title>{slot}: {p.errors:.1f} 5xx or failed connections '
                           f"per second at {p.at:.1f} s</title></circle>")
        return out

    def _legend(self) -> list[str]:
        y = self.plot_bottom + 62
        x = LEFT
        out = []
        entries = [(slot, SLOT_COLOURS.get(slot, OTHER_COLOUR), "line") for slot in self.data.series]
        if any(self.data.errors.values()):
            entries.append(("5xx or failed connections", ERROR_COLOUR, "dot"))
        entries.append(("stage began", MARKER_COLOURS["stage"], "dash"))
        if any(m.kind == "rollback" for m in self.data.markers):
            entries.append(("rollback", ERROR_COLOUR, "dash"))
        if self.data.gaps:
            entries.append(("paused or not recorded" if any(g.paused for g in self.data.gaps) else "not recorded",
                            GAP_COLOUR, "box"))
        for name, colour, shape in entries:
            if shape == "line":
                out.append(f'<line x1="{x}" y1="{y - 4}" x2="{x + 22}" y2="{y - 4}" stroke="{colour}" stroke-width="3"/>')
            elif shape == "dot":
                out.append(f'<circle cx="{x + 11}" cy="{y - 4}" r="4" fill="{colour}"/>')
            elif shape == "dash":
                out.append(f'<line x1="{x + 11}" y1="{y - 12}" x2="{x + 11}" y2="{y + 4}" stroke="{colour}" '
                           'stroke-dasharray="4 3"/>')
            else:
                out.append(f'<rect x="{x + 2}" y="{y - 12}" width="18" height="16" fill="{colour}" stroke="#cbd5e1"/>')
            out.append(f'<text class="legend" x="{x + 28}" y="{y}" font-size="12" fill="#334155">{_esc(name)}</text>')
            x += 28 + len(name) * 6.5 + 24
        return out


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


def _spaced(samples: list[Sample]) -> list[Sample]:
    """`samples` without those less than MIN_INTERVAL after the one kept before them; a segment's
    last sample is kept rather than the one before it, so that the segment still ends where it ended."""
    kept: list[Sample] = []
    for i, sample in enumerate(samples):
        last = i + 1 == len(samples) or samples[i + 1].segment != sample.segment
        if kept and kept[-1].segment == sample.segment and sample.at - kept[-1].at < MIN_INTERVAL:
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


def _stage_of(m: Marker) -> Stage | None:
    name = m.label.split(" ", 1)[0]
    return Stage(name) if name in Stage.__members__ else None


def _nice_step(span: float, target: int) -> float:
    """A step of 1, 2 or 5 times a power of ten that cuts `span` into about `target` parts."""
    raw = max(span, 1e-9) / target
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)


def _ticks(limit: float, step: float) -> list[float]:
    """0, step, 2 step ... up to `limit` (counted, not added up, so that no rounding error creeps in)."""
    return [i * step for i in range(int(math.floor(limit / step + 1e-9)) + 1)]


def _number(value: float) -> str:
    return f"{round(value, 6):g}"


def _clock(seconds: float) -> str:
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}:{rest:02d}"


def _n(value: float) -> str:
    """A coordinate, to a tenth of a pixel: enough for the eye, and a smaller file."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
