"""ECS's resource names (ARNs) for what the kit runs, in ECS's formats.

There is no AWS account: every ARN uses one fixed fake account and region, so
that scripts and hook functions that parse ARNs (split on ":" and "/") work
unchanged and records compare equal from run to run.
"""

from __future__ import annotations

from dataclasses import dataclass

ACCOUNT = "123456789012"
REGION = "us-east-1"
DEFAULT_CLUSTER = "default"


@dataclass(frozen=True)
class ServiceNames:
    """The names of one service of one cluster, from which every ARN of it follows."""

    service: str
    cluster: str = DEFAULT_CLUSTER
    region: str = REGION
    account: str = ACCOUNT

    def _arn(self, resource: str) -> str:
        return ecs_arn(resource, region=self.region, account=self.account)

    @property
    def cluster_arn(self) -> str:
        return self._arn(f"cluster/{self.cluster}")

    @property
    def service_arn(self) -> str:
        return self._arn(f"service/{self.cluster}/{self.service}")

    def service_deployment_arn(self, deployment_id: str) -> str:
        return self._arn(f"service-deployment/{self.cluster}/{self.service}/{deployment_id}")

    def service_revision_arn(self, revision_id: str) -> str:
        return self._arn(f"service-revision/{self.cluster}/{self.service}/{revision_id}")

    def task_definition_arn(self, family: str, revision: int) -> str:
        return task_definition_arn(family, revision, region=self.region, account=self.account)


def ecs_arn(resource: str, *, region: str = REGION, account: str = ACCOUNT) -> str:
    """`resource` (e.g. "cluster/default") as an ECS ARN."""
    return f"arn:aws:ecs:{region}:{account}:{resource}"


def task_definition_arn(family: str, revision: int, *, region: str = REGION, account: str = ACCOUNT) -> str:
    """A task definition's ARN: a family's revision, not tied to any service or cluster."""
    return ecs_arn(f"task-definition/{family}:{revision}", region=region, account=account)


def cluster_arn(cluster: str) -> str:
    return ecs_arn(f"cluster/{cluster}")


def ecs_resource_id(arn: str, kind: str) -> str | None:
    """What follows `kind/` in an ECS ARN of that kind ("cluster", "task-definition", ...), else None.

    Any region and account are accepted: a script may carry ARNs from a real
    account, and the kit has only one of each anyway.
    """
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[:3] != ["arn", "aws", "ecs"] or not parts[5].startswith(f"{kind}/"):
        return None
    return parts[5][len(kind) + 1:] or None


def lambda_function_name(arn: str) -> str:
    """`arn:aws:lambda:region:account:function:NAME[:qualifier]` → NAME (the ARN itself if it is not one)."""
    parts = arn.split(":")
    if len(parts) >= 7 and parts[:3] == ["arn", "aws", "lambda"] and parts[5] == "function":
        return parts[6]
    return arn
