"""Reading the project's own files: the settings' project, bgctl.toml, task definitions.

The parsing is pure (core); this module only finds and reads the files, and
turns a missing or unreadable file into one sentence.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from bgctl.core.config import CONFIG_FILE, KitConfig, parse_config
from bgctl.core.errors import InvalidInput
from bgctl.core.settings import Settings
from bgctl.core.taskdef import Revision, parse_task_definition
from bgctl.core.topology import SERVICE_CONNECT_PORT, slot_service


def load_settings(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Settings:
    """The settings for the project in `cwd` (default: the working directory), from `env` (default: os.environ)."""
    project_dir = (cwd or Path.cwd()).resolve()
    if not (project_dir / "compose.yaml").is_file():
        raise InvalidInput(
            f"There is no compose.yaml in {project_dir}; run bgctl from the bgctl repository's root."
        )
    return Settings.parse(os.environ if env is None else env, project_dir)


def load_config(project_dir: Path) -> KitConfig:
    """bgctl.toml in `project_dir`; the defaults when there is none."""
    path = project_dir / CONFIG_FILE
    if not path.exists():
        return KitConfig()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path.name} is not valid TOML: {exc}.") from exc
    return parse_config(text, name=path.name)


def load_task_definition(path: Path, *, service_connect_port: int = SERVICE_CONNECT_PORT) -> Revision:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"The task definition {path} does not exist.") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{path} is not a text file (it is not UTF-8).") from None
    except OSError as exc:
        raise InvalidInput(f"The task definition {path} cannot be read: {exc.strerror or exc}.") from None
    return parse_task_definition(text, source=str(path), service_connect_port=service_connect_port)


def shipped_revision(slot: str, task_definitions_dir: Path) -> Revision:
    """The seed's revision for `slot` (revisions/backend-<slot>.json)."""
    revision = load_task_definition(Path(task_definitions_dir) / f"{slot_service(slot)}.json")
    return replace(revision, source="shipped")
