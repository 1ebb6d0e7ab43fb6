"""The ECS API model that botocore ships: what ECS accepts and answers, field by field.

Service definitions are checked against the operation's input shape with
botocore's own `ParamValidator`, so a wrong key, type or range reads exactly as
the AWS CLI would report it before sending the request. botocore leaves enums
and maximums to the service; `_walk` checks those from the same model, in
botocore's wording, so that nothing the model knows is written out by hand here.

Loading the model costs ~0.1 s (a gzipped JSON of a few MB): once per process.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape
from botocore.parsers import create_parser
from botocore.validate import ParamValidator

from bgctl.core.errors import InvalidInput

SERVICE = "ecs"


@functools.cache
def ecs_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model(SERVICE)


def operation(name: str) -> OperationModel:
    return ecs_model().operation_model(name)


def validate_input(operation_name: str, params: Mapping[str, Any], *, source: str) -> None:
    """Raise InvalidInput, one sentence naming `source`, unless `params` is a valid `operation_name` input."""
    problems = input_problems(operation_name, params)
    if problems:
        raise InvalidInput(f"{source} is not a valid {operation_name} input: {'; '.join(problems)}.")


def input_problems(operation_name: str, params: Mapping[str, Any]) -> list[str]:
    """Every problem with `params` as `operation_name`'s input, each in botocore's wording."""
    shape = operation(operation_name).input_shape
    report = ParamValidator().validate(dict(params), shape)
    problems = report.generate_report().splitlines() if report.has_errors() else []
    return problems + list(_walk(params, shape, ""))


def parse_output(operation_name: str, body: bytes | str | Mapping[str, Any]) -> dict:
    """`body` (the JSON an ECS endpoint would answer) read as an SDK reads it: timestamps become
    datetimes, members the output shape does not know are dropped. For tests comparing bgctl's
    records with what boto3 would hand a script."""
    if isinstance(body, Mapping):
        body = json.dumps(body, default=str)
    if isinstance(body, str):
        body = body.encode("utf-8")
    response = {"body": body, "headers": {}, "status_code": 200}
    return create_parser(ecs_model().metadata["protocol"]).parse(response, operation(operation_name).output_shape)


def output_problems(operation_name: str, data: Mapping[str, Any]) -> list[str]:
    """Members of `data` that `operation_name`'s output shape does not have, or values outside its enums,
    with their paths (an SDK silently drops unknown members, so a parse alone cannot show them)."""
    return list(_walk(data, operation(operation_name).output_shape, "", unknown=True))


def _walk(value: Any, shape: Shape, path: str, *, unknown: bool = False) -> Iterator[str]:
    """What ParamValidator leaves to the service: enum members and maximums (and, for output, unknown keys)."""
    if value is None:
        return
    if isinstance(shape, StructureShape):
        if not isinstance(value, Mapping) or shape.metadata.get("document"):
            return
        for key, item in value.items():
            member = shape.members.get(key)
            if member is None:
                if unknown:
                    yield f'Unknown parameter in {path or "output"}: "{key}"'
                continue
            yield from _walk(item, member, f"{path}.{key}" if path else key, unknown=unknown)
    elif isinstance(shape, ListShape):
        if isinstance(value, list):
            for i, item in enumerate(value):
                yield from _walk(item, shape.member, f"{path}[{i}]", unknown=unknown)
    elif isinstance(shape, MapShape):
        if isinstance(value, Mapping):
            for key, item in value.items():
                yield from _walk(item, shape.value, f"{path}.{key}", unknown=unknown)
    elif getattr(shape, "enum", None) and isinstance(value, str) and value not in shape.enum:
        yield f"Invalid value for parameter {path}, value: {value}, valid values: {', '.join(shape.enum)}"
    elif "max" in shape.metadata and _is_number(value) and shape.type_name in ("integer", "long", "float", "double"):
        if value > shape.metadata["max"]:
            yield f"Invalid value for parameter {path}, value: {value}, valid max value: {shape.metadata['max']}"
    elif "max" in shape.metadata and isinstance(value, str) and len(value) > shape.metadata["max"]:
        yield f"Invalid length for parameter {path}, value: {len(value)}, valid max length: {shape.metadata['max']}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
