"""The publisher against a real Envoy process (no Docker): confirm, reject, fall back."""

import json
import os
from datetime import datetime
from pathlib import Path

import pytest
import requests

from bgctl.adapters.envoy_admin import EnvoyAdmin
from bgctl.core.errors import RouteRejected
from bgctl.adapters.route_delivery import ROUTE_FILE, RoutePublisher, render_file
from bgctl.core.topology import cluster_for
from bgctl.core.traffic import TestTrafficRule, TrafficState
from tests.envoy_host import start_host_envoy

SEED_RULE = TestTrafficRule("x-amzn-ecs-bluegreen-test", "test")


@pytest.fixture(scope="module")
def envoy(tmp_path_factory):
    host = start_host_envoy(tmp_path_factory.mktemp("envoy"))
    yield host
    host.stop()


class LogReader:
    """What the Docker container gives the publisher, for a host process: its log."""

    def __init__(self, log: Path) -> None:
        self.log = log

    def write_file(self, directory, name, content):  # pragma: no cover - not used here
        raise AssertionError("no container path expected")

    def logs_since(self, since: datetime) -> str:
        return self.log.read_text()


def routed_cluster(envoy, headers):
    """The cluster a request is routed to. The slots' hosts do not resolve on the
    host, so Envoy counts the request as "no healthy upstream" on that cluster."""
    admin = EnvoyAdmin(envoy.admin_url, socket_path=envoy.admin_socket)
    counts = lambda: {c: int(admin.stats(rf"^cluster\.{c}\.upstream_cx_none_healthy$").get(
        f"cluster.{c}.upstream_cx_none_healthy", 0)) for c in (cluster_for("blue"), cluster_for("green"))}
    before = counts()
    requests.get(envoy.egress_url + "/", headers=headers or {}, timeout=5)
    after = counts()
    changed = [c for c in before if after[c] != before[c]]
    assert len(changed) == 1, (before, after)
    return changed[0]


def test_publish_is_confirmed_live_and_routes_follow(envoy):
    publisher = RoutePublisher(envoy.routes_dir, EnvoyAdmin(envoy.admin_url, socket_path=envoy.admin_socket), None)
    for state, plain, tagged in [
        (TrafficState("green"), cluster_for("green"), cluster_for("green")),
        (TrafficState("blue", "green", SEED_RULE), cluster_for("blue"), cluster_for("green")),
        (TrafficState("blue"), cluster_for("blue"), cluster_for("blue")),
    ]:
        publication = publisher.publish(state)
        assert EnvoyAdmin(envoy.admin_url, socket_path=envoy.admin_socket).rds_status().version == publication.version
        assert publication.delivery == "host-rename"
        assert routed_cluster(envoy, None) == plain
        assert routed_cluster(envoy, {"x-amzn-ecs-bluegreen-test": "test"}) == tagged


def test_every_rendered_state_is_accepted_by_envoy(envoy):
    publisher = RoutePublisher(envoy.routes_dir, EnvoyAdmin(envoy.admin_url, socket_path=envoy.admin_socket), None)
    for state in [
        TrafficState("blue"),
        TrafficState("green", "blue", TestTrafficRule("x-amzn-ecs-blue-green-test")),
        TrafficState("blue", "green", SEED_RULE, candidate_percent=10),
        TrafficState("blue", "green", SEED_RULE, candidate_percent=100),
    ]:
        publication = publisher.publish(state)
        assert json.loads((envoy.routes_dir / ROUTE_FILE).read_text())["version_info"] == publication.version


def test_rejected_routes_keep_the_old_ones_and_say_why(envoy):
    admin = EnvoyAdmin(envoy.admin_url, socket_path=envoy.admin_socket)
    publisher = RoutePublisher(envoy.routes_dir, admin, LogReader(envoy.log))
    good = publisher.publish(TrafficState("blue"))
    good_file = (envoy.routes_dir / ROUTE_FILE).read_text()

    def typo(state, version):
        return render_file(state, version).replace('"domains"', '"domainz"')

    with pytest.raises(RouteRejected) as caught:
        publisher.publish_text(TrafficState("green"), typo)
    assert "no such field: 'domainz'" in caught.value.reason
    assert admin.rds_status().version == good.version
    assert (envoy.routes_dir / ROUTE_FILE).read_text() == good_file
    assert routed_cluster(envoy, None) == cluster_for("blue")


def test_falls_back_to_delivering_inside_the_container(envoy, tmp_path):
    """Docker Desktop: a host rename never reaches Envoy; the in-container write does."""

    class Container:
        writes = 0

        def write_file(self, directory, name, content):
            Container.writes += 1
            tmp = envoy.routes_dir / f".{name}.tmp"
            tmp.write_text(content)
            os.replace(tmp, envoy.routes_dir / name)

        def logs_since(self, since):
            return ""

    unseen_dir = tmp_path / "host-side-not-watched"
    publisher = RoutePublisher(unseen_dir, EnvoyAdmin(envoy.admin_url, socket_path=envoy.admin_socket), Container(), host_wait=0.3)
    first = publisher.publish(TrafficState("green"))
    assert first.delivery == "container" and publisher.delivery == "container"
    second = publisher.publish(TrafficState("blue"))
    assert second.delivery == "container"
    assert Container.writes == 2
    assert EnvoyAdmin(envoy.admin_url, socket_path=envoy.admin_socket).rds_status().version == second.version


def test_admin_reaches_envoy_over_its_unix_socket(envoy):
    admin = EnvoyAdmin(envoy.admin_url, socket_path=envoy.admin_socket)
    assert admin.transport == "unix-socket"
    assert admin.rds_status().version  # it answers over the socket
    assert EnvoyAdmin(envoy.admin_url).transport == "tcp"  # the read-only listener, e.g. on Docker Desktop
    assert EnvoyAdmin(envoy.admin_url).rds_status() == admin.rds_status()


def test_the_published_admin_port_is_read_only(envoy):
    assert requests.get(envoy.admin_url + "/ready", timeout=5).text.strip() == "LIVE"
    assert requests.get(envoy.admin_url + "/stats", params={"filter": "rds"}, timeout=5).status_code == 200
    for method, path in [("POST", "/quitquitquit"), ("POST", "/healthcheck/fail"), ("POST", "/logging"),
                         ("GET", "/config_dump"), ("POST", "/runtime_modify")]:
        response = requests.request(method, envoy.admin_url + path, timeout=5)
        assert response.status_code == 403, (method, path)
        assert "read-only" in response.text
    assert EnvoyAdmin(envoy.admin_url, socket_path=envoy.admin_socket).rds_status().version  # still running
