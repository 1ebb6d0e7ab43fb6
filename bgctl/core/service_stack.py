"""A service of a team's own, created through `bgctl serve`, as a stack of its own beside the kit's.

Pure. A Service Connect service (any client alias port and DNS name) or a
service behind a load balancer gets the same shape as the seed's backend, in
a Compose project of its own (`<project>-svc-<name>`): its own Envoy (the
service's Service Connect endpoint and, for a load-balanced service, its ALB)
and two slots, blue and green, each running desiredCount tasks of the
service's task definition. Inside that project the Envoy is `service-connect`,
its clusters and route file are the seed's (`backend-blue`, `backend-green`,
`backend`), and the slots are `<service>-blue` and `<service>-green`
(`Settings.service`), so the lifecycle engine, the slots' adapters and the
route files work unchanged.

The kit's network joins the stacks: the service's Envoy is connected to it
with the service's DNS names as aliases (what other services' containers
call), and its tasks are on it from their start (so they can call the other
services; Compose names them there by their Compose service, which is why the
slots carry the service's name). The Envoy clusters find the slots by aliases
only the service's own network has (`slot-blue`, `slot-green`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bgctl.core.errors import InvalidInput
from bgctl.core.topology import ENVOY_SERVICE, SLOTS, slot_service

# The names the kit's own containers answer to on its network.
RESERVED_NAMES = frozenset({"backend", "backend.service-connect.local", "frontend", "frontend.service-connect.local",
                            ENVOY_SERVICE, *(slot_service(s) for s in SLOTS)})
# Envoy's listeners inside the service's container: the ALB's (published) and its read-only admin.
# Ports no client alias may take (checked in endpoint_of); the egress listener of a service
# without a client alias listens on UNCALLED_PORT.
INGRESS_PORT = 15080
ADMIN_PORT = 15901
UNCALLED_PORT = 15001
_ENVOY_PORTS = frozenset({INGRESS_PORT, ADMIN_PORT, UNCALLED_PORT})
_SLUG = re.compile(r"[^a-z0-9_-]+")


@dataclass(frozen=True)
class Endpoint:
    """Where a service is reached: its Service Connect client alias and DNS names, its load balancer."""

    service: str
    container_port: int
    # The Service Connect client alias: the port other services call and the names they call it by.
    alias_port: int | None = None
    dns_names: tuple[str, ...] = ()
    # The loadBalancers entry's container (None: no load balancer).
    load_balanced_container: str | None = None

    def describe(self) -> str:
        parts = []
        if self.alias_port is not None:
            parts.append(f"Service Connect {', '.join(f'{n}:{self.alias_port}' for n in self.dns_names)}")
        if self.load_balanced_container is not None:
            parts.append(f"load balancer to {self.load_balanced_container}:{self.container_port}")
        return "; ".join(parts)


def slot_prefix(service: str) -> str:
    """What the service's slots are called (`<prefix>-blue`), as Compose and DNS take a name."""
    return _SLUG.sub("-", service.lower()).strip("-") or "service"


def project_name(kit_project: str, service: str) -> str:
    """The Compose project of `service`'s stack."""
    return f"{kit_project}-svc-{slot_prefix(service)}"


