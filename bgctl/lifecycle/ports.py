"""The small interfaces the lifecycle engine drives the world through.

The engine (`deployer.py`) knows the ECS stage order and nothing about
Docker, Compose or Envoy's admin API; the adapters implement these protocols
(`cli/wiring.py` puts them together), and the unit tests pass fakes.
Names are ECS's and Envoy's: a slot runs a revision's tasks; Service Connect
sends a slot's traffic to its Envoy cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bgctl.core.hooks import HookInvocation, HookRun
from bgctl.core.services import ServiceState
from bgctl.core.state import State
from bgctl.core.taskdef import Revision
from bgctl.core.traffic import TrafficState


class Clock(Protocol):
    """Wall-clock seconds (the record keeps absolute deadlines) and a way to wait."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class TaskWatch(Protocol):
    """What happened to a slot's tasks since the watch began, from Docker's event stream."""

    def problem(self) -> str | None:
        """None while every task runs and is not unhealthy; else one sentence (stopped, unhealthy)."""
        ...

    def close(self) -> None: ...


class SlotTasks(Protocol):
    """The deployed service's tasks: each slot runs `count` tasks of its revision (ECS's desiredCount)."""

    def state(self, slot: str) -> ServiceState | None:
        """One of `slot`'s tasks, a running one first (None: it has none)."""
        ...

    def all_tasks(self, slot: str) -> tuple[ServiceState, ...]:
        """Every task of `slot`, running or not."""
        ...

    def start(self, slot: str, revision: Revision | None, *, timeout: float, count: int = 1) -> tuple[str, ...]:
        """Run `count` tasks of `revision` (None: its shipped revision) in `slot` -- starting any that
        stopped, replacing any that turned unhealthy -- and return their addresses once all are
        healthy. Raises BgctlError when they do not get healthy within `timeout`."""
        ...

    def stop(self, slot: str, *, timeout: float) -> None:
        """Stop all of `slot`'s tasks without cutting a request they are serving (callers drain first)."""
        ...

    def watch(self, slot: str) -> TaskWatch: ...


class ServiceConnect(Protocol):
    """Envoy as the Service Connect data plane: routes, endpoints, counters."""

    def apply(self, state: State, traffic: TrafficState) -> State:
        """Make Envoy serve `traffic` (decide, then apply once), confirm it live, and return
        the state that records it. Raises BgctlError when Envoy rejects or never confirms it."""
        ...

    def register(self, slot: str, addresses: tuple[str, ...], *, timeout: float) -> None:
        """Return once Envoy's cluster for `slot` has `addresses` as its endpoints."""
        ...

    def counters(self, slot: str) -> dict[str, int]:
        """Envoy's per-cluster counters for `slot` (upstream_rq_total, _2xx, _5xx, _active)."""
        ...


class Records(Protocol):
    """Where the record lives; saved after every step, so that a killed bgctl resumes where it was."""

    def save(self, state: State) -> None: ...


class PendingHookRun(Protocol):
    def result(self) -> HookRun | None:
        """The call's outcome once it returned; None while it runs."""
        ...

    def cancel(self) -> None:
        """End the call now (its outcome no longer matters: the deployment is rolling back);
        a call that already returned is left alone."""
        ...


class HookRunner(Protocol):
    """Calls hooks (never PAUSE ones: the engine handles those itself).

    A hook that fails, hangs past its timeout or cannot start is a FAILED
    answer, never an exception.
    """

    def start(self, call: HookInvocation) -> PendingHookRun:
        """Begin `call` and return at once: calls started together run in parallel, as
        ECS runs the hooks of one stage."""
        ...


class RollbackRequests(Protocol):
    """`bgctl rollback` from another terminal, while this bgctl holds the lock, leaves a request."""

    def take(self) -> bool:
        """Whether a rollback was requested (and forget the request)."""
        ...


@dataclass(frozen=True)
class Ports:
    """Everything the engine drives, in one value (built by `cli/wiring.py`, or from fakes)."""

    tasks: SlotTasks
    service_connect: ServiceConnect
    records: Records
    hooks: HookRunner
    rollback_requests: RollbackRequests
    clock: Clock
