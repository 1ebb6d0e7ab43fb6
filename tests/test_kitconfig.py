from pathlib import Path

import pytest

from bgctl.adapters.project_files import load_config, load_settings
from bgctl.core.errors import InvalidInput
from bgctl.core.config import FunctionMapping, KitConfig, alarm_percent, bake_seconds
from bgctl.core.traffic import TestTrafficRule

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "bgctl.toml").write_text(text)
    return tmp_path


def refusal(tmp_path: Path, text: str) -> str:
    with pytest.raises(InvalidInput) as caught:
        load_config(write(tmp_path, text))
    assert caught.value.exit_code == 2
    return str(caught.value)


def test_the_repositorys_own_config_loads():
    config = load_config(REPO)
    assert config.bake_seconds == 300.0
    assert config.hook_timeout == 60.0
    assert config.test_rule == TestTrafficRule("x-amzn-ecs-bluegreen-test", "test")
    assert config.alarm_5xx_percent is None
    assert config.hooks == ()


def test_a_missing_file_gives_defaults_with_aws_default_rule(tmp_path):
    config = load_config(tmp_path)
    assert config == KitConfig()
    assert config.bake_seconds == 300.0
    assert config.hook_timeout == 60.0
    assert config.alarm_5xx_percent is None
    assert config.test_rule.header == "x-amzn-ecs-blue-green-test"
    assert config.test_rule.value is None  # header present, any value
    assert config.test_rule.describe() == "x-amzn-ecs-blue-green-test (any value)"


def test_an_empty_file_gives_defaults(tmp_path):
    assert load_config(write(tmp_path, "")) == KitConfig()


def test_deployment_settings(tmp_path):
    config = load_config(write(tmp_path, """
[deployment]
bake_time = "1h30m"
hook_timeout = "2m"
alarm_5xx_percent = 2.5
"""))
    assert config.bake_seconds == 5400.0
    assert config.hook_timeout == 120.0
    assert config.alarm_5xx_percent == 2.5


def test_bare_numbers_are_seconds(tmp_path):
    config = load_config(write(tmp_path, "[deployment]\nbake_time = 90\nhook_timeout = 5\nalarm_5xx_percent = 0\n"))
    assert (config.bake_seconds, config.hook_timeout, config.alarm_5xx_percent) == (90.0, 5.0, 0.0)


def test_bake_time_of_exactly_1440_minutes_is_allowed(tmp_path):
    assert load_config(write(tmp_path, '[deployment]\nbake_time = "24h"\n')).bake_seconds == 1440 * 60


def test_rule_with_only_a_header_means_present(tmp_path):
    config = load_config(write(tmp_path, '[test_traffic_rule]\nheader = "X-Canary"\n'))
    assert config.test_rule == TestTrafficRule("x-canary")
    assert config.test_rule.value is None
    assert config.test_rule.envoy_header_matcher() == {"name": "x-canary", "present_match": True}


def test_rule_with_header_and_value(tmp_path):
    config = load_config(write(tmp_path, '[test_traffic_rule]\nheader = "X-Canary"\nvalue = "yes"\n'))
    assert config.test_rule.describe() == "x-canary: yes"


def test_hooks_tables(tmp_path):
    config = load_config(write(tmp_path, """
[[hooks]]
stage = "POST_TEST_TRAFFIC_SHIFT"
command = "curl -fsS $BGCTL_INGRESS_URL/"

[[hooks]]
stage = "pre-scale-up"
command = "true"
"""))
    assert config.hooks == (
        ("POST_TEST_TRAFFIC_SHIFT", "curl -fsS $BGCTL_INGRESS_URL/"),
        ("pre-scale-up", "true"),
    )


# -- refusals ---------------------------------------------------------------


def test_invalid_toml(tmp_path):
    message = refusal(tmp_path, "[deployment\nbake_time = 5")
    assert message.startswith("bgctl.toml is not valid TOML: ")


@pytest.mark.parametrize("value", ['"five minutes"', '"-5m"', '"5x"', '""', "true"])
def test_bad_bake_time(tmp_path, value):
    message = refusal(tmp_path, f"[deployment]\nbake_time = {value}\n")
    assert message.startswith("bgctl.toml bake_time ")
    assert "is not a duration; use a number of seconds or a form like 90s, 5m, 1h." in message


def test_bad_hook_timeout(tmp_path):
    message = refusal(tmp_path, '[deployment]\nhook_timeout = "soon"\n')
    assert message == ("bgctl.toml hook_timeout 'soon' is not a duration; "
                       "use a number of seconds or a form like 90s, 5m, 1h.")


