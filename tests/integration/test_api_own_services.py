"""A team's own services through `bgctl serve`: not the seed's pair, each on a stack of its own.

`orders` is a Service Connect service (client alias orders.internal:8080, two tasks, its own test
header); `web` is behind a load balancer (its ingress on the port its tag asks for) and calls
orders by its Service Connect name from its nginx. boto3 drives it all; the checks are what a
user would curl: web's ingress, orders through web (with and without orders' test header), and
orders from the seed's own frontend container. Then a blue/green deployment of orders paused
after the test traffic shift and continued, and web deleted.
"""

from __future__ import annotations

import json
import time

import docker
import pytest
import requests

from tests.envoy_host import free_port
from tests.integration.conftest import Kit, kit_serving, status_json, until
from tests.integration.test_api_deployments import ACCOUNT, error_of, ended

TEST_HEADER = {"x-orders-test": "yes"}
ORDERS_SC = {"enabled": True, "namespace": "internal", "services": [
    {"portName": "orders-http", "discoveryName": "orders", "clientAliases": [
        {"port": 8080, "dnsName": "orders.internal",
         "testTrafficRules": {"header": {"name": "x-orders-test", "value": {"exact": "yes"}}}}]}]}
TARGET_GROUP = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/web/0123456789abcdef"
BLUE_GREEN = {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 0}


def nginx_task(family: str, container: str, port: int, port_name: str, server: str) -> dict:
    """A task definition running nginx:alpine with `server` (the inside of a server block) on `port`."""
    conf = f"server {{ listen {port}; location /health {{ return 200 'OK'; }} {server} }}"
    return {
        "family": family, "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"], "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{
            "name": container, "image": "nginx:alpine", "essential": True,
            "portMappings": [{"containerPort": port, "protocol": "tcp", "name": port_name}],
            "command": ["/bin/sh", "-c", f"rm -f /etc/nginx/conf.d/* && echo \"{conf}\" > "
                                         f"/etc/nginx/conf.d/default.conf && nginx -g 'daemon off;'"],
            "healthCheck": {"command": ["CMD-SHELL", f"wget -q -O /dev/null http://localhost:{port}/health || exit 1"],
                            "interval": 5, "timeout": 5, "retries": 3, "startPeriod": 10},
        }],
    }


def orders_task(version: str) -> dict:
    return nginx_task("orders", "orders", 8000, "orders-http",
                      f"location / {{ return 200 'ORDERS {version}'; add_header Content-Type text/plain; }}")


WEB_TASK = nginx_task("web", "web", 80, "web-http",
                      "location /orders { proxy_pass http://orders.internal:8080/; proxy_http_version 1.1; } "
                      "location / { return 200 'WEB v1'; add_header Content-Type text/plain; }")


@pytest.fixture(scope="module")
def serve(tmp_path_factory):
    folder = tmp_path_factory.mktemp("own")
    kit = Kit.new()
    kit.extra_env.update({"BGCTL_MINUTE": "1s", "BGCTL_API_PORT": str(free_port())})
    with kit_serving(kit, folder / "serve.log") as server:
        yield server


@pytest.fixture(scope="module")
def web_port():
    return free_port()


def service(serve, name: str) -> dict:
    [found] = serve.ecs.describe_services(services=[name])["services"]
    return found


def own_containers(kit: Kit, service_name: str) -> list[str]:
    """The names of the containers of the service's own stack (a listing, which a removal cannot race)."""
    client = docker.from_env()
    try:
        found = client.api.containers(all=True, filters={
            "label": f"com.docker.compose.project={kit.project}-svc-{service_name}"})
        return [c["Names"][0].lstrip("/") for c in found]
    finally:
        client.close()


def from_the_seed_frontend(kit: Kit, url: str) -> str:
    client = docker.from_env()
    try:
        [frontend] = client.containers.list(filters={"label": [f"com.docker.compose.project={kit.project}",
                                                               "com.docker.compose.service=frontend"]})
        code, output = frontend.exec_run(["wget", "-q", "-O", "-", url])
        assert code == 0, output
        return output.decode()
    finally:
        client.close()


