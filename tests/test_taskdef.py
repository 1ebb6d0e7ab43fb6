import copy
import json
import os
from pathlib import Path

import pytest

from bgctl.adapters.project_files import load_task_definition
from bgctl.core.errors import InvalidInput
from bgctl.core.taskdef import HealthCheck, Revision, parse_task_definition

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "task-definitions"
SEED_CHECK = HealthCheck(
    ("CMD-SHELL", "wget --quiet --tries=1 --spider http://localhost:3000/health || exit 1"),
    interval=30, timeout=5, retries=3, start_period=60,
)
SEED_IGNORED = (
    "executionRoleArn", "hostPort", "logConfiguration", "networkMode", "requiresCompatibilities", "taskRoleArn",
)


def green() -> dict:
    return json.loads((EXAMPLES / "backend-green.json").read_text())


def parse(data: dict, source: str = "td.json") -> Revision:
    return parse_task_definition(json.dumps(data, indent=2), source=source)


def refusal(data, source: str = "td.json") -> str:
    text = data if isinstance(data, str) else json.dumps(data, indent=2)
    with pytest.raises(InvalidInput) as caught:
        parse_task_definition(text, source=source)
    message = str(caught.value)
    assert source in message and message.endswith(".") and "\n" not in message
    return message


def test_seed_blue():
    rev = load_task_definition(EXAMPLES / "backend-blue.json")
    assert rev.family == "ecs-service-connect-backend"
    assert (rev.container_name, rev.image) == ("backend", "nginx:alpine")
    assert rev.command[:2] == ("/bin/sh", "-c") and "Hello from BACKEND BLUE" in rev.command[2]
    assert rev.entry_point is None
    assert rev.environment == (("ENV", "production"), ("SERVICE_NAME", "backend"))
    assert (rev.container_port, rev.port_name) == (3000, "backend-port")
    assert rev.health_check == SEED_CHECK
    assert (rev.cpu_units, rev.memory_mib) == (256, 512)
    assert rev.ignored == SEED_IGNORED
    assert rev.source == str(EXAMPLES / "backend-blue.json")
    assert rev.describe() == "ecs-service-connect-backend (nginx:alpine, port 3000 backend-port)"


def test_seed_green():
    rev = load_task_definition(EXAMPLES / "backend-green.json")
    assert "Hello from BACKEND GREEN (v2.0)" in rev.command[2]
    assert rev.environment == (("ENV", "production"), ("SERVICE_NAME", "backend"), ("VERSION", "2.0"))
    assert rev.health_check == SEED_CHECK
    assert (rev.cpu_units, rev.memory_mib, rev.ignored) == (256, 512, SEED_IGNORED)


def test_seed_frontend_has_no_service_connect_backend():
    path = EXAMPLES / "frontend.json"
    with pytest.raises(InvalidInput) as caught:
        load_task_definition(path)
    assert str(caught.value) == f"No container in {path} maps containerPort 3000 (the Service Connect port)."
    assert caught.value.exit_code == 2


def test_another_body_port_name_and_cmd_check():
    data = green()
    container = data["containerDefinitions"][0]
    container["command"] = ["nginx", "-g", "daemon off;"]
    container["entryPoint"] = ["/docker-entrypoint.sh"]
    container["environment"] = [{"name": "B", "value": "2"}, {"name": "A", "value": "a=b $HOME"}]
    container["portMappings"] = [{"containerPort": 3000, "name": "api"}]
    container["healthCheck"] = {"command": ["CMD", "wget", "-q", "--spider", "http://localhost:3000/"]}
    container["cpu"] = 512
    container["memory"] = 300
    del data["executionRoleArn"], data["taskRoleArn"], container["logConfiguration"]
    rev = parse(data)
    assert rev.command == ("nginx", "-g", "daemon off;")
    assert rev.entry_point == ("/docker-entrypoint.sh",)
    assert rev.environment == (("B", "2"), ("A", "a=b $HOME"))  # file order, values verbatim
    assert rev.port_name == "api"
    assert rev.health_check == HealthCheck(("CMD", "wget", "-q", "--spider", "http://localhost:3000/"))
    assert (rev.cpu_units, rev.memory_mib) == (512, 300)  # the container's own sizes win
    assert rev.ignored == ("networkMode", "requiresCompatibilities")
    assert rev.describe() == "ecs-service-connect-backend (nginx:alpine, port 3000 api)"


