import json

import pytest

from bgctl.core.errors import BgctlError
from bgctl.core.traffic import TestTrafficRule, TrafficState
from bgctl.adapters.state_file import StateFile, write_atomically
from bgctl.core.state import INITIAL_STATE, State


def test_missing_file_is_none(tmp_path):
    assert StateFile(tmp_path / "state.json").load() is None


def test_round_trip(tmp_path):
    file = StateFile(tmp_path / "p" / "state.json")
    state = State(TrafficState("blue", "green", TestTrafficRule("x-t", "1")), "v9", "container")
    file.save(state)
    assert file.load() == state
    assert json.loads(file.path.read_text())["schema"] == 1


def test_damaged_file_is_one_sentence(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("{not json")
    with pytest.raises(BgctlError, match="damaged"):
        StateFile(path).load()


def test_atomic_write_leaves_no_temp_files(tmp_path):
    path = tmp_path / "f.txt"
    write_atomically(path, "one")
    write_atomically(path, "two")
    assert path.read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_initial_state_is_blue():
    assert INITIAL_STATE.traffic.production == "blue"
    assert INITIAL_STATE.traffic.weights() == {"blue": 100, "green": 0}


def test_the_desired_count_round_trips_and_older_files_run_one_task(tmp_path):
    file = StateFile(tmp_path / "state.json")
    file.save(State(TrafficState("green"), "v3", desired_count=4))
    assert file.load().desired_count == 4
    older = {k: v for k, v in json.loads(file.path.read_text()).items() if k != "desired_count"}
    assert State.from_dict(older).desired_count == 1
