"""Packaging beyond pyproject.toml: the wheel carries the kit's files.

`bgctl up` runs the stack from compose.yaml, envoy/, nginx/ and revisions/,
which live at the repository's root. A wheel built from here copies them into
the package as `bgctl/_kit/`, so that an installed bgctl (the pytest plugin,
for one) finds them without a clone; `bgctl/adapters/kit_files.py` names them
and finds them again. An editable install needs no copy: the root is there.
"""

import runpy
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# By path: importing the bgctl package here would need its dependencies in the build environment.
KIT = runpy.run_path(str(ROOT / "bgctl" / "adapters" / "kit_files.py"))


class BuildPyWithKit(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "bgctl" / KIT["PACKAGED_KIT"]
        shutil.rmtree(target, ignore_errors=True)
        KIT["copy_kit"](target, ROOT)


setup(cmdclass={"build_py": BuildPyWithKit})
