"""What Docker says about one service's container, as the core reads it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceState:
    service: str
    status: str  # Docker's: running, exited, created, ...
    health: str | None  # healthy, unhealthy, starting, or None without a health check
    container: str
    image: str

    @property
    def serving(self) -> bool:
        return self.status == "running" and self.health in (None, "healthy")
