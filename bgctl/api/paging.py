"""ECS's paging of List* operations: `maxResults` items at most, and a `nextToken` to ask for the rest.

The token is opaque to clients, as ECS's are; it holds the offset of the next
item. A list that changes between pages (a revision deregistered meanwhile)
may then repeat or skip an item, which ECS also allows.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import TypeVar

from bgctl.api.operations import invalid_parameter

T = TypeVar("T")
# What ECS's List* operations return when maxResults is not given, and the most they allow.
DEFAULT_MAX_RESULTS = 100


def page(items: Sequence[T], body: dict, *, most: int = DEFAULT_MAX_RESULTS) -> tuple[list[T], str | None]:
    """The page of `items` that `body`'s maxResults and nextToken ask for, and the token for the next one."""
    size = body.get("maxResults", most)
    if not 1 <= size <= most:
        raise invalid_parameter(f"maxResults must be between 1 and {most}.")
    start = _offset(body["nextToken"]) if body.get("nextToken") else 0
    end = start + size
    return list(items[start:end]), (_token(end) if end < len(items) else None)


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset(token: str) -> int:
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise invalid_parameter("The nextToken is not one this endpoint gave.") from None
    if not isinstance(offset, int) or offset < 0:
        raise invalid_parameter("The nextToken is not one this endpoint gave.")
    return offset