def endpoint_of(service: str, definition: Mapping[str, Any], task_definition: Mapping[str, Any]) -> Endpoint:
    """The service's endpoint from its definition (CreateService's input) and task definition.

    Raises InvalidInput with one sentence for what the kit cannot run: more than one Service
    Connect service or client alias, more than one load balancer, a port name no port mapping has.
    """
    where = f"Service {service}"
    mappings = {m.get("name"): (c.get("name"), m.get("containerPort"))
                for c in task_definition.get("containerDefinitions") or ()
                for m in c.get("portMappings") or () if m.get("name")}
    sc = definition.get("serviceConnectConfiguration") or {}
    offered = [s for s in sc.get("services") or () if s.get("clientAliases")] if sc.get("enabled", True) else []
    alias_port, dns_names, sc_port, sc_container = None, (), None, None
    if len(offered) > 1 or any(len(s["clientAliases"]) > 1 for s in offered):
        raise InvalidInput(f"{where} offers more than one Service Connect client alias; the kit gives a service "
                           f"one (one services[] entry with one clientAliases[] entry).")
    if offered:
        entry = offered[0]
        alias = entry["clientAliases"][0]
        port_name = entry.get("portName")
        if port_name not in mappings:
            raise InvalidInput(f"{where}'s Service Connect portName {port_name!r} names no port mapping of task "
                               f"definition {task_definition.get('family')} (its names: "
                               f"{', '.join(sorted(str(n) for n in mappings)) or 'none'}).")
        sc_container, sc_port = mappings[port_name]
        discovery = entry.get("discoveryName") or port_name
        namespace = sc.get("namespace")
        names = [alias.get("dnsName") or (f"{discovery}.{namespace}" if namespace else discovery)]
        if namespace:
            names.append(f"{discovery}.{namespace}")
        dns_names = tuple(dict.fromkeys(n.lower() for n in names))
        alias_port = int(alias["port"])
        if alias_port in _ENVOY_PORTS:
            raise InvalidInput(f"{where}'s client alias port {alias_port} is one the kit's Envoy keeps for itself "
                               f"({', '.join(map(str, sorted(_ENVOY_PORTS)))}); choose another.")
    balancers = definition.get("loadBalancers") or ()
    if len(balancers) > 1:
        raise InvalidInput(f"{where} has {len(balancers)} loadBalancers; the kit puts a service behind one.")
    lb_container = None
    port = sc_port
    if balancers:
        lb = balancers[0]
        lb_container, lb_port = lb.get("containerName"), lb.get("containerPort")
        served = {(c, p) for c, p in mappings.values()} | {
            (c.get("name"), m.get("containerPort")) for c in task_definition.get("containerDefinitions") or ()
            for m in c.get("portMappings") or ()}
        if (lb_container, lb_port) not in served:
            raise InvalidInput(f"{where}'s load balancer targets container {lb_container} port {lb_port}, which "
                               f"task definition {task_definition.get('family')} does not map.")
        if sc_port is not None and (lb_container, lb_port) != (sc_container, sc_port):
            raise InvalidInput(f"{where}'s load balancer ({lb_container}:{lb_port}) and Service Connect "
                               f"({sc_container}:{sc_port}) reach different ports; the kit serves one port "
                               f"per service.")
        port = lb_port
    if port is None:
        raise InvalidInput(f"{where} has neither a Service Connect client alias nor a load balancer, so nothing "
                           f"could reach it; the kit runs services that have one.")
    taken = RESERVED_NAMES.intersection(dns_names)
    if taken:
        raise InvalidInput(f"{where}'s DNS name {sorted(taken)[0]} is one of the kit's own services' names.")
    if slot_prefix(service) in ("backend", "frontend"):
        raise InvalidInput(f"{where} would run its tasks under the kit's own names ({slot_prefix(service)}-blue); "
                           f"only the seed's own {slot_prefix(service)} service may be called so.")
    return Endpoint(service, int(port), alias_port, dns_names, lb_container)


def _cluster(slot: str, port: int) -> dict:
    """A slot's Envoy cluster: the seed's (envoy/envoy.yaml), found by the slot's alias on the service's network."""
    name = slot_service(slot)
    return {
        "name": name,
        "type": "STRICT_DNS",
        "dns_lookup_family": "V4_ONLY",
        "dns_refresh_rate": "0.25s",
        "connect_timeout": "1s",
        "lb_policy": "ROUND_ROBIN",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "common_http_protocol_options": {"idle_timeout": "50s"},
                "explicit_http_config": {"http_protocol_options": {}},
            }
        },
        "outlier_detection": {"consecutive_5xx": 5, "interval": "30s", "base_ejection_time": "30s",
                              "max_ejection_time": "300s"},
        "circuit_breakers": {"thresholds": [{"priority": "DEFAULT", "max_retries": 1024}]},
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": slot_alias(slot), "port_value": port}}}}]}]},
    }


def slot_alias(slot: str) -> str:
    return f"slot-{slot}"


def _listener(name: str, port: int, stat_prefix: str) -> dict:
    """A listener whose routes are the service's route file (the seed's `backend` listener)."""
    return {
        "name": name,
        "address": {"socket_address": {"address": "0.0.0.0", "port_value": port}},
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
                         "HttpConnectionManager",
                "stat_prefix": stat_prefix,
                "common_http_protocol_options": {"idle_timeout": "300s"},
                "rds": {"route_config_name": "backend", "config_source": {
                    "resource_api_version": "V3",
                    "path_config_source": {"path": "/etc/envoy/routes/backend.yaml",
                                           "watched_directory": {"path": "/etc/envoy/routes"}}}},
                "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
            }}]}],
    }


