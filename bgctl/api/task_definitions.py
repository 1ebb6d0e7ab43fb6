"""task_definitions operations of the ECS API.

STUB in branch apisvc (the taskdefs branch writes the real module): enough of
RegisterTaskDefinition and `resolve_task_definition` for the services' tests.
"""

from __future__ import annotations

import time

from bgctl.api.operations import Api, ApiError, operation
from bgctl.core.arns import ServiceNames


@operation("RegisterTaskDefinition")
def register_task_definition(api: Api, body: dict) -> dict:
    family = body["family"]
    revision = (api.store.task_definition_revisions(family) or [0])[-1] + 1
    record = {**{k: v for k, v in body.items() if k != "tags"}, "revision": revision, "status": "ACTIVE",
              "taskDefinitionArn": ServiceNames("-").task_definition_arn(family, revision),
              "registeredAt": time.time()}
    api.store.save_task_definition(family, revision, record)
    return {"taskDefinition": record}


def resolve_task_definition(api: Api, reference: str) -> dict:
    """family, family:revision or an ARN → the registered record (the latest ACTIVE for a family)."""
    text = reference.rsplit("/", 1)[-1] if reference.startswith("arn:") else reference
    family, _, number = text.partition(":")
    revisions = [int(number)] if number.isdigit() else list(reversed(api.store.task_definition_revisions(family)))
    for revision in revisions:
        record = api.store.task_definition(family, revision)
        if record is not None and (number or record.get("status") == "ACTIVE"):
            return record
    raise ApiError("ClientException", "Unable to describe task definition.")
