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
        return f"arn:aws:ecs:{self.region}:{self.account}:{resource}"

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
        return self._arn(f"task-definition/{family}:{revision}")


def lambda_function_name(arn: str) -> str:
    """`arn:aws:lambda:region:account:function:NAME[:qualifier]` → NAME (the ARN itself if it is not one)."""
    parts = arn.split(":")
    if len(parts) >= 7 and parts[:3] == ["arn", "aws", "lambda"] and parts[5] == "function":
        return parts[6]
    return arn