def test_picks_the_container_serving_the_port_preferring_essential():
    data = green()
    backend = data["containerDefinitions"][0]
    helper = {**copy.deepcopy(backend), "name": "helper", "image": "busybox", "essential": False}
    sidecar = {"name": "log-router", "image": "fluent-bit", "portMappings": [{"containerPort": 2020}]}
    data["containerDefinitions"] = [helper, sidecar, backend]
    rev = parse(data)
    assert (rev.container_name, rev.image) == ("backend", "nginx:alpine")
    assert "containerDefinitions[helper]" in rev.ignored and "containerDefinitions[log-router]" in rev.ignored


def test_other_service_connect_port():
    data = green()
    data["containerDefinitions"][0]["portMappings"][0]["containerPort"] = 8080
    rev = parse_task_definition(json.dumps(data), source="td.json", service_connect_port=8080)
    assert rev.container_port == 8080
    assert "maps containerPort 3000" in refusal(data)


def test_describe_task_definition_wrapper():
    inner = green()
    inner.update({"taskDefinitionArn": "arn:aws:ecs:ap-northeast-1:1:task-definition/x:7", "revision": 7,
                  "status": "ACTIVE", "volumes": [], "placementConstraints": []})
    inner["containerDefinitions"][0].update({"mountPoints": [], "volumesFrom": [], "systemControls": []})
    rev = parse({"taskDefinition": inner, "tags": []})
    assert rev.environment[-1] == ("VERSION", "2.0")
    assert rev.ignored == SEED_IGNORED  # registration metadata and empty fields are not "ignored"


def test_health_check_none_and_defaults():
    data = green()
    data["containerDefinitions"][0]["healthCheck"] = {"command": ["NONE"]}
    assert parse(data).health_check is None
    data["containerDefinitions"][0]["healthCheck"] = {"command": ["CMD-SHELL", "true"], "retries": 5}
    assert parse(data).health_check == HealthCheck(("CMD-SHELL", "true"), 30, 5, 5, 0)
    del data["containerDefinitions"][0]["healthCheck"]
    assert parse(data).health_check is None


@pytest.mark.parametrize(
    "task_cpu, task_memory, cpu, memory",
    [("0.5 vCPU", "1 GB", 512, 1024), (1024, 2048, 1024, 2048), ("2vcpu", "0.5GB", 2048, 512), (None, None, None, None)],
)
def test_task_sizes(task_cpu, task_memory, cpu, memory):
    data = green()
    data.pop("cpu"), data.pop("memory")
    if task_cpu is not None:
        data.update(cpu=task_cpu, memory=task_memory)
    assert (parse(data).cpu_units, parse(data).memory_mib) == (cpu, memory)


def test_round_trip():
    data = green()
    data["containerDefinitions"][0]["entryPoint"] = ["/bin/sh"]
    for rev in (parse(data), load_task_definition(EXAMPLES / "backend-blue.json")):
        assert Revision.from_dict(json.loads(json.dumps(rev.to_dict()))) == rev
    data["containerDefinitions"][0]["healthCheck"] = {"command": ["NONE"]}
    del data["containerDefinitions"][0]["command"], data["cpu"], data["memory"]
    rev = parse(data)
    assert rev.command is None and rev.health_check is None and rev.cpu_units is None
    assert Revision.from_dict(json.loads(json.dumps(rev.to_dict()))) == rev


def test_malformed_json_names_line_and_column():
    text = (EXAMPLES / "backend-green.json").read_text().replace('"essential": true,', '"essential": true')
    message = refusal(text, "examples/x.json")
    assert message == "examples/x.json is not valid JSON: Expecting ',' delimiter at line 16, column 7."


def without(path: str):
    data = green()
    *parents, key = path.split(".")
    target = data
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    del target[key]
    return data


@pytest.mark.parametrize(
    "data, expected",
    [
        (without("containerDefinitions"), "td.json is missing the required field containerDefinitions."),
        (without("family"), "td.json is missing the required field family."),
        (without("containerDefinitions.0.image"),
         "td.json is missing the required field containerDefinitions[0].image."),
        (without("containerDefinitions.0.name"), "td.json is missing the required field containerDefinitions[0].name."),
        (without("containerDefinitions.0.healthCheck.command"),
         "td.json is missing the required field containerDefinitions[0].healthCheck.command."),
        (without("containerDefinitions.0.portMappings"),
         "No container in td.json maps containerPort 3000 (the Service Connect port)."),
        ([1, 2], "td.json is not an ECS task definition (its JSON is not an object)."),
        ({**green(), "containerDefinitions": []},
         "containerDefinitions in td.json must be a non-empty list of container definitions."),
    ],
)
def test_missing_fields(data, expected):
    assert refusal(data) == expected


