"""Building the I/O objects a command needs from the settings, in one place."""

from __future__ import annotations

from dataclasses import dataclass, replace

from bgctl.adapters.compose import Stack
from bgctl.adapters.envoy_admin import EnvoyAdmin
from bgctl.adapters.images import ImageSet, Images, Progress
from bgctl.adapters.route_delivery import Publication, RoutePublisher
from bgctl.core.traffic import TrafficState
from bgctl.core.settings import Settings
from bgctl.core.state import State
from bgctl.adapters.state_file import StateFile


@dataclass(frozen=True)
class Context:
    settings: Settings
    stack: Stack
    envoy: EnvoyAdmin
    state_file: StateFile

    def publisher(self, state: State) -> RoutePublisher:
        return RoutePublisher(self.settings.routes_dir, self.envoy, self.stack, delivery=state.delivery)

    def apply_traffic(self, state: State, traffic: TrafficState, *,
                      renderer=None) -> tuple[State, Publication | None]:
        """Publish `traffic`, confirm it live, record it; the new state and how it went.

        Decide, then apply once: when Envoy already serves exactly the
        recorded routes for `traffic`, nothing is published.
        """
        if traffic == state.traffic and state.routes_version and renderer is None:
            try:
                if self.envoy.rds_status().version == state.routes_version:
                    return state, None
            except Exception:  # Envoy not answering: publishing will say so
                pass
        publisher = self.publisher(state)
        publication = publisher.publish_text(traffic, renderer) if renderer else publisher.publish(traffic)
        new_state = replace(state.with_traffic(traffic, publication.version), delivery=publisher.delivery)
        self.state_file.save(new_state)
        return new_state, publication


def checked_stack(settings: Settings) -> Stack:
    """A Stack after checking that Docker and Compose v2 answer."""
    stack = Stack(settings)
    stack.check_engine()
    stack.check_compose()
    return stack


def ensure_images(settings: Settings, stack: Stack, progress: Progress) -> ImageSet:
    return Images(stack.docker, settings.project_dir, progress).ensure(settings.image_mode)


def open_context(settings: Settings, images: ImageSet | None = None) -> Context:
    env = settings.compose_env(nginx_image=images.nginx, envoy_image=images.envoy) if images else None
    return Context(
        settings=settings,
        stack=Stack(settings, compose_env=env),
        envoy=EnvoyAdmin(settings.admin_url, socket_path=settings.admin_socket),
        state_file=StateFile(settings.state_dir / "state.json"),
    )