def test_bake_time_over_1440_minutes(tmp_path):
    message = refusal(tmp_path, '[deployment]\nbake_time = "1441m"\n')
    assert message == "bgctl.toml bake_time '1441m' is longer than ECS allows (1440 minutes)."


@pytest.mark.parametrize("value, shown", [("101", "101"), ("-1", "-1"), ("100.5", "100.5")])
def test_alarm_outside_0_to_100(tmp_path, value, shown):
    message = refusal(tmp_path, f"[deployment]\nalarm_5xx_percent = {value}\n")
    assert message == f"bgctl.toml alarm_5xx_percent must be a percentage from 0 to 100, not {shown}."


def test_alarm_not_a_number(tmp_path):
    message = refusal(tmp_path, '[deployment]\nalarm_5xx_percent = "lots"\n')
    assert message == "bgctl.toml alarm_5xx_percent must be a percentage from 0 to 100, not 'lots'."


def test_alarm_nan_is_refused(tmp_path):
    assert "must be a percentage from 0 to 100" in refusal(tmp_path, "[deployment]\nalarm_5xx_percent = nan\n")


def test_alarm_boolean_is_refused(tmp_path):
    refusal(tmp_path, "[deployment]\nalarm_5xx_percent = true\n")


def test_deployment_not_a_table(tmp_path):
    assert refusal(tmp_path, 'deployment = "fast"\n') == "bgctl.toml: [deployment] must be a table."


def test_rule_without_header(tmp_path):
    message = refusal(tmp_path, '[test_traffic_rule]\nvalue = "test"\n')
    assert message == "bgctl.toml: [test_traffic_rule] needs a header (and optionally a value)."


def test_rule_not_a_table(tmp_path):
    message = refusal(tmp_path, 'test_traffic_rule = "x-test"\n')
    assert message == "bgctl.toml: [test_traffic_rule] needs a header (and optionally a value)."


@pytest.mark.parametrize("text", ['hooks = "curl"\n', 'hooks = ["curl"]\n', '[hooks]\nstage = "PRE_SCALE_UP"\n'])
def test_hooks_not_a_list_of_tables(tmp_path, text):
    assert refusal(tmp_path, text) == "bgctl.toml: hooks must be [[hooks]] tables with stage and command."


@pytest.mark.parametrize("header", ["bad header", "host", "x-test:", ""])
def test_invalid_header_name(tmp_path, header):
    message = refusal(tmp_path, f'[test_traffic_rule]\nheader = "{header}"\n')
    assert message == f"{header!r} is not a header name a test traffic rule can match."


def test_invalid_header_value(tmp_path):
    message = refusal(tmp_path, '[test_traffic_rule]\nheader = "x-test"\nvalue = ""\n')
    assert message == "'' is not a header value a test traffic rule can match."


def test_a_file_that_is_not_utf8(tmp_path):
    (tmp_path / "bgctl.toml").write_bytes(b"\xff\xfe[deployment]\n")
    with pytest.raises(InvalidInput, match="bgctl.toml"):
        load_config(tmp_path)


# -- the helpers the command-line options share --------------------------------


def test_bake_seconds_names_the_option_by_default():
    with pytest.raises(InvalidInput) as caught:
        bake_seconds("25h")
    assert str(caught.value) == "--bake-time '25h' is longer than ECS allows (1440 minutes)."
    assert bake_seconds("0") == 0.0


def test_alarm_percent_names_the_option_by_default():
    assert alarm_percent(None) is None
    assert alarm_percent("5") == 5.0
    with pytest.raises(InvalidInput) as caught:
        alarm_percent("200")
    assert str(caught.value) == "--alarm-5xx-percent must be a percentage from 0 to 100, not '200'."


# -- [functions."ARN"]: the local stand-ins for Lambda hook targets ------------

APPROVE = "arn:aws:lambda:us-east-1:123456789012:function:approve"


def test_a_function_mapped_to_a_handler(tmp_path):
    config = load_config(write(tmp_path, f"""
[functions."{APPROVE}"]
handler = "hooks/approve.py:lambda_handler"
environment = {{ ALB_URL = "http://127.0.0.1:8080/", MATCHING_HEADER = "test" }}
"""))
    mapping = config.functions[APPROVE]
    assert mapping == FunctionMapping(
        arn=APPROVE, handler="hooks/approve.py:lambda_handler", command=None,
        environment={"ALB_URL": "http://127.0.0.1:8080/", "MATCHING_HEADER": "test"}, directory=tmp_path.resolve(),
    )
    # Relative to the configuration file's folder, wherever bgctl runs.
    assert mapping.handler_path == tmp_path.resolve() / "hooks" / "approve.py"


