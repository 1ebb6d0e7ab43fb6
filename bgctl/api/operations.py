"""The operations `bgctl serve` answers: a registry by ECS operation name, and AWS's error shape.

Every request is checked against the input shape botocore's ECS model gives the
operation (what the AWS CLI checks before sending), so a script that bypasses an
SDK gets the same sentence. Handlers are registered by the modules listed in
OPERATION_MODULES; an operation ECS has but the kit does not answers
UnsupportedFeatureException naming those it does.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bgctl.adapters.ecs_model import ecs_model, input_problems
from bgctl.adapters.ecs_store import EcsStore
from bgctl.core.settings import Settings

# The modules whose @operation handlers make up the API (imported by `handlers()`).
OPERATION_MODULES = (
    "bgctl.api.task_definitions",
    "bgctl.api.clusters",
    "bgctl.api.services",
    "bgctl.api.service_deployments",
)


class ApiError(Exception):
    """An answer in AWS's error shape: HTTP 400 with {"__type": type_name, "message": message}."""

    def __init__(self, type_name: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.type_name = type_name
        self.message = message
        self.status = status


def client_error(message: str) -> ApiError:
    return ApiError("ClientException", message)


def invalid_parameter(message: str) -> ApiError:
    return ApiError("InvalidParameterException", message)


@dataclass
class Api:
    """What every handler gets: the project's settings, the ECS store and the deployment worker.

    `lock` serialises handlers (the server is threaded; handlers are quick and hand
    long work to `worker`).
    """

    settings: Settings
    store: EcsStore
    worker: Any = None  # bgctl.api.worker.DeploymentWorker, set by the server
    lock: threading.RLock = field(default_factory=threading.RLock)


Handler = Callable[[Api, dict], dict]
_HANDLERS: dict[str, Handler] = {}


def operation(name: str) -> Callable[[Handler], Handler]:
    """Register `handler` as the answer to ECS operation `name`."""
    if name not in ecs_model().operation_names:
        raise ValueError(f"{name} is not an ECS operation")

    def register(handler: Handler) -> Handler:
        _HANDLERS[name] = handler
        return handler

    return register


def handlers() -> dict[str, Handler]:
    for module in OPERATION_MODULES:
        importlib.import_module(module)
    return dict(_HANDLERS)


def supported() -> list[str]:
    return sorted(handlers())


def dispatch(api: Api, name: str, body: Any) -> dict:
    """`name`'s answer to `body`, or ApiError in AWS's shape."""
    known = handlers()
    if name not in known:
        if name in ecs_model().operation_names:
            raise ApiError("UnsupportedFeatureException",
                           f"{name} is not supported by bgctl serve; it supports {', '.join(sorted(known))}.")
        raise ApiError("UnknownOperationException", f"{name} is not an ECS operation.")
    if not isinstance(body, dict):
        raise ApiError("SerializationException", "The request body must be a JSON object.")
    problems = input_problems(name, body)
    if problems:
        raise invalid_parameter("; ".join(problems) + ".")
    with api.lock:
        return known[name](api, body)
