"""The deployment chart as an SVG document: core/chart.py's data, drawn.

Pure text. The SVG is written by hand — a few dozen elements — so that it
needs no plotting library; it has a white background of its own (a dark page
would otherwise hide its text) and names its parts with `class` and
`data-slot`/`data-label` attributes, for tests and for anyone restyling it.
"""

from __future__ import annotations

import math
from typing import Sequence

from bgctl.core.chart import ChartData, Point, chart_data
from bgctl.core.ecs_records import KeptDeployment
from bgctl.core.slot_rates import Sample

SLOT_COLOURS = {"blue": "#2563eb", "green": "#16a34a"}
OTHER_COLOUR = "#7c3aed"
ERROR_COLOUR = "#dc2626"
GAP_COLOUR = "#f1f5f9"
MARKER_COLOURS = {"stage": "#475569", "other": "#475569", "minor": "#cbd5e1", "rollback": ERROR_COLOUR,
                  "end": "#0f172a"}

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


def render_chart(k: KeptDeployment, samples: Sequence[Sample]) -> str:
    """The SVG document (UTF-8 text)."""
    return _Drawing(chart_data(k, samples)).svg()


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
                       key=lambda i: (self.data.markers[i].kind == "other", self.data.markers[i].at))
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
