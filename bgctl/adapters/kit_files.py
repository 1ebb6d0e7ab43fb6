"""The kit's own files (compose.yaml, the Envoy bootstrap, the image recipes, the shipped
revisions), wherever bgctl is installed.

bgctl runs a stack from a folder holding these files (`load_settings` looks for
compose.yaml). In a clone that is the repository's root. An installed wheel
carries a copy of them inside the package (`bgctl/_kit/`, put there by
setup.py at build time), so that `pip install bgctl` is enough to run a stack
from any repository: `copy_kit` makes a folder of its own from them.

This module is also read by setup.py (by path, without importing bgctl), so
it imports only the standard library.
"""

from __future__ import annotations

import shutil
from pathlib import Path

# What a stack reads at run time, relative to the kit's folder: compose.yaml
# bind-mounts envoy/, images.py builds the stand-ins from nginx/ and envoy/,
# deploy and status read revisions/.
KIT_ENTRIES = ("compose.yaml", "envoy", "nginx", "revisions")
# Where setup.py puts them inside the installed package.
PACKAGED_KIT = "_kit"

_PACKAGE = Path(__file__).resolve().parent.parent


class KitFilesMissing(Exception):
    """This installation of bgctl has neither a packaged kit nor a repository around it."""


def kit_source(package_dir: Path = _PACKAGE) -> Path:
    """The folder holding the kit's files: the wheel's packaged copy, else (a clone, an editable
    install) the repository root around the package."""
    for folder in (package_dir / PACKAGED_KIT, package_dir.parent):
        if all((folder / entry).exists() for entry in KIT_ENTRIES):
            return folder
    raise KitFilesMissing(
        f"bgctl's kit files ({', '.join(KIT_ENTRIES)}) are neither in {package_dir / PACKAGED_KIT} "
        f"nor in {package_dir.parent}; reinstall bgctl."
    )


def copy_kit(destination: Path, source: Path | None = None) -> Path:
    """A folder of the stack's own at `destination` (created; it must not exist yet), from which
    `bgctl` runs as from the repository root. Its `.bgctl/` state stays inside it."""
    source = source or kit_source()
    destination.mkdir(parents=True)
    for entry in KIT_ENTRIES:
        path = source / entry
        if path.is_dir():
            shutil.copytree(path, destination / entry, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, destination / entry)
    return destination
