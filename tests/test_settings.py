from pathlib import Path

import pytest

from bgctl.adapters.project_files import load_settings
from bgctl.core.errors import InvalidInput


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    return tmp_path


def test_defaults(repo):
    s = load_settings({}, repo)
    assert (s.project_name, s.http_port, s.admin_port, s.image_mode) == ("bgctl", 8080, 9901, "auto")
    assert s.ingress_url == "http://127.0.0.1:8080"
    assert s.routes_dir == repo / ".bgctl" / "bgctl" / "routes"


def test_environment_overrides(repo):
    s = load_settings(
        {"COMPOSE_PROJECT_NAME": "demo-1", "BGCTL_HTTP_PORT": "18080", "BGCTL_ADMIN_PORT": "19901",
         "BGCTL_IMAGES": "offline", "BGCTL_HEALTHCHECK": "seed"},
        repo,
    )
    assert (s.project_name, s.http_port, s.admin_port, s.image_mode) == ("demo-1", 18080, 19901, "offline")
    env = s.compose_env(nginx_image="n", envoy_image="e")
    assert env["BGCTL_HEALTH_INTERVAL"] == "30s" and env["BGCTL_HEALTH_START_PERIOD"] == "60s"
    assert env["BGCTL_ROUTES_DIR"].endswith(".bgctl/demo-1/routes")


@pytest.mark.parametrize(
    "env, message",
    [
        ({"BGCTL_HTTP_PORT": "abc"}, "BGCTL_HTTP_PORT must be a port number from 1 to 65535, not 'abc'."),
        ({"BGCTL_HTTP_PORT": "0"}, "BGCTL_HTTP_PORT must be a port number"),
        ({"BGCTL_ADMIN_PORT": "70000"}, "BGCTL_ADMIN_PORT must be a port number"),
        ({"BGCTL_HTTP_PORT": "9000", "BGCTL_ADMIN_PORT": "9000"}, "must differ"),
        ({"COMPOSE_PROJECT_NAME": "Bad Name"}, "not a valid Compose project name"),
        ({"BGCTL_IMAGES": "cloud"}, "BGCTL_IMAGES must be one of auto, official, offline"),
        ({"BGCTL_HEALTHCHECK": "slow"}, "BGCTL_HEALTHCHECK must be one of fast, seed"),
    ],
)
def test_bad_settings_are_one_sentence(repo, env, message):
    with pytest.raises(InvalidInput) as caught:
        load_settings(env, repo)
    assert message in str(caught.value)


def test_needs_the_repository_root(tmp_path):
    with pytest.raises(InvalidInput, match="no compose.yaml"):
        load_settings({}, tmp_path)


def test_config_path_defaults_to_the_projects_bgctl_toml(repo):
    s = load_settings({}, repo)
    assert s.config_path == repo / "bgctl.toml"
    assert s.config_file is None


@pytest.mark.parametrize("value, expected", [("team/ecs.toml", "team/ecs.toml"), ("/etc/bgctl/ecs.toml", None)])
def test_bgctl_config_is_relative_to_the_project(repo, value, expected):
    s = load_settings({"BGCTL_CONFIG": value}, repo)
    assert s.config_path == (repo / expected if expected else Path(value))
    assert s.config_file == s.config_path


@pytest.mark.parametrize("value, seconds", [(None, 60.0), ("", 60.0), ("1s", 1.0), ("0.5", 0.5), ("60s", 60.0),
                                            ("2m", 120.0)])
def test_bgctl_minute(repo, value, seconds):
    s = load_settings({} if value is None else {"BGCTL_MINUTE": value}, repo)
    assert s.minute_seconds == seconds
    assert s.minutes(5) == 5 * seconds


@pytest.mark.parametrize("value, message", [
    ("0", "BGCTL_MINUTE must be longer than 0s, not '0'."),
    ("0s", "BGCTL_MINUTE must be longer than 0s, not '0s'."),
    ("soon", "BGCTL_MINUTE 'soon' is not a duration; use a number of seconds or a form like 90s, 5m, 1h."),
    ("-1s", "BGCTL_MINUTE '-1s' is not a duration; use a number of seconds or a form like 90s, 5m, 1h."),
])
def test_bad_bgctl_minute(repo, value, message):
    with pytest.raises(InvalidInput) as caught:
        load_settings({"BGCTL_MINUTE": value}, repo)
    assert str(caught.value) == message
    assert caught.value.exit_code == 2
