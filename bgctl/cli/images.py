"""`bgctl images`: which images the stack uses; pulls or builds them if missing."""

from __future__ import annotations

import json

import click

from bgctl.adapters.images import Progress
from bgctl.adapters.project_files import load_settings
from bgctl.cli.output import out, progress
from bgctl.cli.wiring import checked_stack, ensure_images
from bgctl.core.settings import Settings


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def images(as_json: bool) -> None:
    """Show the images the stack uses; pull or build them if missing."""
    report = run_images(load_settings(), progress)
    if as_json:
        print(json.dumps(report, indent=2))
        return
    out.print(f"{report['kind']} images (BGCTL_IMAGES={report['mode']}):")
    out.print(f"  nginx  {report['nginx']}")
    out.print(f"  envoy  {report['envoy']}")


def run_images(settings: Settings, progress: Progress) -> dict:
    stack = checked_stack(settings)
    chosen = ensure_images(settings, stack, progress)
    return {"mode": settings.image_mode, **chosen.to_dict()}
