"""The harness as its users get it: a wheel built from the checkout, installed into a fresh virtual
environment (dependencies from PyPI), run from an empty directory on the e2e cluster."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from harness.cluster.kind import ClusterRecord
from tests.wheelbuild import build_wheel


def _run(argv: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False, timeout=timeout)


def test_an_installed_harness_runs_the_default_scenario_from_anywhere(cluster: ClusterRecord, tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "build")
    venv = tmp_path / "venv"
    start = time.monotonic()
    made = _run([sys.executable, "-m", "venv", str(venv)], tmp_path, 120)
    assert made.returncode == 0, made.stderr
    installed = _run([str(venv / "bin" / "pip"), "install", "-q", str(wheel.path)], tmp_path, 600)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    install_s = time.monotonic() - start
    harness = str(venv / "bin" / "harness")

    empty = tmp_path / "empty"
    empty.mkdir()
    version = _run([harness, "--version"], empty, 60)
    assert version.returncode == 0 and version.stdout.startswith("rollout-harness: "), version.stderr
    out = tmp_path / "out"
    ran = _run([harness, "run", "builtin:rolling-restart", "--cluster", cluster.name, "--out", str(out)], empty, 600)
    report = f"install {install_s:.0f} s\n{ran.stdout[-4000:]}\n{ran.stderr[-4000:]}"
    assert ran.returncode == 0, report
    [result] = out.glob("*/result.json")
    verdict = json.loads(result.read_text())
    assert verdict["outcome"] == "PASS", report
    assert verdict["scenario"] == "rolling-restart"
    # The run used what the wheel carries: the scenario file it recorded lies inside the installed package.
    assert Path(verdict["facts"]["scenario_file"]).is_relative_to(venv), verdict["facts"]["scenario_file"]
    assert list(empty.iterdir()) == []  # nothing written where it was started but --out
