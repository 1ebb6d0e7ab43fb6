"""The deployment chart (core/chart.py, core/chart_svg.py): an SVG that parses, a line per slot, the stages
marked, gaps left as gaps."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace

from bgctl.core.chart import MAX_POINTS, chart_data, markers
from bgctl.core.chart_svg import MAX_LANES, render_chart
from bgctl.core.deployment import Deployment, HookExecution, HookExecutionStatus, StageRecord
from bgctl.core.ecs_records import KeptDeployment
from bgctl.core.hooks import parse_hook_option
from bgctl.core.slot_rates import Sample
from bgctl.core.stages import Stage, Status
from bgctl.core.strategy import Strategy, TrafficShift
from bgctl.core.traffic import TestTrafficRule

SVG = "{http://www.w3.org/2000/svg}"
T0 = 1_700_000_000.0
# (stage, began, ended) in seconds since the deployment began: the demo's shape.
STAGE_TIMES = [
    (Stage.PRE_SCALE_UP, 0.0, 0.01), (Stage.SCALE_UP, 0.01, 3.0), (Stage.POST_SCALE_UP, 3.0, 3.01),
    (Stage.TEST_TRAFFIC_SHIFT, 3.01, 3.05), (Stage.POST_TEST_TRAFFIC_SHIFT, 3.05, 3.06),
    (Stage.PRE_PRODUCTION_TRAFFIC_SHIFT, 3.06, 3.07), (Stage.PRODUCTION_TRAFFIC_SHIFT, 3.07, 3.1),
    (Stage.POST_PRODUCTION_TRAFFIC_SHIFT, 3.1, 3.11), (Stage.BAKE_TIME, 3.11, 8.0), (Stage.CLEAN_UP, 8.0, 9.0),
]
SHIFT_AT = 3.1


def deployment(**changes) -> Deployment:
    d = Deployment(id="bgd-0123456789", target="green", source="blue", revision=None,
                   test_rule=TestTrafficRule("x-amzn-ecs-bluegreen-test", "test"), bake_seconds=5.0,
                   history=tuple(StageRecord(s, T0 + a, T0 + b) for s, a, b in STAGE_TIMES),
                   status=Status.SUCCESSFUL, stage=Stage.CLEAN_UP, created=T0, finished=T0 + 9.0)
    return replace(d, **changes)


def samples(until: float = 9.0, *, every: float = 0.5, rps: int = 100, skip: tuple[float, float] | None = None,
            errors_at: float | None = None) -> list[Sample]:
    """Production traffic at `rps`, on blue until SHIFT_AT then on green; none taken during `skip`;
    a new segment after it (another bgctl went on)."""
    found, blue, green, x5, segment, t = [], 0, 0, 0, 1, 0.0
    while t <= until + 1e-9:
        if skip and skip[0] < t < skip[1]:
            segment = 2
        else:
            found.append(Sample(T0 + t, {"blue": {"upstream_rq_total": blue},
                                         "green": {"upstream_rq_total": green, "upstream_rq_5xx": x5}}, segment))
        if t < SHIFT_AT:
            blue += int(rps * every)
        else:
            green += int(rps * every)
        if errors_at is not None and errors_at <= t < errors_at + every:
            x5 += 3
        t = round(t + every, 6)
    return found


def svg_of(d: Deployment | None = None, recorded: list[Sample] | None = None) -> ET.Element:
    text = render_chart(KeptDeployment(d or deployment()), samples() if recorded is None else recorded)
    assert text.startswith("<svg ")
    return ET.fromstring(text)


def elements(root: ET.Element, tag: str, css_class: str) -> list[ET.Element]:
    return [e for e in root.iter(SVG + tag) if css_class in (e.get("class") or "").split()]


def texts(root: ET.Element) -> list[str]:
    return ["".join(e.itertext()) for e in root.iter(SVG + "text")]


def subpaths(path: ET.Element) -> int:
    return path.get("d").count("M")


def test_the_svg_has_a_line_per_slot_a_title_and_axis_labels():
    root = svg_of()
    assert root.tag == SVG + "svg"
    lines = elements(root, "path", "rate")
    assert [p.get("data-slot") for p in lines] == ["blue", "green"]
    assert all(subpaths(p) == 1 for p in lines)
    title = "".join(elements(root, "text", "title")[0].itertext())
    assert "bgd-0123456789" in title and "SUCCESSFUL" in title and "blue → green" in title
    shown = texts(root)
    assert "seconds since the deployment began" in shown
    assert "requests per second" in shown
    assert "0" in shown and "9" in " ".join(shown)  # ticks from 0 to the end


def test_the_rates_show_blue_before_the_shift_and_green_after():
    data = chart_data(KeptDeployment(deployment()), samples())
    (blue,), (green,) = data.series["blue"], data.series["green"]
    assert all(p.rps == 100 for p in blue if p.at < SHIFT_AT - 0.5)
    assert all(p.rps == 0 for p in blue if p.at > SHIFT_AT + 0.5)
    assert all(p.rps == 100 for p in green if p.at > SHIFT_AT + 0.5)
    assert data.requests == {"blue": 350, "green": 550} and data.errors == {"blue": 0, "green": 0}


def test_the_main_stages_and_the_end_are_named_and_the_instant_ones_only_drawn():
    root = svg_of()
    named = [g.get("data-label") for g in elements(root, "g", "marker")]
    for stage in ("SCALE_UP", "TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP", "SUCCESSFUL"):
        assert stage in named
        assert stage in texts(root)
    minor = elements(root, "line", "minor")
    assert len(minor) == 5 and "POST_SCALE_UP" not in named  # no hook, no time, no pause: no name
    assert all(line.find(SVG + "title") is not None for line in minor)  # named on hover


def test_a_stage_with_hooks_or_a_pause_is_named_even_when_short():
    d = deployment(hooks=(parse_hook_option("POST_SCALE_UP=./check.sh"),), pause_at=Stage.POST_TEST_TRAFFIC_SHIFT)
    named = {m.label for m in markers(KeptDeployment(d)) if m.kind != "minor"}
    assert {"POST_SCALE_UP", "POST_TEST_TRAFFIC_SHIFT"} <= named


def test_names_never_overlap_and_stay_within_the_lanes():
    # LINEAR, ten steps: many boundaries close together.
    history = [StageRecord(Stage.SCALE_UP, T0, T0 + 2)]
    t = 2.0
    for _ in range(10):
        for stage in (Stage.PRE_PRODUCTION_TRAFFIC_SHIFT, Stage.PRODUCTION_TRAFFIC_SHIFT):
            history.append(StageRecord(stage, T0 + t, T0 + t + 0.7))
            t += 0.7
    d = deployment(history=tuple(history), finished=T0 + t, shift=TrafficShift.of(Strategy.LINEAR, step_percent=10))
    root = svg_of(d, samples(t))
    groups = elements(root, "g", "marker")
    assert "PRODUCTION_TRAFFIC_SHIFT (step 2)" in [g.get("data-label") for g in groups]
    by_lane: dict[str, list[tuple[float, float]]] = {}
    for g in groups:
        text = g.find(SVG + "text")
        x, width = float(text.get("x")), len(text.text) * 6.0
        span = (x - width, x) if text.get("text-anchor") == "end" else (x, x + width)
        by_lane.setdefault(text.get("y"), []).append(span)
    assert len(by_lane) <= MAX_LANES
    for spans in by_lane.values():
        spans.sort()
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), spans
    assert len(root.findall(f".//{SVG}line")) > len(groups)  # the unnamed ones still have their line


def test_a_time_without_samples_is_a_gap_not_a_zero_line():
    recorded = samples(skip=(1.6, 4.4))  # paused, and no bgctl ran; then `bgctl continue`
    data = chart_data(KeptDeployment(deployment()), recorded)
    assert [len(runs) for runs in data.series.values()] == [2, 2]
    assert not any(1.6 < p.at < 4.4 for runs in data.series.values() for run in runs for p in run)
    assert any(g.start <= 1.6 and g.end >= 4.4 for g in data.gaps)
    root = svg_of(recorded=recorded)
    assert [subpaths(p) for p in elements(root, "path", "rate")] == [2, 2]
    assert elements(root, "rect", "gap")
    assert "not recorded" in texts(root)


def test_an_envoy_restart_breaks_the_line():
    recorded = samples()
    restarted = [s if s.at < T0 + 5 else replace(s, counters={"blue": {"upstream_rq_total": 0},
                                                              "green": {"upstream_rq_total": int(s.at - T0)}})
                 for s in recorded]
    data = chart_data(KeptDeployment(deployment()), restarted)
    assert len(data.series["green"]) == 2


def test_the_time_before_the_first_sample_and_after_the_last_is_not_recorded():
    recorded = [s for s in samples() if 2.0 <= s.at - T0 <= 7.0]
    data = chart_data(KeptDeployment(deployment()), recorded)
    assert data.gaps[0].start == 0.0 and data.gaps[0].end == 2.0
    assert data.gaps[-1].start == 7.0 and data.gaps[-1].end == 9.0


def test_5xx_are_red_dots_with_their_count_and_in_the_legend():
    root = svg_of(recorded=samples(errors_at=5.0))
    dots = elements(root, "circle", "errors")
    assert len(dots) >= 1 and all(dot.get("data-slot") == "green" for dot in dots)
    assert "5xx or failed connections" in texts(root)
    assert any("green 3" in t for t in texts(root))
    assert not elements(svg_of(), "circle", "errors")


def test_a_rollback_is_marked_with_its_hook_stages_and_its_outcome():
    reason = 'The 5xx alarm fired: 12% > 5% <"green">'
    d = deployment(history=tuple(StageRecord(s, T0 + a, T0 + b) for s, a, b in STAGE_TIMES[:-1]),
                   status=Status.ROLLBACK_SUCCESSFUL, stage=Stage.BAKE_TIME, reason=reason,
                   rollback_started=T0 + 6.0, finished=T0 + 7.5,
                   hook_executions=(HookExecution("h1", Stage.TEST_TRAFFIC_SHIFT, "e1", HookExecutionStatus.SUCCEEDED,
                                                  T0 + 6.2, T0 + 100, rollback=True),))
    root = svg_of(d, samples(7.5))
    named = [g.get("data-label") for g in elements(root, "g", "marker")]
    assert {"ROLLBACK", "ROLLBACK TEST_TRAFFIC_SHIFT", "ROLLBACK_SUCCESSFUL"} <= set(named)
    assert "ROLLBACK_SUCCESSFUL" in "".join(elements(root, "text", "title")[0].itertext())
    rollback = next(g for g in elements(root, "g", "rollback") if g.get("data-label") == "ROLLBACK")
    assert rollback.find(SVG + "title").text == reason  # escaped in the file, whole once parsed
    assert "rollback" in texts(root)


def test_a_paused_deployment_says_so_in_the_title():
    d = deployment(history=tuple(StageRecord(s, T0 + a, T0 + b) for s, a, b in STAGE_TIMES[:5]),
                   status=Status.IN_PROGRESS, stage=Stage.POST_TEST_TRAFFIC_SHIFT, paused=True, finished=None)
    title = "".join(elements(svg_of(d, samples(3.1)), "text", "title")[0].itertext())
    assert title.endswith("IN_PROGRESS, paused after POST_TEST_TRAFFIC_SHIFT")


def test_a_long_deployment_counts_in_minutes():
    d = deployment(finished=T0 + 1800.0)
    root = svg_of(d, samples(1800.0, every=10.0))
    assert "minutes:seconds since the deployment began" in texts(root)
    assert any(re.fullmatch(r"\d+:\d\d", t) for t in texts(root))


def test_without_traffic_the_chart_still_draws():
    quiet = [replace(s, counters={"blue": {}, "green": {}}) for s in samples()]
    root = svg_of(recorded=quiet)
    assert len(elements(root, "path", "rate")) == 2


def test_a_sample_moments_after_the_one_before_is_merged_not_drawn_as_a_spike_or_a_drop():
    recorded = samples()
    last = recorded[-1]
    counters = {"blue": dict(last.counters["blue"]),
                "green": {"upstream_rq_total": last.counters["green"]["upstream_rq_total"] + 1}}
    recorded.append(Sample(last.at + 0.01, counters, last.segment))  # the final sample, 10 ms later
    data = chart_data(KeptDeployment(deployment()), recorded)
    (green,) = data.series["green"]
    assert round(green[-1].until, 3) == 9.01
    assert 99 <= green[-1].rps <= 103


def test_a_gap_while_no_stage_ran_is_a_pause():
    # Paused after POST_TEST_TRAFFIC_SHIFT (ended at 3.06) until `bgctl continue` at 6.0.
    history = tuple(StageRecord(s, T0 + a + (2.94 if a >= 3.06 else 0), T0 + b + (2.94 if a >= 3.06 else 0))
                    for s, a, b in STAGE_TIMES)
    recorded = [s for s in samples(11.94) if not 3.2 < s.at - T0 < 5.9]
    recorded = [replace(s, segment=2) if s.at - T0 > 5 else s for s in recorded]
    data = chart_data(KeptDeployment(deployment(history=history, finished=T0 + 11.94)), recorded)
    [pause] = [g for g in data.gaps if 1 < g.start < 5]
    assert pause.paused and (round(pause.start, 3), round(pause.end, 3)) == (3.0, 6.0)
    root = svg_of(deployment(history=history, finished=T0 + 11.94), recorded)
    assert elements(root, "rect", "paused") and "paused" in texts(root)
    # A gap while a stage ran (a bgctl was stopped mid-stage) is not a pause.
    assert not any(g.paused for g in chart_data(KeptDeployment(deployment()), samples(skip=(1.6, 4.4))).gaps)


def test_a_long_deployment_is_drawn_from_longer_intervals_with_the_same_totals():
    d = deployment(finished=T0 + 600.0)
    recorded = samples(600.0)  # 1201 samples, two a second
    data = chart_data(KeptDeployment(d), recorded)
    (blue,), (green,) = data.series["blue"], data.series["green"]
    assert len(green) <= MAX_POINTS + 1
    assert green[-1].until == 600.0 and blue[0].since == 0.0
    assert data.requests["blue"] + data.requests["green"] == sum(recorded[-1].counters[slot]["upstream_rq_total"]
                                                                for slot in ("blue", "green"))
