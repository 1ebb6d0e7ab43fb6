"""A team's pipeline against `bgctl serve`: boto3 and the aws CLI deploy the seed's services on real containers.

One `bgctl serve` subprocess for the module (its own Compose project, free ports,
BGCTL_MINUTE=1s, a configuration file mapping Lambda ARNs to the handlers in
handlers/recording_hooks.py). The tests run in order, each starting where the
one before left production: the service is created from blue, a failing hook
leaves blue, a Lambda-hooked deployment moves to green, a PAUSE hook continued
through the API goes back to blue, stop-service-deployment rolls one back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from botocore.exceptions import ClientError

from tests.envoy_host import free_port
from tests.integration.conftest import BLUE, GREEN, HERE, REPO, SEED_HEADER, Kit, kit_serving, status_json, until
from tests.integration.test_deploy import assert_seed_response

HANDLERS = HERE / "handlers" / "recording_hooks.py"
ACCOUNT = "123456789012"
BACKEND_FAMILY = "ecs-service-connect-backend"
SC = {"enabled": True, "namespace": "service-connect.local", "services": [
    {"portName": "backend-port", "discoveryName": "backend", "clientAliases": [
        {"port": 3000, "dnsName": "backend",
         "testTrafficRules": {"header": {"name": "x-amzn-ecs-bluegreen-test", "value": {"exact": "test"}}}}]}]}
TARGET_GROUP = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/frontend/0123456789abcdef"
FUNCTIONS = {
    # name: (handler function, environment)
    "slow-smoke": ("sleep_then_succeed", {"SLEEP_SECONDS": "4"}),
    "failing-smoke": ("smoke_test_expecting_another_body", {"EXPECTED_RESPONSE": "Hello from BACKEND GREEN (v9)"}),
    "checks-twice": ("in_progress_twice", {"CALLBACK_DELAY": "5"}),
}
FIGURES: dict[str, float] = {}


def lambda_arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"


@pytest.fixture(scope="module")
def serve(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api")
    kit = Kit.new()
    record = folder / "calls.jsonl"
    text = '[deployment]\nbake_time = "0"\nhook_timeout = "60s"\n'
    for name, (function, environment) in FUNCTIONS.items():
        environment = {"ALB_URL": f"{kit.url}/", "RECORD": str(record), "TEST_HEADER_NAME": "x-amzn-ecs-bluegreen-test",
                       "TEST_HEADER_VALUE": "test", **environment}
        table = ", ".join(f"{key} = {json.dumps(value)}" for key, value in environment.items())
        text += f'[functions."{lambda_arn(name)}"]\nhandler = "{HANDLERS}:{function}"\nenvironment = {{ {table} }}\n'
    config = folder / "bgctl.toml"
    config.write_text(text)
    kit.extra_env.update({"BGCTL_CONFIG": str(config), "BGCTL_MINUTE": "1s", "BGCTL_API_PORT": str(free_port())})
    with kit_serving(kit, folder / "serve.log", note=lambda: f"figures: {json.dumps(FIGURES)}\n") as server:
        yield server


def error_of(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def backend(serve) -> dict:
    [service] = serve.ecs.describe_services(services=["backend"])["services"]
    return service


def deployments(serve) -> list[dict]:
    return serve.ecs.list_service_deployments(service="backend")["serviceDeployments"]


def latest_deployment(serve) -> dict:
    arn = deployments(serve)[0]["serviceDeploymentArn"]
    [d] = serve.ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"]
    return d


def update(serve, task_definition: str, hooks: list[dict], bake: int = 0) -> dict:
    return serve.ecs.update_service(service="backend", taskDefinition=task_definition, deploymentConfiguration={
        "strategy": "BLUE_GREEN", "bakeTimeInMinutes": bake, "lifecycleHooks": hooks})["service"]


def new_deployment(serve, before: set[str]) -> str:
    """The ARN of the deployment the last update started (the worker records it within moments)."""
    return until(lambda: next((d["serviceDeploymentArn"] for d in deployments(serve)
                               if d["serviceDeploymentArn"] not in before), None), timeout=60)


def ended(serve, arn: str, timeout: float = 180) -> dict:
    def finished():
        [d] = serve.ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"]
        return d if d["status"] in ("SUCCESSFUL", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED", "STOPPED") else None
    return until(finished, timeout=timeout, interval=0.2)


def arns(serve) -> set[str]:
    return {d["serviceDeploymentArn"] for d in deployments(serve)}


def lambda_hook(name: str, stage: str) -> dict:
    return {"targetType": "AWS_LAMBDA", "hookTargetArn": lambda_arn(name), "lifecycleStages": [stage],
            "roleArn": f"arn:aws:iam::{ACCOUNT}:role/ecs-hooks"}


def test_register_create_and_wait_for_the_seed_services(serve):
    started = time.monotonic()
    for name in ("backend-blue", "backend-green", "frontend"):
        body = json.loads((REPO / "revisions" / f"{name}.json").read_text())
        registered = serve.ecs.register_task_definition(**body)["taskDefinition"]
        assert registered["family"] == body["family"]
    created = serve.ecs.create_service(
        serviceName="backend", taskDefinition=f"{BACKEND_FAMILY}:1", desiredCount=1, launchType="FARGATE",
        deploymentConfiguration={"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 0},
        serviceConnectConfiguration=SC)["service"]
    assert created["status"] == "ACTIVE" and created["serviceArn"].endswith(":service/default/backend")
    serve.ecs.create_service(
        serviceName="frontend", taskDefinition="ecs-service-connect-frontend:1", desiredCount=1,
        launchType="FARGATE", loadBalancers=[{"targetGroupArn": TARGET_GROUP, "containerName": "frontend",
                                              "containerPort": 80}])

    serve.ecs.get_waiter("services_stable").wait(services=["backend", "frontend"],
                                                 WaiterConfig={"Delay": 1, "MaxAttempts": 240})
    FIGURES["create_to_stable_seconds"] = round(time.monotonic() - started, 1)
    assert_seed_response(serve.kit.get("/"), BLUE)
    service = backend(serve)
    assert [(d["status"], d["rolloutState"]) for d in service["deployments"]] == [("PRIMARY", "COMPLETED")]
    assert service["runningCount"] == service["desiredCount"] == 1
    assert service["events"][0]["message"] == "(service backend) has reached a steady state."
    # The production slot already ran blue's task definition: nothing was deployed.
    assert deployments(serve) == []
    assert sorted(serve.ecs.list_services()["serviceArns"]) == [
        f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/default/backend",
        f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/default/frontend"]


def test_invalid_requests_answer_aws_errors_and_change_nothing(serve):
    before = (backend(serve), arns(serve))
    assert error_of(serve.ecs.update_service, service="nope", taskDefinition=f"{BACKEND_FAMILY}:2") == \
        ("ServiceNotFoundException", "Service not found.")
    assert error_of(serve.ecs.create_service, serviceName="backend", taskDefinition=f"{BACKEND_FAMILY}:1",
                    serviceConnectConfiguration=SC) == \
        ("InvalidParameterException", "Creation of service was not idempotent.")
    code, message = error_of(serve.ecs.create_service, serviceName="worker", taskDefinition=f"{BACKEND_FAMILY}:1")
    assert code == "ClientException" and "neither a Service Connect client alias nor a load balancer" in message
    code, message = error_of(serve.ecs.update_service, service="frontend",
                             taskDefinition=f"{BACKEND_FAMILY}:2")
    assert code == "ClientException" and "deploys only the Service Connect service" in message
    # An image no registry can give.
    body = json.loads((REPO / "revisions" / "backend-green.json").read_text())
    body["containerDefinitions"][0]["image"] = "registry.invalid/team/backend:3.0"
    absent = serve.ecs.register_task_definition(**body)["taskDefinition"]["taskDefinitionArn"]
    code, message = error_of(serve.ecs.update_service, service="backend", taskDefinition=absent)
    assert code == "ClientException"
    assert "registry.invalid/team/backend:3.0" in message and "not available locally and no registry answers" \
        in message and "docker load" in message
    code, _ = error_of(serve.ecs.delete_service, service="backend")
    assert code == "InvalidParameterException"
    missing = serve.ecs.describe_services(services=["nope"])
    assert missing["failures"] == [{"arn": f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/default/nope",
                                    "reason": "MISSING"}]
    assert error_of(serve.ecs.stop_service_deployment,
                    serviceDeploymentArn=f"arn:aws:ecs:us-east-1:{ACCOUNT}:service-deployment/default/backend/x",
                    stopType="ROLLBACK")[0] == "ServiceDeploymentNotFoundException"
    after = (backend(serve), arns(serve))
    assert after[0]["taskDefinition"] == before[0]["taskDefinition"] and after[1] == before[1]
    assert serve.kit.get("/").text == BLUE


def test_a_failing_hook_rolls_back_and_blue_still_serves(serve):
    before = arns(serve)
    update(serve, f"{BACKEND_FAMILY}:2", [lambda_hook("failing-smoke", "POST_TEST_TRAFFIC_SHIFT")])
    d = ended(serve, new_deployment(serve, before))
    assert d["status"] == "ROLLBACK_SUCCESSFUL" and "FAILED" in d["statusReason"]
    assert [serve.kit.get("/").text for _ in range(5)] == [BLUE] * 5
    service = backend(serve)
    assert service["taskDefinition"].endswith(f"{BACKEND_FAMILY}:1")
    serve.ecs.get_waiter("services_stable").wait(services=["backend"], WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def test_update_service_with_a_lambda_hook_moves_to_green_as_the_seed(serve):
    before = arns(serve)
    started = time.monotonic()
    update(serve, f"{BACKEND_FAMILY}:2", [lambda_hook("slow-smoke", "POST_TEST_TRAFFIC_SHIFT")], bake=2)
    arn = new_deployment(serve, before)

    def in_test_window():
        [d] = serve.ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"]
        return d.get("lifecycleStage") == "POST_TEST_TRAFFIC_SHIFT" and d["status"] == "IN_PROGRESS"

    until(in_test_window, timeout=120, interval=0.1)
    assert_seed_response(serve.kit.get("/", SEED_HEADER), GREEN)
    assert_seed_response(serve.kit.get("/"), BLUE)
    # A second update while this one runs is refused; the deployment goes on.
    code, message = error_of(serve.ecs.update_service, service="backend", taskDefinition=f"{BACKEND_FAMILY}:1")
    assert code == "ClientException" and arn in message and "stop-service-deployment" in message
    service = backend(serve)
    assert [d["status"] for d in service["deployments"]] == ["PRIMARY", "ACTIVE"]

    d = ended(serve, arn)
    FIGURES["update_to_successful_seconds"] = round(time.monotonic() - started, 1)
    assert d["status"] == "SUCCESSFUL", d
    assert [serve.kit.get("/").text for _ in range(5)] == [GREEN] * 5
    # The pipeline's own wait, through the aws CLI.
    env = {**os.environ, "AWS_ENDPOINT_URL_ECS": serve.url, "AWS_ACCESS_KEY_ID": "any",
           "AWS_SECRET_ACCESS_KEY": "any", "AWS_DEFAULT_REGION": "us-east-1"}
    aws = os.path.join(os.path.dirname(sys.executable), "aws")
    waited = subprocess.run([aws, "ecs", "wait", "services-stable", "--services", "backend"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert waited.returncode == 0, waited.stderr
    described = subprocess.run([aws, "ecs", "describe-services", "--services", "backend"], env=env,
                               capture_output=True, text=True, timeout=60)
    assert json.loads(described.stdout)["services"][0]["taskDefinition"].endswith(f"{BACKEND_FAMILY}:2")


def test_a_pause_hook_continued_through_the_api(serve):
    before = arns(serve)
    update(serve, f"{BACKEND_FAMILY}:1", [{"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP"]}])
    arn = new_deployment(serve, before)

    def awaiting():
        [d] = serve.ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"]
        hooks = [h for h in d.get("lifecycleHookDetails", []) if h["status"] == "AWAITING_ACTION"]
        return hooks[0]["hookId"] if hooks else None

    hook_id = until(awaiting, timeout=120, interval=0.2)
    assert serve.kit.get("/").text == GREEN
    answer = serve.ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=hook_id, action="CONTINUE")
    assert answer["serviceDeploymentArn"] == arn
    assert ended(serve, arn)["status"] == "SUCCESSFUL"
    assert [serve.kit.get("/").text for _ in range(5)] == [BLUE] * 5


def test_stop_service_deployment_rolls_back(serve):
    before = arns(serve)
    update(serve, f"{BACKEND_FAMILY}:2", [lambda_hook("checks-twice", "POST_TEST_TRAFFIC_SHIFT")])
    arn = new_deployment(serve, before)
    until(lambda: latest_deployment(serve).get("lifecycleStage") == "POST_TEST_TRAFFIC_SHIFT", timeout=120,
          interval=0.1)
    code, message = error_of(serve.ecs.stop_service_deployment, serviceDeploymentArn=arn, stopType="ABORT")
    assert code == "ClientException" and "ROLLBACK" in message
    assert serve.ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")[
        "serviceDeploymentArn"] == arn
    d = ended(serve, arn)
    assert d["status"] == "ROLLBACK_SUCCESSFUL"
    assert [serve.kit.get("/", headers).text for headers in ({}, SEED_HEADER)] == [BLUE, BLUE]


def test_a_deployment_whose_serve_was_killed_goes_on_in_the_next_serve(serve):
    before = arns(serve)
    update(serve, f"{BACKEND_FAMILY}:2", [], bake=4)
    arn = new_deployment(serve, before)
    until(lambda: latest_deployment(serve).get("lifecycleStage") == "BAKE_TIME", timeout=120, interval=0.1)

    serve.kill_and_start_again()

    assert ended(serve, arn)["status"] == "SUCCESSFUL"
    assert "resuming the interrupted deployment" in serve.output()
    assert [serve.kit.get("/").text for _ in range(5)] == [GREEN] * 5


def backend_tasks(serve) -> list[str]:
    """The running containers of the slot serving production, by name."""
    import docker
    production = status_json(serve.kit)["production"]
    client = docker.from_env()
    try:
        labels = [f"com.docker.compose.project={serve.kit.project}",
                  f"com.docker.compose.service=backend-{production}"]
        return sorted(c.name for c in client.containers.list(filters={"label": labels}))
    finally:
        client.close()


def test_desired_count_scales_in_place_without_a_deployment(serve):
    before = arns(serve)
    stable = {"services": ["backend"], "WaiterConfig": {"Delay": 1, "MaxAttempts": 120}}
    assert serve.ecs.update_service(service="backend", desiredCount=2)["service"]["desiredCount"] == 2
    serve.ecs.get_waiter("services_stable").wait(**stable)
    assert backend(serve)["runningCount"] == 2
    assert len(backend_tasks(serve)) == 2
    assert arns(serve) == before  # ECS scales a service in place: no deployment
    assert serve.kit.get("/").text == GREEN
    serve.ecs.update_service(service="backend", desiredCount=1)
    serve.ecs.get_waiter("services_stable").wait(**stable)
    assert len(backend_tasks(serve)) == 1 and backend(serve)["runningCount"] == 1
    code, message = error_of(serve.ecs.update_service, service="backend", desiredCount=11)
    assert code == "InvalidParameterException" and "from 1 to 10" in message
    code, message = error_of(serve.ecs.update_service, service="frontend", desiredCount=2)
    assert (code, message) == ("InvalidParameterException", "Service frontend is the kit's frontend, the one nginx "
                               "task behind the ingress: its desiredCount must be 1, not 2.")
    assert backend(serve)["desiredCount"] == 1


def test_delete_service_keeps_the_containers(serve):
    deleted = serve.ecs.delete_service(service="frontend", force=True)["service"]
    assert deleted["status"] == "DRAINING"
    assert serve.ecs.describe_services(services=["frontend"])["services"][0]["status"] == "INACTIVE"
    assert serve.ecs.list_services()["serviceArns"] == [f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/default/backend"]
    assert serve.kit.get("/").text == GREEN
    # Deleted, the backend's name may be used again; without a strategy it would be ECS's ROLLING.
    serve.ecs.delete_service(service="backend", force=True)
    code, message = error_of(serve.ecs.create_service, serviceName="backend", taskDefinition=f"{BACKEND_FAMILY}:2",
                             serviceConnectConfiguration=SC)
    assert code == "InvalidParameterException"
    assert message == ("Service backend has no deploymentConfiguration.strategy, which ECS takes as ROLLING; the kit "
                       "reproduces ECS's blue/green strategies only: set strategy BLUE_GREEN, LINEAR or CANARY.")
    assert serve.ecs.list_services()["serviceArns"] == []
    assert serve.kit.get("/").text == GREEN
