"""Every deployment kept, and printed as ECS's ListServiceDeployments / DescribeServiceDeployments print them."""

import json
import re

from tests.ecs_shapes import parsed

ACCOUNT_REGION = "arn:aws:ecs:us-east-1:123456789012"
DEPLOYMENT_ARN = re.compile(ACCOUNT_REGION + r":service-deployment/default/backend/[A-Za-z0-9-]+")
REVISION_ARN = re.compile(ACCOUNT_REGION + r":service-revision/default/backend/\d+")
SERVICE_ARN = ACCOUNT_REGION + ":service/default/backend"
CLUSTER_ARN = ACCOUNT_REGION + ":cluster/default"


def listed(kit) -> list[dict]:
    result = kit.bgctl("deployments", "--json")
    assert result.returncode == 0, result.stderr
    return parsed("ListServiceDeployments", json.loads(result.stdout))["serviceDeployments"]


def described(kit, *ids: str) -> dict:
    result = kit.bgctl("describe", *ids, "--json")
    assert result.returncode == 0, result.stderr
    return parsed("DescribeServiceDeployments", json.loads(result.stdout))


def test_a_successful_and_a_rolled_back_deployment_are_both_kept(kit):
    assert kit.bgctl("deployments", "--json").stdout.strip() == json.dumps({"serviceDeployments": []}, indent=2)
    ok = kit.bgctl("deploy", "green", "--bake-time", "0")
    assert ok.returncode == 0, ok.stderr
    failed = kit.bgctl("deploy", "blue", "--bake-time", "0",
                       "--hook", "POST_TEST_TRAFFIC_SHIFT=echo smoke test failed >&2; exit 3")
    assert failed.returncode == 1

    briefs = listed(kit)
    assert [b["status"] for b in briefs] == ["ROLLBACK_SUCCESSFUL", "SUCCESSFUL"]  # newest first
    assert briefs[0]["createdAt"] > briefs[1]["createdAt"]
    for brief in briefs:
        assert DEPLOYMENT_ARN.fullmatch(brief["serviceDeploymentArn"])
        assert REVISION_ARN.fullmatch(brief["targetServiceRevisionArn"])
        assert (brief["serviceArn"], brief["clusterArn"]) == (SERVICE_ARN, CLUSTER_ARN)
        assert brief["finishedAt"] >= brief["startedAt"] >= brief["createdAt"]
    rolled_back_id, successful_id = (b["serviceDeploymentArn"].rsplit("/", 1)[1] for b in briefs)

    output = described(kit, successful_id)
    assert output["failures"] == []
    [success] = output["serviceDeployments"]
    assert success["status"] == "SUCCESSFUL"
    assert success["lifecycleStage"] == "CLEAN_UP"
    assert success["targetServiceRevision"]["requestedProductionTrafficWeight"] == 100.0
    assert success["sourceServiceRevisions"][0]["requestedProductionTrafficWeight"] == 0.0

    # The latest by default; an id or its ARN name the same deployment.
    [latest] = described(kit)["serviceDeployments"]
    assert latest == described(kit, briefs[0]["serviceDeploymentArn"])["serviceDeployments"][0]
    assert latest["serviceDeploymentArn"].endswith("/" + rolled_back_id)
    assert latest["status"] == "ROLLBACK_SUCCESSFUL"
    assert "POST_TEST_TRAFFIC_SHIFT hook" in latest["statusReason"]
    # It went back to what the first deployment had put on green.
    assert latest["rollback"]["serviceRevisionArn"] == latest["sourceServiceRevisions"][0]["arn"]
    assert latest["rollback"]["serviceRevisionArn"] == success["targetServiceRevision"]["arn"]
    assert latest["rollback"]["startedAt"] <= latest["finishedAt"]
    assert latest["targetServiceRevision"]["requestedProductionTrafficWeight"] == 0.0
    assert [h["status"] for h in latest["lifecycleHookDetails"]] == ["FAILED"]

    table = kit.bgctl("deployments")
    assert table.returncode == 0 and rolled_back_id in table.stdout and successful_id in table.stdout


def test_an_unknown_deployment_is_missing(kit):
    result = kit.bgctl("describe", "bgd-nope", "--json")
    assert result.returncode == 0, result.stderr
    output = parsed("DescribeServiceDeployments", json.loads(result.stdout))
    assert output["serviceDeployments"] == []
    assert output["failures"] == [{"arn": f"{ACCOUNT_REGION}:service-deployment/default/backend/bgd-nope",
                                   "reason": "MISSING"}]
    plain = kit.bgctl("describe", "bgd-nope")
    assert plain.returncode == 2
    assert plain.stderr.strip() == "bgctl: No deployment bgd-nope is recorded; bgctl deployments lists them."


def test_the_history_survives_down_and_up_only_when_asked(kit, tmp_path):
    before = listed(kit)
    assert len(before) == 2
    down = kit.bgctl("down", "--keep-history", timeout=120)
    assert down.returncode == 0, down.stderr
    assert kit.leftovers() == []
    assert listed(kit) == before
    up = kit.bgctl("up")
    assert up.returncode == 0, up.stderr
    assert kit.get("/").ok
    assert listed(kit) == before
    chart = kit.bgctl("describe", "--chart", str(tmp_path / "kept.svg"))  # the recorded rates were kept too
    assert chart.returncode == 0, chart.stderr
    assert kit.bgctl("down", timeout=120).returncode == 0
    assert listed(kit) == []
