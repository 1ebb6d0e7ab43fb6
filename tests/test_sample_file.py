"""A deployment's samples file: appended line by line, read back whole, bounded by thinning."""

from __future__ import annotations

from bgctl.adapters.sample_file import SampleFile
from bgctl.core.slot_rates import Sample


def sample(at: float, total: int = 0, segment: int = 1) -> Sample:
    return Sample(at, {"blue": {"upstream_rq_total": total}, "green": {}}, segment)


def test_samples_are_appended_and_read_back_and_each_opening_starts_a_segment(tmp_path):
    path = tmp_path / "deployments" / "bgd-1.samples.jsonl"
    first = SampleFile(path)
    assert first.load() == []
    assert first.open() == 1
    first.append(sample(1.0, 10))
    first.append(sample(1.5, 20))
    first.close()
    again = SampleFile(path)
    assert again.open() == 2
    again.append(sample(9.0, 30, segment=2))
    again.close()
    assert SampleFile(path).load() == [sample(1.0, 10), sample(1.5, 20), sample(9.0, 30, segment=2)]
    assert len(path.read_text().splitlines()) == 3


def test_half_a_line_left_by_a_killed_bgctl_is_skipped_and_ended(tmp_path):
    path = tmp_path / "bgd-1.samples.jsonl"
    file = SampleFile(path)
    file.open()
    file.append(sample(1.0, 10))
    file.close()
    with path.open("a") as handle:
        handle.write('{"at": 1.5, "segm')  # killed mid-write
    assert SampleFile(path).load() == [sample(1.0, 10)]
    file = SampleFile(path)
    file.open()
    file.append(sample(5.0, 50, segment=2))
    file.close()
    assert SampleFile(path).load() == [sample(1.0, 10), sample(5.0, 50, segment=2)]


def test_at_its_bound_the_file_keeps_every_other_sample(tmp_path):
    path = tmp_path / "bgd-1.samples.jsonl"
    file = SampleFile(path, max_samples=10)
    file.open()
    thinned = [file.append(sample(float(i), i)) for i in range(10)]
    assert thinned == [False] * 9 + [True]
    assert [s.at for s in SampleFile(path).load()] == [0, 2, 4, 6, 8, 9]
    file.append(sample(10.0, 10))  # appending goes on after the rewrite
    file.close()
    assert [s.at for s in SampleFile(path).load()][-2:] == [9, 10]
