"""Finding the Compose v2 plugin where the Docker CLI looks, without starting a process."""

import os
import stat

from bgctl.adapters import compose
from bgctl.adapters.compose import find_compose_plugin


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
