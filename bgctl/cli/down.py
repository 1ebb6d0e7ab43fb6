"""`bgctl down`: stop the project's `bgctl serve`, remove every container, network and volume, and its state.

The state includes what the ECS API kept (`.bgctl/<project>/ecs/`: task
definitions, clusters, services). The deployment history
(`.bgctl/<project>/deployments/`) goes too, unless `--keep-history` asks to keep
it: then `bgctl deployments` and `bgctl describe` still show the stack's
deployments, after `down` and after the next `up`. The registered task
definitions are history in the same sense and stay with it (ECS never reuses
a revision number, and kept deployments name their revisions); the clusters
and services do not, as nothing runs them any more.
"""

from __future__ import annotations

from pathlib import Path

import click

from bgctl.adapters.api_process import stop
from bgctl.adapters.compose import remove_tree
from bgctl.adapters.deployment_history import history_dir
from bgctl.adapters.ecs_store import EcsStore
from bgctl.adapters.lock import stack_lock
from bgctl.adapters.project_files import load_settings, own_stacks
from bgctl.cli.output import out
from bgctl.cli.wiring import checked_stack
from bgctl.core.errors import BgctlError
from bgctl.core.settings import Settings


@click.command()
@click.option("--keep-history", is_flag=True,
              help="Keep the deployment history (bgctl deployments, bgctl describe) and the task definitions "
                   "registered through bgctl serve for the next up.")
def down(keep_history: bool) -> None:
    """Stop bgctl serve; remove every container, network and volume of the stack, its state and history."""
    settings = load_settings()
    removed = run_down(settings, keep_history=keep_history)
    out.print(f"Removed {len(removed)} item(s) of project {settings.project_name}." if removed
              else "Nothing to remove.")
    kept = [str(path) for path in kept_history(settings.state_dir) if path.is_dir()] if keep_history else []
    if kept:
        out.print(f"Kept the deployment history in {' and '.join(kept)}.")


def run_down(settings: Settings, *, keep_history: bool = False) -> list[str]:
    """What was removed (empty when there was nothing).

    A running `bgctl serve` stops first: its deployments would otherwise race
    the removal, and its answers would describe services that no longer run.
    """
    served = stop(settings.api_file)
    # The services' own stacks first: their Envoys are on the kit's network, which goes next.
    own = [item for stack_settings in own_stacks(settings) for item in take_down(stack_settings)]
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
    return ([f"bgctl serve (pid {served.pid})"] if served else []) + own + existing + \
        (["route state"] if had_state else [])


def remove_state(state_dir: Path, *, keep_history: bool, keep_api: bool = False) -> None:
    """The project's state folder gone; with `keep_history`, all but the kept history (`kept_history`);
    with `keep_api`, all but what a running `bgctl serve` holds (a failed `up` it may have started)."""
    kept = [path for path in kept_history(state_dir) if path.is_dir()] if keep_history else []
    if keep_api:
        kept += [path for path in (state_dir / "api.json", state_dir / "ecs") if path.exists()]  # Settings'
    if not kept:
        remove_tree(state_dir)
        return
    _remove_all_but(state_dir, kept)


def kept_history(state_dir: Path) -> list[Path]:
    """What `--keep-history` keeps: the deployment history and the registered task definitions."""
    return [history_dir(state_dir), EcsStore(state_dir / "ecs").task_definitions_dir]  # Settings.ecs_dir


def _remove_all_but(folder: Path, kept: list[Path]) -> None:
    for path in folder.iterdir():
        if path in kept:
            continue
        if any(path in k.parents for k in kept) and path.is_dir() and not path.is_symlink():
            _remove_all_but(path, kept)
        elif path.is_dir() and not path.is_symlink():
            remove_tree(path)
        else:
            path.unlink(missing_ok=True)


def take_down(settings: Settings) -> list[str]:
    """Remove the service's stack (its containers and network) and its state; what was removed."""
    if not settings.compose_file.is_file():
        remove_state(settings.state_dir, keep_history=False)
        return []
    stack = checked_stack(settings)
    with stack_lock(settings.state_dir):
        existing = stack.leftovers()
        stack.down()
    remove_state(settings.state_dir, keep_history=False)
    return existing
