"""`bgctl demo`, the README's main command, end to end."""

from tests.integration.conftest import GREEN, status_json


def test_demo_deploys_green_with_zero_failed_requests(fresh_kit):
    result = fresh_kit.bgctl("demo", "--bake-time", "2s")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Hello from BACKEND BLUE" in out and "Hello from BACKEND GREEN (v2.0)" in out
    assert "without the test header" in out and "with the test header" in out
    assert out.count("application/octet-stream,text/plain") == 2
    # The side-by-side transcript names each line, as curl -i would show it.
    for label in ("│ status ", "│ content-type ", "│ server ", "│ x-envoy-upstream-service-time ", "│ body "):
        assert label in out, label
    for stage in ("SCALE_UP", "TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP"):
        assert f"│ {stage}" in out
    assert " 0 failed" in out
    assert "SUCCESSFUL" in out
    # The demo continues by itself: no hint to run bgctl continue.
    assert "bgctl continue" not in out
    assert fresh_kit.get("/").text == GREEN
    assert status_json(fresh_kit)["production"] == "green"
