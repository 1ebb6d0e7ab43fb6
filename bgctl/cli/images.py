"""`bgctl images`: which images the stack uses; pulls or builds them if missing."""

from __future__ import annotations

from bgctl.cli.wiring import checked_stack, ensure_images
from bgctl.adapters.images import Progress
from bgctl.core.settings import Settings


def images(settings: Settings, progress: Progress) -> dict:
    stack = checked_stack(settings)
    chosen = ensure_images(settings, stack, progress)
    return {"mode": settings.image_mode, **chosen.to_dict()}
