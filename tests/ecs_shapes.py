"""Checking output against the ECS API model botocore ships: what an SDK would parse, and nothing it would not.

`parsed(operation, output)` sends `output` through botocore's JSON 1.1 response
parser with the operation's output shape (so timestamps become datetimes, as
an SDK returns them), validates the result with botocore's ParamValidator
(types, required members) and fails on any key the shape does not know
(the parser would drop it silently).
"""

from __future__ import annotations

import json

import botocore.session
from botocore.model import Shape
from botocore.parsers import create_parser
from botocore.validate import ParamValidator

_MODEL = botocore.session.get_session().get_service_model("ecs")


def output_shape(operation: str) -> Shape:
    return _MODEL.operation_model(operation).output_shape


def unknown_keys(value: object, shape: Shape, path: str = "") -> list[str]:
    """The paths of keys in `value` that `shape` does not have (documents are free-form)."""
    if shape.type_name == "structure":
        if shape.metadata.get("document") or not isinstance(value, dict):
            return []
        found = []
        for key, item in value.items():
            member = shape.members.get(key)
            if member is None:
                found.append(f"{path}.{key}" if path else key)
            else:
                found += unknown_keys(item, member, f"{path}.{key}" if path else key)
        return found
    if shape.type_name == "list" and isinstance(value, list):
        return [p for i, item in enumerate(value) for p in unknown_keys(item, shape.member, f"{path}[{i}]")]
    if shape.type_name == "map" and isinstance(value, dict):
        return [p for k, item in value.items() for p in unknown_keys(item, shape.value, f"{path}.{k}")]
    return []


def wire_types(value: object, shape: Shape, path: str = "") -> list[str]:
    """Values whose JSON type is not the one the shape has on ECS's wire (timestamps are epoch numbers)."""
    kind = shape.type_name
    expected = {
        "string": str, "integer": int, "long": int, "boolean": bool, "double": (int, float),
        "float": (int, float), "timestamp": (int, float), "list": list, "map": dict, "structure": dict,
    }.get(kind)
    if expected is None or shape.metadata.get("document"):
        return []
    wrong = isinstance(value, bool) and kind != "boolean"
    if wrong or not isinstance(value, expected):
        return [f"{path}: {type(value).__name__} where {kind}"]
    if kind == "structure":
        return [p for key, item in value.items() if key in shape.members
                for p in wire_types(item, shape.members[key], f"{path}.{key}")]
    if kind == "list":
        return [p for i, item in enumerate(value) for p in wire_types(item, shape.member, f"{path}[{i}]")]
    return []


def parsed(operation: str, output: dict) -> dict:
    """`output` as botocore parses it for `operation`, after checking it against the model."""
    shape = output_shape(operation)
    assert unknown_keys(output, shape) == [], f"keys {operation}'s output does not have"
    assert wire_types(output, shape) == [], "values of the wrong type on the wire"
    body = json.dumps(output).encode()
    response = {"status_code": 200, "headers": {"content-type": "application/x-amz-json-1.1"}, "body": body}
    result = create_parser("json").parse(response, shape)
    result.pop("ResponseMetadata", None)
    report = ParamValidator().validate(result, shape)
    assert not report.has_errors(), report.generate_report()
    return result
