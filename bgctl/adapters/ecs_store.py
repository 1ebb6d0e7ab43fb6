"""What the ECS API keeps, as JSON files under .bgctl/<project>/ecs/: one file per resource.

    task-definitions/<family>/<revision>.json
    clusters/<name>.json
    services/<cluster>/<name>.json

Each file is written atomically (temporary file, then rename), so a killed
`bgctl serve` leaves every resource either as it was or as it became. Callers
serialise writes (bgctl/api/operations.py's lock).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from bgctl.adapters.state_file import write_atomically


class EcsStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    # Task definitions

    @property
    def task_definitions_dir(self) -> Path:
        return self.directory / "task-definitions"

    def task_definition_revisions(self, family: str) -> list[int]:
        folder = self.task_definitions_dir / family
        return sorted(int(p.stem) for p in folder.glob("*.json") if p.stem.isdigit()) if folder.is_dir() else []

    def task_definition(self, family: str, revision: int) -> dict | None:
        return self._read(self.task_definitions_dir / family / f"{revision}.json")

    def save_task_definition(self, family: str, revision: int, record: dict) -> None:
        self._write(self.task_definitions_dir / family / f"{revision}.json", record)

    def families(self) -> list[str]:
        folder = self.task_definitions_dir
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    # Clusters

    def cluster(self, name: str) -> dict | None:
        return self._read(self.directory / "clusters" / f"{name}.json")

    def save_cluster(self, name: str, record: dict) -> None:
        self._write(self.directory / "clusters" / f"{name}.json", record)

    def clusters(self) -> list[dict]:
        return self._all(self.directory / "clusters")

    # Services

    def service(self, cluster: str, name: str) -> dict | None:
        return self._read(self.directory / "services" / cluster / f"{name}.json")

    def save_service(self, cluster: str, name: str, record: dict) -> None:
        self._write(self.directory / "services" / cluster / f"{name}.json", record)

    def services(self, cluster: str | None = None) -> list[dict]:
        root = self.directory / "services"
        folders = [root / cluster] if cluster else (sorted(p for p in root.iterdir() if p.is_dir())
                                                   if root.is_dir() else [])
        return [record for folder in folders for record in self._all(folder)]

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    # Files

    def _read(self, path: Path) -> dict | None:
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return None

    def _write(self, path: Path, record: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, json.dumps(record, indent=2, sort_keys=True) + "\n")

    def _all(self, folder: Path) -> list[dict]:
        if not folder.is_dir():
            return []
        return [r for r in (self._read(p) for p in sorted(folder.glob("*.json"))) if r is not None]
