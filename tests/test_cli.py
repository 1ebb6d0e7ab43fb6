"""The command line's edges: usage errors and bad settings are one sentence, exit 2."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def bgctl(*args, env=None, cwd=REPO):
    import os

    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "bgctl", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=60)


@pytest.mark.parametrize(
    "args, env, sentence",
    [
        (["launch"], {}, "bgctl: No such command 'launch'.\n"),
        (["status", "--jsn"], {}, "bgctl: No such option '--jsn'. Did you mean '--json'?\n"),
        (["up"], {"BGCTL_HTTP_PORT": "abc"},
         "bgctl: BGCTL_HTTP_PORT must be a port number from 1 to 65535, not 'abc'.\n"),
        (["up"], {"BGCTL_IMAGES": "cloud"},
         "bgctl: BGCTL_IMAGES must be one of auto, official, offline, not 'cloud'.\n"),
        (["watch", "--project", "My Stack"], {},
         "bgctl: --project 'My Stack' is not a valid Compose project name "
         "(lowercase letters, digits, '-' and '_', starting with a letter or digit).\n"),
    ],
)
def test_invalid_input_is_one_sentence_and_exit_2(args, env, sentence):
    result = bgctl(*args, env=env)
    assert result.returncode == 2
    assert result.stderr == sentence
    assert result.stdout == ""


def test_outside_the_repository(tmp_path):
    result = bgctl("status", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("bgctl: There is no compose.yaml in ")
    assert result.stderr.count("\n") == 1


def test_help_lists_the_contract():
    result = bgctl("--help")
    assert result.returncode == 0
    for verb in ("up", "status", "deploy", "continue", "rollback", "demo", "down", "images"):
        assert f"  {verb} " in result.stdout


def test_down_keep_history_keeps_the_registered_task_definitions_but_not_clusters_or_services(tmp_path):
    from bgctl.cli.down import remove_state

    state_dir = tmp_path / ".bgctl" / "p"
    for name in ("deployments/bgd-1.json", "ecs/task-definitions/web/1.json", "ecs/clusters/default.json",
                 "ecs/services/default/web.json", "api.json", "state.json"):
        (state_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (state_dir / name).write_text("{}")
    remove_state(state_dir, keep_history=True)
    assert sorted(p.relative_to(state_dir).as_posix() for p in state_dir.rglob("*.json")) == [
        "deployments/bgd-1.json", "ecs/task-definitions/web/1.json"]


def test_a_failed_first_up_keeps_what_a_running_serve_holds(tmp_path):
    from bgctl.cli.down import remove_state

    state_dir = tmp_path / ".bgctl" / "p"
    for name in ("ecs/services/default/web.json", "api.json", "state.json", "routes/rds.yaml"):
        (state_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (state_dir / name).write_text("{}")
    remove_state(state_dir, keep_history=True, keep_api=True)
    assert sorted(p.relative_to(state_dir).as_posix() for p in state_dir.rglob("*") if p.is_file()) == [
        "api.json", "ecs/services/default/web.json"]


def test_a_failed_first_up_removes_the_state_folder_but_the_kept_history(tmp_path):
    from bgctl.cli.down import remove_state

    state_dir = tmp_path / ".bgctl" / "p"
    (state_dir / "deployments").mkdir(parents=True)
    (state_dir / "deployments" / "bgd-1.json").write_text("{}")
    (state_dir / "routes").mkdir()
    (state_dir / "routes" / "rds.yaml").write_text("x")
    (state_dir / "state.json").write_text("{}")
    remove_state(state_dir, keep_history=True)
    assert sorted(p.relative_to(state_dir).as_posix() for p in state_dir.rglob("*")) == [
        "deployments", "deployments/bgd-1.json"]
    (state_dir / "state.json").write_text("{}")
    remove_state(state_dir, keep_history=False)
    assert not state_dir.exists()
    state_dir.mkdir()
    (state_dir / "state.json").write_text("{}")
    remove_state(state_dir, keep_history=True)  # no history kept: nothing of the folder stays
    assert not state_dir.exists()
