"""Reading the project's own files: the settings' project, bgctl.toml, task definitions,
service definitions.

The parsing is pure (core); this module only finds and reads the files, and
turns a missing or unreadable file into one sentence.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path

from bgctl.adapters.state_file import write_atomically
from bgctl.core.config import CONFIG_FILE, KitConfig, parse_config
from bgctl.core.errors import InvalidInput
from bgctl.core.service_definition import CREATE_SERVICE, UPDATE_SERVICE, TaskDefinitionRef
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
    settings = Settings.parse(os.environ if env is None else env, project_dir)
    # Every command starts here: a mistake in the configuration file is refused (exit 2) before
    # any command touches Docker or the state, even one that does not use the file. (A missing
    # BGCTL_CONFIG file is refused where the file is used.)
    if settings.config_path.exists():
        load_config(settings)
    return settings


def load_config(source: Settings | Path) -> KitConfig:
    """The configuration file: the one BGCTL_CONFIG names (it must exist), else bgctl.toml (defaults if absent).

    `source` is the settings, or (older callers, tests) a project folder whose
    bgctl.toml is read if there is one.
    """
    if isinstance(source, Settings):
        path, named = source.config_path, source.config_file is not None
    else:
        path, named = Path(source) / CONFIG_FILE, False
    if not path.exists():
        if named:
            raise InvalidInput(f"BGCTL_CONFIG names {path}, which does not exist.")
        return KitConfig()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path.name} is not valid TOML: {exc}.") from exc
    except OSError as exc:
        raise InvalidInput(f"The configuration file {path} cannot be read: {exc.strerror or exc}.") from None
    # The full path, so that relative paths in the file resolve against its folder.
    return parse_config(text, name=str(path.resolve()))


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


# Where `taskDefinition: "family[:revision]"` is looked up: this folder in the service
# definition's folder, then in its parent (so examples/service-definitions/ finds
# examples/task-definitions/).
TASK_DEFINITION_DIR = "task-definitions"


def read_service_definition(path: Path) -> tuple[dict, str]:
    """The JSON object in `path` and the operation it is input of: CreateService when it names a
    serviceName and no service, UpdateService otherwise (as `aws ecs ... --cli-input-json` takes them)."""
    text = _read(Path(path), "service definition")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{path} is not a service definition (its JSON is not an object).")
    operation = CREATE_SERVICE if "serviceName" in data and "service" not in data else UPDATE_SERVICE
    return data, operation


def find_task_definition(reference: TaskDefinitionRef, *, base_dir: Path, source: str) -> Path:
    """The file a service definition's `taskDefinition` names (`source` names the service definition).

    A path is relative to `base_dir`. `family[:revision]` is looked up in TASK_DEFINITION_DIR beside `base_dir`, then beside its parent:
    `<family>-<revision>.json`, then `<family>.json`, then the one file whose "family" (and
    "revision", when given) match.
    """
    if reference.path is not None:
        path = Path(reference.path).expanduser()
        # normpath: "service-definitions/../task-definitions/x.json" is named as "task-definitions/x.json".
        path = path if path.is_absolute() else Path(os.path.normpath(Path(base_dir) / path))
        if not path.is_file():
            raise InvalidInput(f"{source} names taskDefinition {reference.text}, but {path} does not exist.")
        return path
    base_dir = Path(base_dir).absolute()
    folders = [base_dir / TASK_DEFINITION_DIR, base_dir.parent / TASK_DEFINITION_DIR]
    names = ([f"{reference.family}-{reference.revision}.json"] if reference.revision is not None else []) \
        + [f"{reference.family}.json"]
    for folder in folders:
        for name in names:
            if (folder / name).is_file():
                return folder / name
    for folder in folders:
        matches = [p for p in sorted(folder.glob("*.json")) if _describes(p, reference)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidInput(
                f"{source} names taskDefinition {reference.text}, which matches "
                f"{' and '.join(p.name for p in matches)} in {folder}; give a revision or the file's path."
            )
    where = " or ".join(str(f) for f in folders)
    raise InvalidInput(f"{source} names taskDefinition {reference.text}, and no task definition of that "
                       f"family{' and revision' if reference.revision is not None else ''} is in {where}.")


def _describes(path: Path, reference: TaskDefinitionRef) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False  # not a task definition; the lookup skips it
    if isinstance(data, dict) and isinstance(data.get("taskDefinition"), dict):
        data = data["taskDefinition"]  # describe-task-definition's wrapping
    if not isinstance(data, dict) or data.get("family") != reference.family:
        return False
    return reference.revision is None or data.get("revision") == reference.revision


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"The {what} {path} does not exist.") from None
    except IsADirectoryError:
        raise InvalidInput(f"The {what} {path} is a folder, not a file.") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{path} is not a text file (it is not UTF-8).") from None
    except OSError as exc:
        raise InvalidInput(f"The {what} {path} cannot be read: {exc.strerror or exc}.") from None


# -- a team's own services' stacks (`.bgctl/<project>/services/<name>/`) --------------------------

PORTS_FILE = "ports"


def write_ports(settings: Settings) -> None:
    """Where a service's stack publishes its ingress and admin (`own_stack` reads it)."""
    write_atomically(settings.state_dir / PORTS_FILE, f"{settings.http_port} {settings.admin_port}\n")


def own_stack(kit: Settings, name: str) -> Settings | None:
    """The settings of service `name`'s stack under `kit`'s state; None before its ports are known."""
    try:
        http_port, admin_port = (int(p) for p in (kit.services_dir / name / PORTS_FILE).read_text().split())
    except (OSError, ValueError):
        return None
    return kit.for_service(name, http_port=http_port, admin_port=admin_port)


def own_stacks(kit: Settings) -> Iterator[Settings]:
    """The service stacks that have a folder under `kit`'s state (for `bgctl down`, status and the records)."""
    if not kit.services_dir.is_dir():
        return
    for folder in sorted(kit.services_dir.iterdir()):
        settings = own_stack(kit, folder.name)
        if settings is not None:
            yield settings