def change(**fields):
    data = green()
    for key, value in fields.items():
        if key.startswith("c_"):
            data["containerDefinitions"][0][key[2:]] = value
        else:
            data[key] = value
    return data


@pytest.mark.parametrize(
    "data, expected",
    [
        (change(c_environment={"ENV": "production"}), "containerDefinitions[0].environment in td.json must be a list"),
        (change(c_environment=[{"name": "ENV"}]), "containerDefinitions[0].environment in td.json must be a list"),
        (change(c_environment=[{"name": "N", "value": 2}]), "containerDefinitions[0].environment"),
        (change(c_environment=["ENV=production"]), "containerDefinitions[0].environment"),
        (change(c_healthCheck={"command": "wget -q http://localhost:3000/"}),
         'containerDefinitions[0].healthCheck.command in td.json must be a list of strings starting with "CMD" or'),
        (change(c_healthCheck={"command": ["wget", "-q"]}), "healthCheck.command in td.json must be"),
        (change(c_healthCheck={"command": ["CMD-SHELL"]}), "healthCheck.command in td.json must be"),
        (change(c_healthCheck={"command": ["CMD", "true"], "interval": "30"}),
         'containerDefinitions[0].healthCheck.interval in td.json must be a whole number from 5 to 300 '
         '(ECS\'s limits), not "30".'),
        (change(c_healthCheck={"command": ["CMD", "true"], "retries": 0}), "healthCheck.retries in td.json"),
        (change(c_healthCheck=["CMD", "true"]), "containerDefinitions[0].healthCheck in td.json must be an object."),
        (change(cpu="lots"), 'cpu in td.json must be a number such as 256 or "0.25 vCPU", not "lots".'),
        (change(memory="512 MB"), 'memory in td.json must be a number such as 512 or "1 GB", not "512 MB".'),
        (change(c_cpu="256 units"), "containerDefinitions[0].cpu in td.json must be a number"),
        (change(c_cpu=True), "containerDefinitions[0].cpu in td.json must be a number"),
        (change(c_command="nginx -g 'daemon off;'"), "containerDefinitions[0].command in td.json must be a list of strings."),
        (change(c_entryPoint=["/bin/sh", 1]), "containerDefinitions[0].entryPoint in td.json must be a list of strings."),
        (change(c_image=["nginx"]), 'containerDefinitions[0].image in td.json must be a string, not ["nginx"].'),
        (change(c_portMappings={"containerPort": 3000}), "containerDefinitions[0].portMappings in td.json must be a list"),
        (change(c_portMappings=[{"containerPort": "3000"}]), "portMappings[].containerPort in td.json must be a whole"),
        (change(c_essential="yes"), "containerDefinitions[0].essential in td.json must be true or false."),
    ],
)
def test_wrong_types(data, expected):
    assert expected in refusal(data)


def test_two_essential_containers_on_the_port_are_ambiguous():
    data = green()
    twin = {**copy.deepcopy(data["containerDefinitions"][0]), "name": "twin"}
    data["containerDefinitions"].append(twin)
    assert refusal(data) == "Containers backend and twin in td.json all map containerPort 3000; only one may."


def test_missing_file(tmp_path):
    path = tmp_path / "nope.json"
    with pytest.raises(InvalidInput, match=f"^The task definition {path} does not exist.$"):
        load_task_definition(path)


def test_directory_and_binary_files(tmp_path):
    with pytest.raises(InvalidInput, match="cannot be read: Is a directory."):
        load_task_definition(tmp_path)
    binary = tmp_path / "td.json"
    binary.write_bytes(b"\xff\xfe{}")
    with pytest.raises(InvalidInput, match="is not a text file"):
        load_task_definition(binary)


def test_unreadable_file(tmp_path, monkeypatch):
    path = tmp_path / "td.json"
    path.write_text(json.dumps(green()))
    if os.geteuid() != 0:
        path.chmod(0)
    else:  # root reads any file whatever its mode
        def denied(self, *args, **kwargs):
            raise PermissionError(13, "Permission denied", str(self))

        monkeypatch.setattr(Path, "read_text", denied)
    with pytest.raises(InvalidInput, match=f"^The task definition {path} cannot be read: Permission denied.$"):
        load_task_definition(path)
