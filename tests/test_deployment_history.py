"""The deployment history: one file per deployment, kept current as the record changes."""

import json
from dataclasses import replace

from bgctl.adapters.deployment_history import DeploymentHistory, StateAndHistory, kept_deployments
from bgctl.adapters.state_file import StateFile
from bgctl.core.deployment import Deployment
from bgctl.core.stages import Stage, Status
from bgctl.core.state import INITIAL_STATE
from bgctl.core.traffic import TestTrafficRule
from tests.test_ecs_records import V3


def deployment(created: float) -> Deployment:
    return Deployment.new(target="green", source="blue", revision=V3, test_rule=TestTrafficRule("x-test"),
                          bake_seconds=1.0, created=created)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_every_deployment_is_kept_and_the_state_file_has_the_last(tmp_path):
    history = DeploymentHistory(tmp_path / "deployments", clock=Clock())
    records = StateAndHistory(StateFile(tmp_path / "state.json"), history)
    first, second = deployment(10.0), deployment(20.0)
    state = INITIAL_STATE.with_revision("blue", V3)
    records.save(state.with_deployment(first))
    records.save(state.with_deployment(replace(first, status=Status.SUCCESSFUL, finished=15.0)))
    records.save(state.with_deployment(second))
    records.save(state.with_deployment(replace(second, status=Status.ROLLBACK_IN_PROGRESS, reason="no")))

    kept = DeploymentHistory(tmp_path / "deployments").all()
    assert [k.deployment.id for k in kept] == [second.id, first.id]
    assert [k.deployment.status for k in kept] == [Status.ROLLBACK_IN_PROGRESS, Status.SUCCESSFUL]
    assert kept[1].source_revision == V3  # what blue ran when the deployment began
    assert kept[0].rollback_started == 104.0
    assert json.loads((tmp_path / "state.json").read_text())["deployment"]["id"] == second.id
    assert sorted(p.name for p in (tmp_path / "deployments").iterdir()) == sorted(
        [f"{first.id}.json", f"{second.id}.json"])


def test_an_unchanged_record_is_not_written_again(tmp_path):
    clock = Clock()
    history = DeploymentHistory(tmp_path, clock=clock)
    state = INITIAL_STATE.with_deployment(deployment(10.0))
    history.record(state)
    history.record(state)
    history.record(state.with_deployment(replace(state.deployment, stage=Stage.PRE_SCALE_UP)))
    assert clock.now == 102.0


def test_the_state_files_deployment_is_listed_even_before_the_history_kept_it(tmp_path):
    history = DeploymentHistory(tmp_path / "deployments")
    d = deployment(10.0)
    assert [k.deployment.id for k in kept_deployments(history, INITIAL_STATE.with_deployment(d))] == [d.id]
    assert kept_deployments(history, None) == []


def test_an_id_that_is_not_a_file_name_finds_nothing(tmp_path):
    history = DeploymentHistory(tmp_path / "deployments")
    assert history.get("../state") is None and history.get("") is None
