"""Compose v2: found where the Docker CLI looks; checked by running it once per docker and plugin."""

import os
import stat

import pytest

from bgctl.adapters import compose
from bgctl.adapters.compose import ensure_compose_plugin, find_compose_plugin
from bgctl.core.errors import ComposeMissing


def test_the_plugin_in_docker_config_is_found(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.setattr(compose, "SYSTEM_PLUGIN_DIRS", ())
    assert find_compose_plugin() is None
    plugin = tmp_path / "cli-plugins" / "docker-compose"
    plugin.parent.mkdir()
    plugin.write_text("#!/bin/sh\n")
    assert find_compose_plugin() is None  # not executable: the CLI would not run it either
    plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
    assert find_compose_plugin() == plugin


def test_a_dangling_link_left_by_a_removed_virtualenv_is_not_a_plugin(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.setattr(compose, "SYSTEM_PLUGIN_DIRS", ())
    (tmp_path / "cli-plugins").mkdir()
    os.symlink(tmp_path / "gone" / "docker-compose", tmp_path / "cli-plugins" / "docker-compose")
    assert find_compose_plugin() is None


def test_system_plugin_directories_are_searched(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "empty"))
    plugin = tmp_path / "system" / "docker-compose"
    plugin.parent.mkdir()
    plugin.write_text("#!/bin/sh\n")
    plugin.chmod(0o755)
    monkeypatch.setattr(compose, "SYSTEM_PLUGIN_DIRS", (str(tmp_path / "missing"), str(plugin.parent)))
    assert find_compose_plugin() == plugin


def fake_docker(directory, *, works: bool):
    """A docker command that logs each call and answers `compose version --short` (v2) or fails."""
    log = directory / "calls"
    docker = directory / "bin" / "docker"
    docker.parent.mkdir(exist_ok=True)
    answer = 'echo 2.40.0' if works else "echo \"docker: 'compose' is not a docker command.\" >&2; exit 1"
    docker.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\n{answer}\n')
    docker.chmod(0o755)
    return docker, log


def test_a_working_compose_is_checked_once_per_docker_and_plugin(tmp_path, monkeypatch):
    docker, log = fake_docker(tmp_path, works=True)
    monkeypatch.setenv("PATH", f"{docker.parent}:{os.environ['PATH']}")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "config"))
    state = tmp_path / "state"
    state.mkdir()
    ensure_compose_plugin(remember_in=state)
    ensure_compose_plugin(remember_in=state)
    assert log.read_text() == "compose version --short\n"
    docker.write_text(docker.read_text() + "# upgraded\n")  # another docker: checked again
    ensure_compose_plugin(remember_in=state)
    assert log.read_text().count("compose version") == 2


def test_a_missing_compose_is_refused_and_not_remembered(tmp_path, monkeypatch):
    docker, log = fake_docker(tmp_path, works=False)
    monkeypatch.setenv("PATH", f"{docker.parent}:{os.environ['PATH']}")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "config"))
    state = tmp_path / "state"
    state.mkdir()
    for _ in range(2):
        with pytest.raises(ComposeMissing, match=r"Docker Compose v2 is missing"):
            ensure_compose_plugin(remember_in=state)
    assert log.read_text().count("compose version") >= 2
    assert list(state.iterdir()) == []
