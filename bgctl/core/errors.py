"""The errors bgctl raises, and the exit code each one means.

Raised deep, turned into one sentence on stderr at the edge (bgctl/cli).
"""

from __future__ import annotations

EXIT_FAILED = 1
EXIT_INVALID = 2


class BgctlError(Exception):
    """An operation failed; the message is one sentence for the user."""

    exit_code = EXIT_FAILED


class InvalidInput(BgctlError):
    """The user asked for something that cannot be done; nothing was changed."""

    exit_code = EXIT_INVALID


class DockerUnreachable(BgctlError):
    pass


class ComposeMissing(BgctlError):
    pass


class PortTaken(BgctlError):
    pass


class ImageUnavailable(BgctlError):
    pass


class RouteRejected(BgctlError):
    """Envoy refused a route file; it keeps serving the previous routes."""

    def __init__(self, version: str, reason: str) -> None:
        self.version = version
        self.reason = reason
        super().__init__(f"Envoy rejected routes {version} and keeps serving the previous ones: {reason}")


class RouteNotConfirmed(BgctlError):
    pass


class StartupFailed(BgctlError):
    pass
