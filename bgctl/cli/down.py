"""`bgctl down`: remove every container, network and volume of the project, and its state."""

from __future__ import annotations

import click

from bgctl.adapters.project_files import load_settings
from bgctl.cli.output import out
from bgctl.cli.wiring import checked_stack
from bgctl.adapters.compose import remove_tree
from bgctl.core.errors import BgctlError
from bgctl.adapters.lock import stack_lock
from bgctl.core.settings import Settings


@click.command()
def down() -> None:
    """Remove every container, network and volume of the stack, and its route state."""
    settings = load_settings()
    removed = run_down(settings)
    out.print(f"Removed {len(removed)} item(s) of project {settings.project_name}." if removed
              else "Nothing to remove.")


def run_down(settings: Settings) -> list[str]:
    """What was removed (empty when there was nothing)."""
    stack = checked_stack(settings)
    had_state = settings.state_dir.exists()  # before the lock file creates the directory
    with stack_lock(settings.state_dir):
        existing = stack.leftovers()
        stack.down()
    left = stack.leftovers()
    if left:
        raise BgctlError(f"Docker still has {', '.join(left)} after removing the project.")
    remove_tree(settings.state_dir)
    try:
        settings.state_dir.parent.rmdir()  # .bgctl/, if no other project uses it
    except OSError:
        pass
    return existing + (["route state"] if had_state else [])
