"""The pytest plugin's pure parts and its settings, and finding the kit's files; no Docker."""

from __future__ import annotations

from pathlib import Path

import pytest

from bgctl.adapters.kit_files import KIT_ENTRIES, PACKAGED_KIT, KitFilesMissing, copy_kit, kit_source
from bgctl.adapters.project_files import load_settings
from bgctl.pytest_plugin import answering_slot, hook_in, resolve_path, stack_env, transcript

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("before, after, slot", [
    ({"blue": 3, "green": 0}, {"blue": 4, "green": 0}, "blue"),
    ({"blue": 3, "green": 0}, {"blue": 3, "green": 1}, "green"),
    # Envoy retried on a connection failure: two attempts, one slot.
    ({"blue": 3, "green": 0}, {"blue": 5, "green": 0}, "blue"),
    # Nothing reached a backend (the frontend answered), or other traffic was in flight.
    ({"blue": 3, "green": 0}, {"blue": 3, "green": 0}, None),
    ({"blue": 3, "green": 0}, {"blue": 4, "green": 1}, None),
])
def test_the_slot_that_answered_is_the_one_whose_counter_moved(before, after, slot):
    assert answering_slot(before, after) == slot


def test_hook_commands_run_in_the_users_folder():
    assert hook_in(Path("/home/me/my repo"), "POST_TEST_TRAFFIC_SHIFT=./hooks/smoke-test.sh") == \
        "POST_TEST_TRAFFIC_SHIFT=cd '/home/me/my repo' && ./hooks/smoke-test.sh"
    # Only the first '=' separates the stage: the command may hold more.
    assert hook_in(Path("/r"), "PRE_SCALE_UP=X=1 ./check") == "PRE_SCALE_UP=cd /r && X=1 ./check"


def test_a_hook_without_a_stage_is_refused():
    with pytest.raises(ValueError, match="STAGE=COMMAND"):
        hook_in(Path("/r"), "./hooks/smoke-test.sh")


def test_paths_are_relative_to_the_settings_folder():
    assert resolve_path("ecs/td.json", Path("/repo")) == Path("/repo/ecs/td.json")
    assert resolve_path("/abs/td.json", Path("/repo")) == Path("/abs/td.json")
    assert resolve_path("  ", Path("/repo")) is None
    assert resolve_path(None, Path("/repo")) is None


def test_the_stacks_environment_is_its_own():
    base = {"PATH": "/bin", "COMPOSE_PROJECT_NAME": "theirs", "BGCTL_HTTP_PORT": "8080",
            "BGCTL_CONFIG": "relative.toml", "BGCTL_TEST_HEADER": "x-secret=1"}
    env = stack_env(base, project="bgctl-pytest-1", http_port=1001, admin_port=1002, config=None, minute="1s")
    assert env == {"PATH": "/bin", "COMPOSE_PROJECT_NAME": "bgctl-pytest-1", "BGCTL_HTTP_PORT": "1001",
                   "BGCTL_ADMIN_PORT": "1002", "BGCTL_MINUTE": "1s", "BGCTL_TEST_HEADER": "x-secret=1"}
    with_config = stack_env(base, project="p", http_port=1, admin_port=2, config=Path("/r/bgctl.toml"), minute=None)
    assert with_config["BGCTL_CONFIG"] == "/r/bgctl.toml" and "BGCTL_MINUTE" not in with_config


def test_the_transcript_shows_each_command_its_exit_and_output():
    text = transcript([(("deploy", "green", "--hook", "POST_TEST_TRAFFIC_SHIFT=cd /r && ./t"), 1, "▶ PRE_SCALE_UP\n",
                        "bgctl: failed.\n")])
    assert text == ("$ bgctl deploy green --hook 'POST_TEST_TRAFFIC_SHIFT=cd /r && ./t'   # exit 1\n"
                    "▶ PRE_SCALE_UP\nbgctl: failed.")
    assert transcript([]) == "(no bgctl command ran)"


# -- the kit's files ---------------------------------------------------------------------------


def test_a_clone_finds_the_kit_at_the_repository_root():
    assert kit_source() == REPO


def test_an_installed_wheel_finds_its_packaged_kit(tmp_path):
    package = tmp_path / "site-packages" / "bgctl"
    copy_kit(package / PACKAGED_KIT, REPO)
    assert kit_source(package) == package / PACKAGED_KIT


def test_a_kit_with_files_missing_is_said_so(tmp_path):
    (tmp_path / "bgctl").mkdir()
    with pytest.raises(KitFilesMissing, match="reinstall bgctl"):
        kit_source(tmp_path / "bgctl")


def test_a_copy_of_the_kit_is_a_project_bgctl_runs_from(tmp_path):
    copy = copy_kit(tmp_path / "kit", REPO)
    assert sorted(p.name for p in copy.iterdir()) == sorted(KIT_ENTRIES)
    assert (copy / "envoy" / "envoy.yaml").read_text() == (REPO / "envoy" / "envoy.yaml").read_text()
    settings = load_settings({"COMPOSE_PROJECT_NAME": "p"}, copy)
    assert settings.compose_file == copy / "compose.yaml"
    assert settings.state_dir == copy / ".bgctl" / "p"


# -- settings from the ini file ----------------------------------------------------------------


def test_the_ini_options_are_read_relative_to_the_ini_file(pytester):
    pytester.makeini("""
        [pytest]
        bgctl_production_task_definition = ecs/v1.json
        bgctl_minute = 1s
        bgctl_hooks =
            POST_TEST_TRAFFIC_SHIFT=./hooks/smoke-test.sh
            PRE_SCALE_UP=true
    """)
    pytester.makefile(".toml", bgctl="")
    pytester.makepyfile("""
        from pathlib import Path

        def test_options(bgctl_options, pytestconfig):
            folder = Path(pytestconfig.inipath).parent
            assert bgctl_options.folder == folder
            assert bgctl_options.config == folder / "bgctl.toml"
            assert bgctl_options.production_task_definition == folder / "ecs" / "v1.json"
            assert bgctl_options.minute == "1s"
            assert bgctl_options.hooks == ("POST_TEST_TRAFFIC_SHIFT=./hooks/smoke-test.sh", "PRE_SCALE_UP=true")
    """)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_without_settings_the_kits_defaults_apply(pytester):
    pytester.makeini("[pytest]\n")
    pytester.makepyfile("""
        def test_options(bgctl_options):
            assert (bgctl_options.config, bgctl_options.production_task_definition, bgctl_options.minute,
                    bgctl_options.hooks) == (None, None, None, ())
    """)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