def test_orders_and_web_run_on_their_own_stacks(serve, web_port):
    started = time.monotonic()
    for body in (orders_task("v1"), orders_task("v2"), WEB_TASK):
        serve.ecs.register_task_definition(**body)
    created = serve.ecs.create_service(serviceName="orders", taskDefinition="orders:1", desiredCount=2,
                                       deploymentConfiguration=BLUE_GREEN,
                                       serviceConnectConfiguration=ORDERS_SC)["service"]
    assert created["status"] == "ACTIVE" and created["serviceArn"].endswith(":service/default/orders")
    serve.ecs.get_waiter("services_stable").wait(services=["orders"], WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    orders_stable = time.monotonic()
    # web's nginx resolves orders.internal when it starts: orders is there first.
    serve.ecs.create_service(
        serviceName="web", taskDefinition="web:1", desiredCount=1, deploymentConfiguration=BLUE_GREEN,
        loadBalancers=[{"targetGroupArn": TARGET_GROUP, "containerName": "web", "containerPort": 80}],
        tags=[{"key": "bgctl:ingress-port", "value": str(web_port)}])
    serve.ecs.get_waiter("services_stable").wait(services=["web"], WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    print(f"\norders (kit's stack up + 2 tasks) stable {orders_stable - started:.1f}s after the first call; "
          f"web stable {time.monotonic() - orders_stable:.1f}s after orders")

    orders = service(serve, "orders")
    assert (orders["desiredCount"], orders["runningCount"]) == (2, 2)
    assert orders["taskDefinition"].endswith(":task-definition/orders:1")
    assert len([c for c in own_containers(serve.kit, "orders") if "orders-blue" in c]) == 2
    web = f"http://127.0.0.1:{web_port}"
    assert requests.get(f"{web}/", timeout=10).text == "WEB v1"
    # web's container reaches orders by its Service Connect name and port; so does the seed's frontend.
    assert requests.get(f"{web}/orders", timeout=10).text == "ORDERS v1"
    assert from_the_seed_frontend(serve.kit, "http://orders.internal:8080/") == "ORDERS v1"
    # The seed's own ingress is untouched: its backend cluster holds none of orders' tasks.
    assert {requests.get(f"{serve.kit.url}/", timeout=10).text for _ in range(10)} == {"Hello from BACKEND BLUE"}


def test_a_blue_green_deployment_of_orders_with_its_test_header(serve, web_port):
    web = f"http://127.0.0.1:{web_port}"
    before = {d["serviceDeploymentArn"] for d in
              serve.ecs.list_service_deployments(service="orders")["serviceDeployments"]}
    serve.ecs.update_service(service="orders", taskDefinition="orders:2", deploymentConfiguration={
        **BLUE_GREEN, "lifecycleHooks": [{"targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"]}]})
    arn = until(lambda: next((d["serviceDeploymentArn"] for d in serve.ecs.list_service_deployments(
        service="orders")["serviceDeployments"] if d["serviceDeploymentArn"] not in before), None), timeout=60)

    def awaiting():
        [d] = serve.ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"]
        return next((h["hookId"] for h in d.get("lifecycleHookDetails") or () if h["status"] == "AWAITING_ACTION"),
                    None)

    hook = until(awaiting, timeout=120, interval=0.2)
    watched = serve.kit.bgctl("watch", "--once", "--json", "--service", "orders")
    assert watched.returncode == 0, watched.stderr
    view = json.loads(watched.stdout)
    assert (view["production"], view["test_traffic_to"]) == ("blue", "green")
    d = view["deployment"]
    assert (d["status"], d["stage"], d["awaiting"]) == ("IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT", [hook])
    shown = serve.kit.bgctl("watch", "--once", "--service", "orders").stdout
    assert f"awaiting  {hook} (aws ecs continue-service-deployment or stop-service-deployment)" in shown
    # orders' test rule, through web (nginx passes the header on): the candidate; without it, production.
    assert requests.get(f"{web}/orders", headers=TEST_HEADER, timeout=10).text == "ORDERS v2"
    assert requests.get(f"{web}/orders", timeout=10).text == "ORDERS v1"
    assert from_the_seed_frontend(serve.kit, "http://orders.internal:8080/") == "ORDERS v1"
    continued = time.monotonic()
    serve.ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=hook, action="CONTINUE")

    assert ended(serve, arn)["status"] == "SUCCESSFUL"
    print(f"\norders' deployment SUCCESSFUL {time.monotonic() - continued:.1f}s after continue-service-deployment")
    serve.ecs.get_waiter("services_stable").wait(services=["orders"], WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    orders = service(serve, "orders")
    assert orders["taskDefinition"].endswith(":task-definition/orders:2")
    assert (orders["desiredCount"], orders["runningCount"]) == (2, 2)
    assert requests.get(f"{web}/orders", timeout=10).text == "ORDERS v2"
    assert from_the_seed_frontend(serve.kit, "http://orders.internal:8080/") == "ORDERS v2"
    # The deployment is orders', recorded as ECS records it.
    [d] = serve.ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"]
    assert d["serviceArn"].endswith(":service/default/orders")
    assert d["targetServiceRevision"]["arn"].startswith(f"arn:aws:ecs:us-east-1:{ACCOUNT}:service-revision/default/orders/")

    # desiredCount alone: production scaled in place, no deployment.
    serve.ecs.update_service(service="orders", desiredCount=3)
    until(lambda: service(serve, "orders")["runningCount"] == 3, timeout=90, interval=0.5)
    assert len([c for c in own_containers(serve.kit, "orders") if "orders-green" in c]) == 3
    assert [x["serviceDeploymentArn"] for x in serve.ecs.list_service_deployments(
        service="orders")["serviceDeployments"]][0] == arn


def test_what_the_kit_cannot_run_is_refused_and_changes_nothing(serve):
    before = sorted(serve.ecs.list_services()["serviceArns"])
    code, message = error_of(serve.ecs.create_service, serviceName="worker", taskDefinition="orders:1")
    assert code == "ClientException" and "neither a Service Connect client alias nor a load balancer" in message
    taken = json.loads(json.dumps(ORDERS_SC))
    code, message = error_of(serve.ecs.create_service, serviceName="orders-copy", taskDefinition="orders:1",
                             deploymentConfiguration=BLUE_GREEN, serviceConnectConfiguration=taken)
    assert code == "ClientException" and "already answers to orders.internal" in message
    taken["services"][0]["clientAliases"][0]["dnsName"] = "frontend"
    code, message = error_of(serve.ecs.create_service, serviceName="shadow", taskDefinition="orders:1",
                             deploymentConfiguration=BLUE_GREEN, serviceConnectConfiguration=taken)
    assert code == "ClientException" and "one of the kit's own services' names" in message
    wrong_port = json.loads(json.dumps(ORDERS_SC))
    wrong_port["services"][0]["portName"] = "nope"
    wrong_port["services"][0]["clientAliases"][0]["dnsName"] = "elsewhere"
    code, message = error_of(serve.ecs.create_service, serviceName="elsewhere", taskDefinition="orders:1",
                             deploymentConfiguration=BLUE_GREEN, serviceConnectConfiguration=wrong_port)
    assert code == "ClientException" and "portName 'nope' names no port mapping" in message
    assert sorted(serve.ecs.list_services()["serviceArns"]) == before
    assert own_containers(serve.kit, "worker") == [] and own_containers(serve.kit, "shadow") == []


def test_deleting_web_removes_its_stack(serve, web_port):
    assert own_containers(serve.kit, "web")
    deleted = serve.ecs.delete_service(service="web", force=True)["service"]
    assert deleted["status"] == "DRAINING"
    until(lambda: own_containers(serve.kit, "web") == [], timeout=60)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{web_port}/", timeout=5)
    assert serve.ecs.list_services()["serviceArns"] == [f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/default/orders"]


def test_watch_of_a_service_without_a_stack_is_one_sentence(serve):
    result = serve.kit.bgctl("watch", "--once", "--service", "payments")
    assert result.returncode == 1
    assert result.stderr == (f"bgctl: No service payments runs on a stack of its own in {serve.kit.project} "
                             "(bgctl status lists them; the kit's backend is watched without --service).\n")


def test_status_shows_orders_and_down_removes_its_stack(serve):
    report = status_json(serve.kit)
    orders = report["services"]["orders"]
    assert (orders["production"], orders["revision"]) == ("green", "task definition orders:2")
    assert orders["deployment"] == "SUCCESSFUL (CLEAN_UP)"
    assert requests.get(f"{orders['ingress']}/", timeout=10).text == "ORDERS v2"  # its own ingress
    text = serve.kit.bgctl("status").stdout
    assert f"Service:    orders at {orders['ingress']}/ (green runs task definition orders:2" in text
    serve.stop()
    result = serve.kit.bgctl("down")
    assert result.returncode == 0, result.stderr
    assert own_containers(serve.kit, "orders") == []
    client = docker.from_env()
    try:
        assert [n.name for n in client.networks.list() if n.name.startswith(f"{serve.kit.project}-svc-")] == []
    finally:
        client.close()
