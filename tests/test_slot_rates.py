"""Rates from samples of Envoy's counters: what `watch` shows and what the deployment chart draws."""

from __future__ import annotations

from bgctl.core.slot_rates import Sample, SlotRates, continuous, rates, thinned


def counters(total: int, x5: int = 0, active: int = 0, connect_fail: int = 0) -> dict[str, int]:
    return {"upstream_rq_total": total, "upstream_rq_5xx": x5, "upstream_rq_active": active,
            "upstream_cx_connect_fail": connect_fail}


BEFORE = Sample(10.0, {"blue": counters(1000, 2), "green": counters(50)})
AFTER = Sample(10.5, {"blue": counters(1100, 7, active=3, connect_fail=1), "green": counters(50)})


def test_rates_are_deltas_over_the_elapsed_time():
    r = rates(BEFORE, AFTER)
    assert r["blue"] == SlotRates(rps=200.0, errors_per_s=12.0, active=3)  # (5 5xx + 1 connect failure) / 0.5 s
    assert r["green"] == SlotRates(0.0, 0.0, 0)


def test_a_counter_that_went_down_reads_as_no_traffic_not_a_negative_rate():
    restarted = Sample(11.0, {"blue": counters(3), "green": counters(0)})
    assert rates(AFTER, restarted)["blue"].rps == 0.0


def test_a_slot_envoy_has_no_counters_for_yet_reads_as_zero():
    r = rates(Sample(0.0, {}), Sample(1.0, {"blue": counters(10)}))
    assert r["green"] == SlotRates(0.0, 0.0, 0) and r["blue"].rps == 10.0


def test_no_rate_across_segments_a_restart_or_time_going_back():
    assert continuous(BEFORE, AFTER)
    assert not continuous(BEFORE, Sample(10.5, AFTER.counters, segment=1))
    assert not continuous(AFTER, Sample(11.0, {"blue": counters(3), "green": counters(50)}))  # Envoy restarted
    assert not continuous(AFTER, Sample(10.5, AFTER.counters))
    # The gauge of requests in flight goes down and up: not a restart.
    assert continuous(AFTER, Sample(11.0, {"blue": counters(1200, 7, active=0, connect_fail=1), "green": counters(50)}))


def test_a_sample_is_one_json_object_and_back():
    sample = Sample(1712345678.1234, {"blue": counters(5)}, segment=3)
    assert sample.to_dict() == {"at": 1712345678.123, "segment": 3, "counters": {"blue": counters(5)}}
    assert Sample.from_dict(sample.to_dict()) == Sample(1712345678.123, {"blue": counters(5)}, 3)


def test_thinning_keeps_every_other_sample_and_each_segments_ends():
    samples = [Sample(float(i), {}, segment=1 if i < 5 else 2) for i in range(9)]
    assert [s.at for s in thinned(samples)] == [0, 2, 4, 5, 7, 8]
    assert thinned([]) == []
