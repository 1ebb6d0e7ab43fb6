"""The route publisher through the real stack: every switch confirmed live in Envoy."""

import pytest

from bgctl.adapters.images import OFFICIAL
from bgctl.adapters.slot_tasks import DockerSlotTasks
from bgctl.cli.wiring import open_context
from bgctl.core.errors import RouteRejected
from bgctl.adapters.route_delivery import render_file
from bgctl.core.topology import slot_service
from bgctl.core.traffic import TestTrafficRule, TrafficState

BLUE = "Hello from BACKEND BLUE"
GREEN = "Hello from BACKEND GREEN (v2.0)"
SEED_HEADER = {"x-amzn-ecs-bluegreen-test": "test"}


@pytest.fixture(scope="module")
def ctx(kit):
    context = open_context(kit.settings)
    context.stack.up([slot_service("green")])
    return context


def test_production_switches_blue_green_blue(kit, ctx):
    state = ctx.state_file.load()
    for slot, body in [("green", GREEN), ("blue", BLUE), ("green", GREEN), ("blue", BLUE)]:
        state, publication = ctx.apply_traffic(state, TrafficState(slot))
        assert ctx.envoy.rds_status().version == publication.version
        assert publication.delivery == "host-rename"
        # Confirmed live means the very next request already takes the new route.
        assert kit.get("/").text == body
        assert kit.get("/", SEED_HEADER).text == body
    assert ctx.state_file.load().routes_version == publication.version


def test_test_rule_sends_only_tagged_requests_to_the_candidate(kit, ctx):
    state = ctx.state_file.load()
    rule = TestTrafficRule("x-amzn-ecs-bluegreen-test", "test")
    state, _ = ctx.apply_traffic(state, TrafficState("blue", "green", rule))
    try:
        assert [kit.get("/").text for _ in range(20)] == [BLUE] * 20
        assert [kit.get("/", SEED_HEADER).text for _ in range(20)] == [GREEN] * 20
        assert kit.get("/", {"x-amzn-ecs-bluegreen-test": "TEST"}).text == BLUE  # exact match
        assert kit.get("/", {"x-amzn-ecs-blue-green-test": "test"}).text == BLUE  # AWS default name differs
    finally:
        ctx.apply_traffic(state, TrafficState("blue"))


def test_invalid_routes_are_rejected_with_the_reason_and_production_unchanged(kit, ctx):
    state = ctx.state_file.load()
    live_before = ctx.envoy.rds_status().version
    publisher = ctx.publisher(state)

    def typo(traffic, version):
        return render_file(traffic, version).replace('"prefix"', '"prefixx"')

    with pytest.raises(RouteRejected) as caught:
        publisher.publish_text(TrafficState("green"), typo)
    assert "no such field: 'prefixx'" in str(caught.value)
    assert ctx.envoy.rds_status().version == live_before
    assert kit.get("/").text == BLUE
    status = kit.bgctl("status", "--json")
    assert '"live": true' in status.stdout


def test_a_route_to_a_stopped_slot_answers_503_not_the_old_slot(kit, ctx):
    """Why a deployment starts the target before routing to it: Envoy accepts the route and fails requests."""
    state = ctx.state_file.load()
    DockerSlotTasks(ctx.settings, OFFICIAL, engine=ctx.engine, stack=ctx.stack).stop("green", timeout=30)  # stop needs no images
    try:
        state, _ = ctx.apply_traffic(state, TrafficState("blue", "green", TestTrafficRule("x-t", "1")))
        assert kit.get("/", {"x-t": "1"}).status_code in (502, 503)
        assert kit.get("/").text == BLUE
    finally:
        ctx.apply_traffic(state, TrafficState("blue"))
