"""`bgctl describe --chart`: the request rates bgctl recorded while it ran a deployment, drawn."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from bgctl.adapters.deployment_history import DeploymentHistory, history_dir
from bgctl.adapters.sample_file import SampleFile
from bgctl.core.chart import chart_data
from bgctl.core.stages import Stage
from tests.integration.conftest import Traffic

SVG = "{http://www.w3.org/2000/svg}"


def test_a_paused_and_continued_deployment_under_traffic_is_charted(kit, tmp_path):
    with Traffic(kit):
        paused = kit.bgctl("deploy", "green", "--bake-time", "2s", "--pause-at", "POST_TEST_TRAFFIC_SHIFT")
        assert paused.returncode == 0, paused.stdout + paused.stderr
        finished = kit.bgctl("continue")
        assert finished.returncode == 0, finished.stdout + finished.stderr
    chart = tmp_path / "out.svg"
    result = kit.bgctl("describe", "--chart", str(chart))
    assert result.returncode == 0, result.stderr

    history = DeploymentHistory(history_dir(kit.settings.state_dir))
    kept = history.all()[0]
    d = kept.deployment
    assert result.stdout.splitlines()[-1] == f"Chart of {d.id}: {chart}"

    root = ET.parse(chart).getroot()
    assert root.tag == SVG + "svg"
    lines = {p.get("data-slot"): p for p in root.iter(SVG + "path") if p.get("class") == "rate"}
    assert sorted(lines) == ["blue", "green"]
    named = {g.get("data-label") for g in root.iter(SVG + "g") if "marker" in (g.get("class") or "")}
    assert {"SCALE_UP", "TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP",
            "SUCCESSFUL"} <= named
    assert any(d.id in "".join(t.itertext()) for t in root.iter(SVG + "text"))

    # What was recorded: two bgctl runs (deploy, then continue) with the pause between them.
    samples = SampleFile(history.samples_path(d.id)).load()
    assert [s.segment for s in samples] == sorted(s.segment for s in samples)
    assert {s.segment for s in samples} == {1, 2}
    data = chart_data(kept, samples)
    t0 = d.created
    shift = next(r for r in d.history if r.stage == Stage.PRODUCTION_TRAFFIC_SHIFT)

    def requests(slot: str, since: float = -1.0, until: float = 1e9) -> float:
        """What the chart's line for `slot` adds up to between `since` and `until` (seconds since t0)."""
        return sum(p.rps * (p.until - p.since) for run in data.series[slot] for p in run
                   if p.since >= since and p.until <= until)

    # A slow machine may leave half a second without a request: the sums, not every interval.
    before, after = shift.started - t0, shift.ended - t0 + 0.5
    assert requests("blue", until=before) > 0 and requests("green", until=before) == 0
    assert requests("green", since=after) > 0 and requests("blue", since=after) == 0
    assert data.errors == {"blue": 0, "green": 0}
    # The pause, when no bgctl ran, is a gap rather than a line at zero.
    paused_at = next(r for r in d.history if r.stage == Stage.POST_TEST_TRAFFIC_SHIFT).ended - t0
    resumed_at = next(r for r in d.history if r.stage == Stage.PRE_PRODUCTION_TRAFFIC_SHIFT).started - t0
    assert any(paused_at <= g.start < resumed_at and g.end > g.start for g in data.gaps), data.gaps
    assert [g for g in root.iter(SVG + "rect") if "gap" in (g.get("class") or "").split()]


def test_a_deployment_with_no_recorded_rates_has_no_chart(kit, tmp_path):
    deployed = kit.bgctl("deploy", "blue", "--bake-time", "0")
    assert deployed.returncode == 0, deployed.stderr
    history = DeploymentHistory(history_dir(kit.settings.state_dir))
    d = history.all()[0].deployment
    history.samples_path(d.id).unlink()  # as a deployment bgctl ran before it recorded rates
    chart = tmp_path / "none.svg"
    result = kit.bgctl("describe", d.id, "--chart", str(chart))
    assert result.returncode == 2
    assert result.stderr == (f"bgctl: No request rates were recorded for deployment {d.id} "
                             "(bgctl records them while it runs a deployment); no chart written.\n")
    assert result.stdout == ""
    assert not chart.exists()