# The seed's Envoy command (compose.yaml's service-connect).
ENVOY_COMMAND = ["envoy", "--config-path", "/etc/envoy/bootstrap/envoy.yaml", "--reject-unknown-dynamic-fields",
                 "--drain-time-s", "5"]
_ADMIN_SOCKET = "/var/run/envoy-admin/admin.sock"


def _admin_listener() -> dict:
    """envoy/envoy.yaml's read-only admin: GET on a few informational endpoints, forwarded to the socket."""
    return {
        "name": "admin",
        "address": {"socket_address": {"address": "0.0.0.0", "port_value": ADMIN_PORT}},
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
                         "HttpConnectionManager",
                "stat_prefix": "admin_readonly",
                "route_config": {"name": "admin", "virtual_hosts": [{"name": "admin", "domains": ["*"], "routes": [
                    {"match": {"safe_regex": {"regex": "^/(ready|stats|stats/prometheus|clusters|server_info)$"},
                               "headers": [{"name": ":method", "string_match": {"exact": "GET"}}]},
                     "route": {"cluster": "envoy-admin", "timeout": "10s"}},
                    {"match": {"prefix": "/"}, "direct_response": {"status": 403, "body": {
                        "inline_string": "Envoy's admin interface is read-only here.\n"}}}]}]},
                "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
            }}]}],
    }


def render_bootstrap(endpoint: Endpoint) -> str:
    """The service's Envoy bootstrap, shaped as envoy/envoy.yaml: admin on a Unix socket (and the
    read-only admin listener); the Service Connect listener on the client alias port (the seed's
    `egress` stats, which bgctl reads) and the ALB's on INGRESS_PORT, both on the service's route
    file; the two slots' clusters on the service's container port."""
    # Without a client alias the egress listener still carries the route file's stats, on a port nobody calls.
    listeners = [_listener("service-connect", endpoint.alias_port or UNCALLED_PORT, "egress"),
                 _listener("ingress", INGRESS_PORT, "ingress"), _admin_listener()]
    admin_cluster = {"name": "envoy-admin", "type": "STATIC", "connect_timeout": "1s", "load_assignment": {
        "cluster_name": "envoy-admin",
        "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"pipe": {"path": _ADMIN_SOCKET}}}}]}]}}
    bootstrap = {
        "node": {"id": f"service-connect-{endpoint.service}", "cluster": "service-connect"},
        "admin": {"address": {"pipe": {"path": _ADMIN_SOCKET, "mode": 438}}},
        "static_resources": {
            "listeners": listeners,
            "clusters": [admin_cluster, *(_cluster(slot, endpoint.container_port) for slot in SLOTS)],
        },
    }
    return json.dumps(bootstrap, indent=1) + "\n"


def render_compose(*, service: str, kit_network: str, bootstrap_dir: str, routes_dir: str, admin_dir: str,
                   envoy_image: str, slot_image: str, ingress_port: int, admin_port: int) -> str:
    """The service's Compose file (JSON is YAML), every value written out: Compose would take a variable
    from bgctl's own environment first, where BGCTL_HTTP_PORT is the kit's. A port 0 is Docker's choice.
    The slots' images, commands and checks come from the revision overrides bgctl writes, as for the
    seed's slots. The slots (`<service>-blue`, `-green`: Compose gives every container its service's
    name on each of its networks) are on the kit's network from their start, since a task may call
    another service as it starts; the Envoy is joined to it later, under the service's DNS names."""
    slot = {"image": slot_image, "pull_policy": "missing", "stop_grace_period": "30s", "restart": "no"}
    compose = {
        "services": {
            ENVOY_SERVICE: {
                "image": envoy_image,
                "pull_policy": "missing",
                "command": ENVOY_COMMAND,
                "volumes": [f"{bootstrap_dir}:/etc/envoy/bootstrap:ro", f"{routes_dir}:/etc/envoy/routes",
                            f"{admin_dir}:/var/run/envoy-admin"],
                "environment": {"ENVOY_UID": "0"},
                "ports": [f"127.0.0.1:{ingress_port}:{INGRESS_PORT}", f"127.0.0.1:{admin_port}:{ADMIN_PORT}"],
                "restart": "no",
            },
            **{slot_service(s, service): {**slot, "networks": {"default": {"aliases": [slot_alias(s)]}, "kit": {}}}
               for s in SLOTS},
        },
        "networks": {"kit": {"external": True, "name": kit_network}},
    }
    return json.dumps(compose, indent=1).replace("$", "$$") + "\n"
