"""RegisterTaskDefinition, DescribeTaskDefinition, ListTaskDefinitions, DeregisterTaskDefinition.

Registration accepts every definition botocore's model accepts, as ECS does:
whether the kit can run it (one container serving the Service Connect port,
core/taskdef.py) is CreateService's and UpdateService's question, where ECS too
finds out what a task needs. Revisions count per family from 1 and are never
reused; a deregistered one stays describable, INACTIVE.
"""

from __future__ import annotations

import time

from bgctl.api.operations import Api, client_error, operation
from bgctl.api.paging import page
from bgctl.core.ecs_resources import (
    ACTIVE,
    INACTIVE,
    TaskDefinitionReference,
    deregistered,
    latest_active,
    registered_task_definition,
    task_definition_answer,
    valid_name,
)
from bgctl.core.errors import InvalidInput

# ECS's sentences for a task definition that is not there, by what was asked.
NOT_DESCRIBABLE = "Unable to describe task definition."
NOT_FOUND = "TaskDefinition not found."
NOT_REGISTERED = "The specified task definition does not exist."


@operation("RegisterTaskDefinition")
def register_task_definition(api: Api, body: dict) -> dict:
    family = body["family"]
    if not valid_name(family):
        raise client_error(f"Family {family!r} is not valid: up to 255 letters (uppercase and lowercase), "
                           "numbers, hyphens, and underscores are allowed.")
    revisions = api.store.task_definition_revisions(family)
    revision = (revisions[-1] if revisions else 0) + 1
    kept = registered_task_definition(body, revision=revision, now=time.time())
    api.store.save_task_definition(family, revision, kept)
    return task_definition_answer(kept, include_tags=bool(kept["tags"]))


@operation("DescribeTaskDefinition")
def describe_task_definition(api: Api, body: dict) -> dict:
    kept = _find(api, body["taskDefinition"], missing=NOT_DESCRIBABLE)
    return task_definition_answer(kept, include_tags="TAGS" in (body.get("include") or ()))


@operation("ListTaskDefinitions")
def list_task_definitions(api: Api, body: dict) -> dict:
    """ECS's order: by family, then revision (DESC reverses both). familyPrefix is, as ECS documents
    it, a whole family name, not a prefix."""
    status = body.get("status", ACTIVE)
    families = [body["familyPrefix"]] if body.get("familyPrefix") else api.store.families()
    arns = [
        kept["taskDefinition"]["taskDefinitionArn"]
        for family in sorted(families) if valid_name(family)
        for kept in _revisions(api, family)
        if kept["taskDefinition"]["status"] == status
    ]
    if body.get("sort") == "DESC":
        arns.reverse()
    items, token = page(arns, body)
    return {"taskDefinitionArns": items, **({"nextToken": token} if token else {})}


@operation("DeregisterTaskDefinition")
def deregister_task_definition(api: Api, body: dict) -> dict:
    reference = _reference(body["taskDefinition"], missing=NOT_REGISTERED)
    if reference.revision is None:
        raise client_error(f"Give the revision to deregister: {reference.family}:REVISION or its ARN.")
    kept = _find(api, body["taskDefinition"], missing=NOT_REGISTERED)
    if kept["taskDefinition"]["status"] != INACTIVE:
        kept = deregistered(kept, now=time.time())
        api.store.save_task_definition(reference.family, reference.revision, kept)
    return {"taskDefinition": kept["taskDefinition"]}


def resolve_task_definition(api: Api, reference: str) -> dict:
    """The registered TaskDefinition a CreateService or UpdateService `taskDefinition` names.

    ClientException as ECS answers it when there is none, or when it is INACTIVE
    (ECS starts no new tasks from a deregistered revision).
    """
    definition = _find(api, reference, missing=NOT_FOUND)["taskDefinition"]
    if definition["status"] != ACTIVE:
        raise client_error("TaskDefinition is inactive")
    return definition


def _find(api: Api, text: str, *, missing: str) -> dict:
    """The kept task definition `text` names (family: its latest ACTIVE revision); ClientException `missing`."""
    reference = _reference(text, missing=missing)
    if reference.revision is None:
        kept = latest_active(_revisions(api, reference.family))
    else:
        kept = api.store.task_definition(reference.family, reference.revision)
    if kept is None:
        raise client_error(missing)
    return kept


def _reference(text: str, *, missing: str) -> TaskDefinitionReference:
    try:
        return TaskDefinitionReference.parse(text)
    except InvalidInput as exc:
        raise client_error(f"{missing[:-1]}: {exc}") from None


def _revisions(api: Api, family: str) -> list[dict]:
    found = (api.store.task_definition(family, r) for r in api.store.task_definition_revisions(family))
    return [kept for kept in found if kept is not None]

