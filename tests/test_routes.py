import pytest

from bgctl.core.errors import InvalidInput
from bgctl.core.traffic import (
    AWS_DEFAULT_TEST_HEADER,
    TestTrafficRule,
    TrafficState,
    other_slot,
    parse_slot,
)
from bgctl.core.routes import render_route_config

SEED_RULE = TestTrafficRule("x-amzn-ecs-bluegreen-test", "test")


def routes_of(state: TrafficState) -> list[dict]:
    config = render_route_config(state, "v1")
    assert config["version_info"] == "v1"
    (resource,) = config["resources"]
    assert resource["@type"] == "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
    assert resource["name"] == "backend"
    (vhost,) = resource["virtual_hosts"]
    return vhost["routes"]


@pytest.mark.parametrize("slot", ["blue", "green"])
def test_production_only_sends_everything_to_that_slot(slot):
    (route,) = routes_of(TrafficState(production=slot))
    assert route["match"] == {"prefix": "/"}
    assert route["route"]["cluster"] == f"backend-{slot}"
    assert "weighted_clusters" not in route["route"]


def test_service_connect_defaults_on_every_route():
    for route in routes_of(TrafficState("blue", "green", SEED_RULE)):
        action = route["route"]
        assert action["timeout"] == "15s"
        assert action["retry_policy"]["num_retries"] == 2
        assert "connect-failure" in action["retry_policy"]["retry_on"]


def test_exact_test_rule_goes_first_to_the_candidate():
    test, production = routes_of(TrafficState("blue", "green", SEED_RULE))
    assert test["match"]["headers"] == [{"name": "x-amzn-ecs-bluegreen-test", "string_match": {"exact": "test"}}]
    assert test["route"]["cluster"] == "backend-green"
    assert production["match"] == {"prefix": "/"}
    assert production["route"]["cluster"] == "backend-blue"


def test_presence_rule_matches_any_value():
    test, _ = routes_of(TrafficState("green", "blue", TestTrafficRule(AWS_DEFAULT_TEST_HEADER)))
    assert test["match"]["headers"] == [{"name": "x-amzn-ecs-blue-green-test", "present_match": True}]
    assert test["route"]["cluster"] == "backend-blue"


def test_candidate_without_rule_or_share_gets_nothing():
    (route,) = routes_of(TrafficState("blue", "green"))
    assert route["route"]["cluster"] == "backend-blue"


def test_partial_shift_uses_weighted_clusters():
    _, production = routes_of(TrafficState("blue", "green", SEED_RULE, candidate_percent=10))
    assert production["route"]["weighted_clusters"]["clusters"] == [
        {"name": "backend-blue", "weight": 90},
        {"name": "backend-green", "weight": 10},
    ]


def test_full_shift_sends_everything_to_the_candidate():
    _, production = routes_of(TrafficState("blue", "green", SEED_RULE, candidate_percent=100))
    assert production["route"]["cluster"] == "backend-green"


def test_weights():
    assert TrafficState("blue").weights() == {"blue": 100, "green": 0}
    assert TrafficState("green", "blue", candidate_percent=30).weights() == {"blue": 30, "green": 70}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"production": "red"},
        {"production": "blue", "candidate": "blue"},
        {"production": "blue", "candidate": "green", "candidate_percent": 101},
        {"production": "blue", "test_rule": SEED_RULE},
        {"production": "blue", "candidate_percent": 10},
    ],
)
def test_impossible_states_are_refused(kwargs):
    with pytest.raises(InvalidInput):
        TrafficState(**kwargs)


def test_state_round_trips_through_dict():
    state = TrafficState("blue", "green", SEED_RULE, candidate_percent=5)
    assert TrafficState.from_dict(state.to_dict()) == state


@pytest.mark.parametrize(
    "text, header, value",
    [
        ("x-amzn-ecs-bluegreen-test=test", "x-amzn-ecs-bluegreen-test", "test"),
        ("X-Canary", "x-canary", None),
        ("x-a=b=c", "x-a", "b=c"),
    ],
)
def test_rule_parsing(text, header, value):
    rule = TestTrafficRule.parse(text)
    assert (rule.header, rule.value) == (header, value)


@pytest.mark.parametrize("text", ["", "bad header=1", "x:y", ":path", "host=a", "x-a=", "é=1"])
def test_bad_rules_are_refused_with_a_sentence(text):
    with pytest.raises(InvalidInput, match="header"):
        TestTrafficRule.parse(text)


def test_slots():
    assert parse_slot(" Green ") == "green"
    assert other_slot("blue") == "green"
    with pytest.raises(InvalidInput, match="not a slot"):
        parse_slot("purple")
