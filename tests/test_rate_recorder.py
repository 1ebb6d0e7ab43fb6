"""The rate recorder: samples while a deployment is in progress, one last one when it ends, gaps on failures."""

from __future__ import annotations

import threading
from dataclasses import replace

from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from bgctl.adapters.rate_recorder import RateRecorder
from bgctl.adapters.sample_file import SampleFile
from bgctl.core.deployment import Deployment
from bgctl.core.errors import BgctlError
from bgctl.core.stages import Status
from bgctl.core.traffic import TestTrafficRule

IN_PROGRESS = Deployment(id="bgd-1", target="green", source="blue", revision=None,
                         test_rule=TestTrafficRule("x-test"), bake_seconds=0, status=Status.IN_PROGRESS)


def until(condition, timeout: float = 10.0) -> None:
    Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(0.01), retry=retry_if_result(lambda ok: not ok),
             reraise=True)(condition)


class Envoy:
    """Counters that grow by 10 a read; reads fail while `down` is set."""

    def __init__(self) -> None:
        self.total = 0
        self.down = threading.Event()
        self.reads = 0

    def __call__(self) -> dict[str, dict[str, int]]:
        self.reads += 1
        if self.down.is_set():
            raise BgctlError("Envoy's admin interface does not answer.")
        self.total += 10
        return {"blue": {"upstream_rq_total": self.total}, "green": {}}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        self.now += 0.5
        return self.now


def recorder(tmp_path, envoy, current, **options) -> RateRecorder:
    return RateRecorder(envoy, lambda d_id: SampleFile(tmp_path / f"{d_id}.samples.jsonl"), current,
                        clock=Clock(), **options)


def test_it_samples_while_the_deployment_runs_and_once_more_at_the_end(tmp_path):
    envoy = Envoy()
    with recorder(tmp_path, envoy, lambda: IN_PROGRESS, interval=0.01):
        until(lambda: envoy.reads >= 5, timeout=10)
    samples = SampleFile(tmp_path / "bgd-1.samples.jsonl").load()
    assert len(samples) >= 6  # the last taken on the way out
    assert {s.segment for s in samples} == {1}
    assert [s.counters["blue"]["upstream_rq_total"] for s in samples] == [10 * (i + 1) for i in range(len(samples))]


def test_a_finished_deployment_gets_its_last_sample_and_then_no_more(tmp_path):
    envoy = Envoy()
    current = [IN_PROGRESS]
    r = recorder(tmp_path, envoy, lambda: current[0])
    assert r.sample() and r.sample()
    current[0] = replace(IN_PROGRESS, status=Status.SUCCESSFUL)
    assert r.sample()  # its end
    assert not r.sample() and not r.sample()
    assert len(SampleFile(tmp_path / "bgd-1.samples.jsonl").load()) == 3


def test_a_deployment_that_ended_before_this_bgctl_or_none_is_not_recorded(tmp_path):
    envoy = Envoy()
    for current in (lambda: None, lambda: replace(IN_PROGRESS, status=Status.ROLLBACK_SUCCESSFUL)):
        with recorder(tmp_path, envoy, current, interval=0.01):
            threading.Event().wait(0.1)
    assert envoy.reads == 0 and list(tmp_path.iterdir()) == []


def test_envoy_not_answering_is_a_gap_and_sampling_goes_on(tmp_path):
    envoy = Envoy()
    with recorder(tmp_path, envoy, lambda: IN_PROGRESS, interval=0.01):
        until(lambda: envoy.reads >= 3, timeout=10)
        envoy.down.set()
        failing = envoy.reads
        until(lambda: envoy.reads >= failing + 2, timeout=10)
        envoy.down.clear()
        answering = envoy.reads
        until(lambda: envoy.reads >= answering + 2, timeout=10)
    segments = [s.segment for s in SampleFile(tmp_path / "bgd-1.samples.jsonl").load()]
    assert segments[0] == 1 and len(set(segments)) == 2 and segments == sorted(segments)


def test_the_next_bgctl_writes_a_new_segment_of_the_same_file(tmp_path):
    envoy = Envoy()
    for _ in range(2):
        before = envoy.reads
        with recorder(tmp_path, envoy, lambda: IN_PROGRESS, interval=0.01):
            until(lambda: envoy.reads >= before + 2, timeout=10)
    assert {s.segment for s in SampleFile(tmp_path / "bgd-1.samples.jsonl").load()} == {1, 2}
