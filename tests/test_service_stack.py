"""A team's own service as a stack of its own (core/service_stack.py): its endpoint, its Envoy, its Compose file."""

from __future__ import annotations

import json
import subprocess

import pytest

from bgctl.core.errors import InvalidInput
from bgctl.core.routes import render_file
from bgctl.core.service_stack import (ADMIN_PORT, INGRESS_PORT, Endpoint, endpoint_of, project_name,
                                      render_bootstrap, render_compose)
from bgctl.core.traffic import TrafficState
from tests.envoy_host import envoy_binary

TASK = {"family": "orders", "containerDefinitions": [
    {"name": "sidecar", "image": "x", "portMappings": [{"containerPort": 9000, "name": "metrics"}]},
    {"name": "orders", "image": "y", "portMappings": [{"containerPort": 8000, "name": "orders-http"}]}]}
SC = {"enabled": True, "namespace": "internal", "services": [
    {"portName": "orders-http", "discoveryName": "orders", "clientAliases": [{"port": 8080}]}]}
LB = [{"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/o/1",
       "containerName": "orders", "containerPort": 8000}]


def sc(**alias) -> dict:
    data = json.loads(json.dumps(SC))
    data["services"][0]["clientAliases"][0].update(alias)
    return data


def test_a_client_alias_names_the_port_and_the_dns_names():
    endpoint = endpoint_of("orders", {"serviceConnectConfiguration": sc(dnsName="Orders.Example")}, TASK)
    assert endpoint == Endpoint("orders", 8000, 8080, ("orders.example", "orders.internal"), None)
    # Without a dnsName: ECS's discoveryName.namespace.
    assert endpoint_of("orders", {"serviceConnectConfiguration": SC}, TASK).dns_names == ("orders.internal",)


def test_a_load_balancer_alone_or_with_the_same_port():
    assert endpoint_of("o", {"loadBalancers": LB}, TASK) == Endpoint("o", 8000, None, (), "orders")
    both = endpoint_of("o", {"loadBalancers": LB, "serviceConnectConfiguration": SC}, TASK)
    assert (both.alias_port, both.load_balanced_container, both.container_port) == (8080, "orders", 8000)


@pytest.mark.parametrize(("definition", "sentence"), [
    ({}, "neither a Service Connect client alias nor a load balancer"),
    ({"serviceConnectConfiguration": {**SC, "enabled": False}}, "neither a Service Connect"),
    ({"serviceConnectConfiguration": sc(dnsName="backend")}, "one of the kit's own services' names"),
    ({"serviceConnectConfiguration": sc(port=INGRESS_PORT)}, f"port {INGRESS_PORT} is one the kit's Envoy keeps"),
    ({"serviceConnectConfiguration": {**SC, "services": [{**SC["services"][0], "portName": "web"}]}},
     "portName 'web' names no port mapping of task definition orders (its names: metrics, orders-http)"),
    ({"serviceConnectConfiguration": {**SC, "services": SC["services"] * 2}}, "more than one Service Connect"),
    ({"loadBalancers": LB * 2}, "has 2 loadBalancers"),
    ({"loadBalancers": [{**LB[0], "containerPort": 80}]}, "targets container orders port 80, which task definition"),
    ({"loadBalancers": [{**LB[0], "containerName": "sidecar", "containerPort": 9000}],
      "serviceConnectConfiguration": SC}, "reach different ports"),
])
def test_what_the_kit_cannot_run_is_one_sentence(definition, sentence):
    with pytest.raises(InvalidInput, match=".*") as caught:
        endpoint_of("orders", definition, TASK)
    assert sentence in str(caught.value)
    assert str(caught.value).startswith("Service orders")


def test_the_project_is_named_after_the_kit_and_the_service():
    assert project_name("kit", "Orders_API.v2") == "kit-svc-orders_api-v2"
    with pytest.raises(InvalidInput, match="under the kit's own names"):
        endpoint_of("Backend", {"serviceConnectConfiguration": sc(dnsName="api")}, TASK)


def test_the_envoy_bootstrap_is_valid_for_the_real_envoy(tmp_path):
    """Envoy's own validation, with the container's paths moved into tmp_path and a route file there."""
    routes = tmp_path / "routes"
    routes.mkdir()
    (routes / "backend.yaml").write_text(render_file(TrafficState(production="blue"), "v1"))
    text = render_bootstrap(Endpoint("orders", 8000, 8080, ("orders.internal",), "orders"))
    config = json.loads(text)
    listeners = {listener["name"]: listener["address"]["socket_address"]["port_value"]
                 for listener in config["static_resources"]["listeners"]}
    assert listeners == {"service-connect": 8080, "ingress": INGRESS_PORT, "admin": ADMIN_PORT}
    clusters = {c["name"]: c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
                for c in config["static_resources"]["clusters"]}
    assert clusters["backend-blue"] == {"socket_address": {"address": "slot-blue", "port_value": 8000}}
    assert clusters["backend-green"] == {"socket_address": {"address": "slot-green", "port_value": 8000}}
    bootstrap = tmp_path / "envoy.yaml"
    bootstrap.write_text(text.replace("/etc/envoy/routes", str(routes))
                         .replace("/var/run/envoy-admin", str(tmp_path)))
    result = subprocess.run([str(envoy_binary()), "--mode", "validate", "-c", str(bootstrap)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_compose_file_has_the_kit_names_and_the_slot_aliases():
    compose = json.loads(render_compose(service="orders", kit_network="kit_default", bootstrap_dir="/b",
                                        routes_dir="/r$x", admin_dir="/a", envoy_image="e:1", slot_image="n:1",
                                        ingress_port=8123, admin_port=0))
    services = compose["services"]
    assert set(services) == {"service-connect", "orders-blue", "orders-green"}
    assert compose["networks"] == {"kit": {"external": True, "name": "kit_default"}}
    # Written out, not Compose variables (bgctl's environment has the kit's); 0: Docker chooses.
    assert services["service-connect"]["ports"] == [f"127.0.0.1:8123:{INGRESS_PORT}", f"127.0.0.1:0:{ADMIN_PORT}"]
    assert services["service-connect"]["image"] == "e:1" and services["orders-blue"]["image"] == "n:1"
    assert "/r$$x:/etc/envoy/routes" in services["service-connect"]["volumes"]  # Compose's escape of $
    # The slots on the kit's network from their start; the Envoy joins it later, under the DNS names.
    assert services["orders-green"]["networks"] == {"default": {"aliases": ["slot-green"]}, "kit": {}}
    assert "networks" not in services["service-connect"]
