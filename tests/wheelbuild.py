"""A wheel built from the checkout, as `pip wheel .` builds it, for the tests of the installed harness.

The build runs in a copy of the checkout's sources: setuptools writes build/ and *.egg-info next to
the sources, and the checkout is shared by whatever else runs at the same time (a stale build/ there
could also leak removed files into the wheel). The copy leaves out what is never a source.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Never sources: at the top of the checkout, anywhere, and the sample service's build output.
_NOT_SOURCES_AT_ROOT = {".git", ".venv", "build", "dist", "runs", "reports", "gate-report", "sweeps", ".nox"}
_NOT_SOURCES = {"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}


@dataclass(frozen=True)
class BuiltWheel:
    path: Path
    source: Path  # the copy it was built from
    seconds: float  # the `pip wheel` command alone
    output: str  # what the build printed (pip -v), to find its warnings in


def copy_checkout(dest: Path) -> Path:
    def ignore(directory: str, names: list[str]) -> set[str]:
        here = Path(directory)
        skipped = {n for n in names if n in _NOT_SOURCES or n.endswith(".egg-info")}
        if here == ROOT:
            skipped |= _NOT_SOURCES_AT_ROOT & set(names)
        if here == ROOT / "sample-service":
            skipped |= {"bin"} & set(names)
        return skipped

    shutil.copytree(ROOT, dest, ignore=ignore, symlinks=True)
    return dest


def build_wheel(workdir: Path) -> BuiltWheel:
    """Copy the checkout into ``workdir``/src and build its wheel into ``workdir``/wheel."""
    source = copy_checkout(workdir / "src")
    out = workdir / "wheel"
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation", "-w", str(out), "."],
        cwd=source, capture_output=True, text=True, check=False, timeout=600)
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        raise AssertionError(f"pip wheel failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    [wheel] = out.glob("rollout_harness-*.whl")
    return BuiltWheel(path=wheel, source=source, seconds=seconds, output=proc.stdout + proc.stderr)
