"""The house rules, read from the source: the core does no I/O, and layers import downwards only.

    core       ← imports only the standard library's pure modules and other core modules
    adapters   ← core, adapters
    lifecycle  ← core, lifecycle (the adapters only through lifecycle/ports.py's interfaces)
    cli        ← anything
    api        ← anything: the other front door (`bgctl serve`), beside the command line,
                 whose verbs' operations it calls

Beside them, two entry points may import anything too: `__main__.py` (python -m bgctl)
and `pytest_plugin.py` (the pytest11 entry point).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "bgctl"
LAYERS = ("core", "adapters", "lifecycle", "cli", "api")
ENTRY_MODULES = ("__init__.py", "__main__.py", "pytest_plugin.py")

# Modules the core may import: data, text and arithmetic; nothing that reaches
# files, processes, sockets, Docker, threads or the clock.
PURE_STDLIB = {
    "__future__", "dataclasses", "enum", "typing", "re", "json", "math", "collections", "functools",
    "itertools", "hashlib", "uuid", "signal", "pathlib", "tomllib", "tomli", "sys", "string", "fnmatch",
    "operator", "copy", "types", "abc", "textwrap", "datetime", "difflib",
}
# pathlib is allowed for path arithmetic; these calls would be I/O.
IO_CALLS = re.compile(
    r"\.(read_text|read_bytes|write_text|write_bytes|exists|is_file|is_dir|mkdir|unlink|rmdir|iterdir|glob|rglob|"
    r"resolve|stat|touch|rename|open)\(|\bopen\(|\bPath\.cwd\(|\bsys\.(stdout|stderr|stdin|exit)\b"
    r"|\bdatetime\.now\(|\bdate\.today\("
)
ALLOWED = {
    "core": {"core"},
    "adapters": {"core", "adapters"},
    "lifecycle": {"core", "lifecycle"},
    "cli": set(LAYERS),
    "api": set(LAYERS),
}


def modules(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


def imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
    return found


def test_every_module_is_in_a_layer():
    loose = [p.name for p in PACKAGE.glob("*.py") if p.name not in ENTRY_MODULES]
    assert loose == [], f"modules outside core/, adapters/, lifecycle/, cli/, api/: {loose}"
    assert sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__") == sorted(LAYERS)


@pytest.mark.parametrize("layer", LAYERS)
def test_layers_import_downwards_only(layer):
    wrong = []
    for path in modules(layer):
        for name in imports(path):
            parts = name.split(".")
            if parts[0] == "bgctl" and len(parts) > 1 and parts[1] in LAYERS and parts[1] not in ALLOWED[layer]:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert wrong == []


def test_the_core_imports_nothing_that_does_io():
    wrong = []
    for path in modules("core"):
        for name in imports(path):
            top = name.split(".")[0]
            if top != "bgctl" and top not in PURE_STDLIB:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert wrong == []


def test_the_core_makes_no_io_calls():
    wrong = []
    for path in modules("core"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if IO_CALLS.search(code) and not code.lstrip().startswith(('"', "'")):
                wrong.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert wrong == []


def test_the_rule_catches_a_violation(tmp_path):
    """The checks above would see an I/O import and an I/O call."""
    sample = tmp_path / "sample.py"
    sample.write_text("import subprocess\nfrom bgctl.adapters.compose import Stack\nPath('x').read_text()\n")
    assert imports(sample) == ["subprocess", "bgctl.adapters.compose"]
    assert IO_CALLS.search("Path('x').read_text()")
