"""`bgctl down`: remove every container, network and volume of the project, and its state.

The deployment history (`.bgctl/<project>/deployments/`) goes too, unless
`--keep-history` asks to keep it: then `bgctl deployments` and `bgctl describe`
still show the stack's deployments, after `down` and after the next `up`.
"""

from __future__ import annotations

from pathlib import Path

import click

from bgctl.adapters.compose import remove_tree
from bgctl.adapters.deployment_history import history_dir
from bgctl.adapters.lock import stack_lock
from bgctl.adapters.project_files import load_settings
from bgctl.cli.output import out
from bgctl.cli.wiring import checked_stack
from bgctl.core.errors import BgctlError
from bgctl.core.settings import Settings


@click.command()
@click.option("--keep-history", is_flag=True,
              help="Keep the deployment history (bgctl deployments, bgctl describe) for the next up.")
def down(keep_history: bool) -> None:
    """Remove every container, network and volume of the stack, its route state and deployment history."""
    settings = load_settings()
    removed = run_down(settings, keep_history=keep_history)
    out.print(f"Removed {len(removed)} item(s) of project {settings.project_name}." if removed
              else "Nothing to remove.")
    if keep_history and history_dir(settings.state_dir).is_dir():
        out.print(f"Kept the deployment history in {history_dir(settings.state_dir)}.")


def run_down(settings: Settings, *, keep_history: bool = False) -> list[str]:
    """What was removed (empty when there was nothing)."""
    stack = checked_stack(settings)
    had_state = settings.state_dir.exists()  # before the lock file creates the directory
    with stack_lock(settings.state_dir):
        existing = stack.leftovers()
        stack.down()
    left = stack.leftovers()
    if left:
        raise BgctlError(f"Docker still has {', '.join(left)} after removing the project.")
    remove_state(settings.state_dir, keep_history=keep_history)
    try:
        settings.state_dir.parent.rmdir()  # .bgctl/, if no other project uses it
    except OSError:
        pass
    return existing + (["route state"] if had_state else [])


def remove_state(state_dir: Path, *, keep_history: bool) -> None:
    """The project's state folder gone; with `keep_history`, all but its deployments/ (the kept history)."""
    kept = history_dir(state_dir)
    if not (keep_history and kept.is_dir()):
        remove_tree(state_dir)
        return
    for path in state_dir.iterdir():
        if path == kept:
            continue
        if path.is_dir() and not path.is_symlink():
            remove_tree(path)
        else:
            path.unlink(missing_ok=True)