def test_a_function_mapped_to_a_command_and_several_functions(tmp_path):
    config = load_config(write(tmp_path, f"""
[functions."{APPROVE}"]
command = "./hooks/approve.sh"

[functions."arn:aws:lambda:us-east-1:123456789012:function:smoke"]
handler = "smoke.py:handler"
"""))
    assert list(config.functions) == [APPROVE, "arn:aws:lambda:us-east-1:123456789012:function:smoke"]
    approve = config.functions[APPROVE]
    assert (approve.handler, approve.command, approve.environment) == (None, "./hooks/approve.sh", {})
    assert approve.handler_path is None
    assert approve.directory == tmp_path.resolve()


def test_no_functions_by_default(tmp_path):
    assert load_config(tmp_path).functions == {}
    assert load_config(write(tmp_path, "")).functions == {}


def test_the_default_service_definition_is_relative_to_the_file(tmp_path):
    config = load_config(write(tmp_path, '[deployment]\nservice_definition = "ecs/service.json"\n'))
    assert config.service_definition == str(tmp_path.resolve() / "ecs" / "service.json")
    assert load_config(tmp_path / "elsewhere").service_definition is None


@pytest.mark.parametrize("body, message", [
    ('handler = "a.py:h"\ncommand = "true"',
     'needs exactly one of handler = "FILE.py:FUNCTION" or command = "...".'),
    ('environment = { A = "1" }', 'needs exactly one of handler = "FILE.py:FUNCTION" or command = "...".'),
    ('handler = "approve.lambda_handler"', """handler 'approve.lambda_handler' is not of the form "path/to/file.py:function"."""),
    ('handler = "approve.py"', """handler 'approve.py' is not of the form "path/to/file.py:function"."""),
    ('handler = "approve.py:2go"', """handler 'approve.py:2go' is not of the form "path/to/file.py:function"."""),
    ("handler = 3", """handler 3 is not of the form "path/to/file.py:function"."""),
    ('command = "  "', "command must be a shell command, not '  '."),
    ('handler = "a.py:h"\nenvironment = "A=1"', "environment must be a table of strings, like Lambda's environment variables."),
    ('handler = "a.py:h"\nenvironment = { RETRIES = 3, DEBUG = true, NAME = "x" }',
     """environment DEBUG, RETRIES must be strings, as Lambda's environment variables are (quote them: KEY = "1")."""),
])
def test_bad_function_mappings_name_the_file_and_the_arn(tmp_path, body, message):
    assert refusal(tmp_path, f'[functions."{APPROVE}"]\n{body}\n') == f'bgctl.toml: [functions."{APPROVE}"] {message}'


def test_functions_not_tables(tmp_path):
    assert refusal(tmp_path, 'functions = "approve"\n') == \
        'bgctl.toml: functions must be [functions."ARN"] tables with a handler or a command.'
    assert refusal(tmp_path, f'[functions]\n"{APPROVE}" = "approve.py:h"\n') == \
        f'bgctl.toml: [functions."{APPROVE}"] must be a table with a handler or a command.'


def test_bad_service_definition(tmp_path):
    assert refusal(tmp_path, "[deployment]\nservice_definition = 3\n") == \
        "bgctl.toml: [deployment] service_definition must be the path of a JSON file."


# -- BGCTL_CONFIG names the file -------------------------------------------------


def project(tmp_path: Path) -> Path:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    return tmp_path


def test_bgctl_config_names_another_file_and_paths_are_relative_to_it(tmp_path):
    root = project(tmp_path)
    (root / "team").mkdir()
    (root / "team" / "ecs.toml").write_text(
        f'[deployment]\nbake_time = "1m"\nservice_definition = "service.json"\n'
        f'[functions."{APPROVE}"]\nhandler = "hooks/approve.py:lambda_handler"\n'
    )
    config = load_config(load_settings({"BGCTL_CONFIG": "team/ecs.toml"}, root))
    assert config.bake_seconds == 60.0
    assert config.service_definition == str(root.resolve() / "team" / "service.json")
    assert config.functions[APPROVE].handler_path == root.resolve() / "team" / "hooks" / "approve.py"


def test_bgctl_config_may_be_absolute(tmp_path):
    root = project(tmp_path / "repo")
    other = tmp_path / "elsewhere.toml"
    other.write_text('[deployment]\nhook_timeout = "7s"\n')
    assert load_config(load_settings({"BGCTL_CONFIG": str(other)}, root)).hook_timeout == 7.0


