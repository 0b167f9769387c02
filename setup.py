"""The build step pyproject.toml cannot express: the wheel carries the checkout's scenarios/,
manifests/ and the sample service's sources as package data under harness/_builtin/, so an
installed harness runs its shipped scenarios from any directory (see harness/builtin.py).

The metadata stays in pyproject.toml. An editable install copies nothing: there the checkout itself
is the built-in tree.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUILTIN = Path("harness") / "_builtin"
TREES = ("scenarios", "manifests")
SERVICE = "sample-service"
# What `go build` and the image need; bin/ and other build outputs stay behind.
SERVICE_FILES = ("go.mod", "go.sum", "VERSION", "Dockerfile")


def _skipped(relative: Path) -> bool:
    return any(part.startswith(".") or part == "__pycache__" for part in relative.parts)


def builtin_sources() -> dict[str, Path]:
    """Each file of the built-in tree: its path under harness/_builtin/, and where it comes from."""
    missing = [name for name in (*TREES, f"{SERVICE}/go.mod") if not (ROOT / name).exists()]
    if missing:
        raise SystemExit(f"setup.py: {', '.join(missing)} missing under {ROOT}; build the wheel from a "
                         "checkout of rollout-harness or from its sdist")
    files: dict[str, Path] = {}
    for tree in TREES:
        for path in sorted((ROOT / tree).rglob("*")):
            relative = path.relative_to(ROOT)
            if path.is_file() and not _skipped(relative):
                files[relative.as_posix()] = path
    for path in sorted((ROOT / SERVICE).iterdir()):
        if path.is_file() and (path.name in SERVICE_FILES or path.suffix == ".go"):
            files[f"{SERVICE}/{path.name}"] = path
    return files


class BuildPyWithBuiltin(build_py):
    """build_py, then the built-in tree copied into the build directory (fresh each time, so a file
    removed from the checkout does not linger in the next wheel)."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        target = Path(self.build_lib) / BUILTIN
        shutil.rmtree(target, ignore_errors=True)
        for relative, source in builtin_sources().items():
            dest = target / relative
            self.mkpath(str(dest.parent))
            self.copy_file(str(source), str(dest))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = list(super().get_outputs(include_bytecode))
        if self.editable_mode:
            return outputs
        return [*outputs, *(str(Path(self.build_lib) / BUILTIN / relative) for relative in builtin_sources())]


setup(cmdclass={"build_py": BuildPyWithBuiltin})