def test_without_bgctl_config_the_projects_bgctl_toml(tmp_path):
    root = project(tmp_path)
    assert load_config(load_settings({}, root)) == KitConfig()
    (root / "bgctl.toml").write_text('[deployment]\nbake_time = "2m"\n')
    assert load_config(load_settings({"BGCTL_CONFIG": ""}, root)).bake_seconds == 120.0


def test_a_missing_named_file_is_an_error(tmp_path):
    root = project(tmp_path)
    with pytest.raises(InvalidInput) as caught:
        load_config(load_settings({"BGCTL_CONFIG": "nowhere.toml"}, root))
    assert caught.value.exit_code == 2
    assert str(caught.value) == f"BGCTL_CONFIG names {root.resolve() / 'nowhere.toml'}, which does not exist."


def test_a_named_file_that_is_a_folder(tmp_path):
    root = project(tmp_path)
    (root / "conf").mkdir()
    with pytest.raises(InvalidInput, match=r"^The configuration file .*conf cannot be read: Is a directory\.$"):
        load_config(load_settings({"BGCTL_CONFIG": "conf"}, root))


def test_errors_name_the_named_file(tmp_path):
    root = project(tmp_path)
    (root / "ecs.toml").write_text(f'[functions."{APPROVE}"]\nhandler = "x"\n')
    with pytest.raises(InvalidInput) as caught:
        load_config(load_settings({"BGCTL_CONFIG": "ecs.toml"}, root))
    assert str(caught.value).startswith(f'ecs.toml: [functions."{APPROVE}"] handler ')


# -- misspelt keys and out-of-range values ---------------------------------------


@pytest.mark.parametrize("text, message", [
    ("[deployment]\nbake_tme = \"5m\"\n", "unknown key deployment.bake_tme; did you mean bake_time?"),
    ("[deployment]\nhook_timout = \"5m\"\n", "unknown key deployment.hook_timout; did you mean hook_timeout?"),
    ("[deployment]\nalarm_5xx_percnt = 5\n", "unknown key deployment.alarm_5xx_percnt; did you mean alarm_5xx_percent?"),
    ("[deploymnt]\nbake_time = \"5m\"\n", "unknown key deploymnt; did you mean deployment?"),
    ("[test_trafic_rule]\nheader = \"x\"\n", "unknown key test_trafic_rule; did you mean test_traffic_rule?"),
    ("[test_traffic_rule]\nheader = \"x\"\nvalu = \"y\"\n", "unknown key test_traffic_rule.valu; did you mean value?"),
    ("[[hooks]]\nstage = \"POST_SCALE_UP\"\ncommand = \"true\"\n[[hooks]]\nstage = \"POST_SCALE_UP\"\ncomand = \"true\"\n",
     "unknown key hooks[2].comand; did you mean command?"),
    (f'[functions."{APPROVE}"]\nhandlr = "a.py:h"\n', f'unknown key functions."{APPROVE}".handlr; did you mean handler?'),
    (f'[functions."{APPROVE}"]\nhandler = "a.py:h"\nruntime = "python3.12"\n',
     f'unknown key functions."{APPROVE}".runtime; the keys are handler, command, environment.'),
    ("colour = \"blue\"\n", "unknown key colour; the keys are deployment, test_traffic_rule, hooks, functions."),
])
def test_a_misspelt_key_is_refused_with_the_nearest_valid_one(tmp_path, text, message):
    assert refusal(tmp_path, text) == f"bgctl.toml: {message}"


@pytest.mark.parametrize("value", ['"0"', "0", '"16m"', '"-5s"'])
def test_hook_timeout_out_of_range_is_refused(tmp_path, value):
    message = refusal(tmp_path, f"[deployment]\nhook_timeout = {value}\n")
    assert "hook_timeout" in message


def test_hook_timeout_of_exactly_15_minutes_is_allowed(tmp_path):
    assert load_config(write(tmp_path, '[deployment]\nhook_timeout = "15m"\n')).hook_timeout == 900.0


def test_every_command_refuses_a_misspelt_key_first(tmp_path):
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    write(tmp_path, "[deployment]\nbake_tme = \"5m\"\n")
    with pytest.raises(InvalidInput) as caught:
        load_settings({}, tmp_path)
    assert str(caught.value) == "bgctl.toml: unknown key deployment.bake_tme; did you mean bake_time?"
    assert caught.value.exit_code == 2
