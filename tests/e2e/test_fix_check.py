"""`harness fix-check` on a real cluster: the recommendation of a failed run, applied as overrides of
the same scenario, makes it pass (preStop for a process that stops at once, the grace period for one
that is killed mid-request)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.cluster.kind import ClusterRecord
from harness.fixcheck import FIX_CHECK_FILE
from harness.verdict import GateStatus
from tests.e2e.conftest import run_in, scenario_file

CASES = [
    ("naive-no-drain", "target.pre_stop_seconds"),
    ("naive-ignore-sigterm", "target.termination_grace_period_seconds"),
]


@pytest.mark.parametrize(("name", "setting"), CASES, ids=[c[0] for c in CASES])
def test_the_recommended_setting_removes_the_failures(cluster: ClusterRecord, runs_dir: Path, name: str,
                                                      setting: str) -> None:
    failed = run_in(cluster, scenario_file(name), runs_dir / f"{name}-before")
    assert failed.verdict.outcome is GateStatus.FAIL
    assert failed.verdict.diagnosis is not None
    out = runs_dir / f"{name}-after"
    result = CliRunner().invoke(app, ["fix-check", str(failed.run_dir), "--out", str(out),
                                      "--context", cluster.context])
    checks = list(out.glob(f"*/{FIX_CHECK_FILE}"))
    assert len(checks) == 1, result.output
    check = json.loads(checks[0].read_text())
    assert setting in check["overrides"], check
    assert check["before"]["outcome"] == "FAIL"
    assert check["after"]["outcome"] == "PASS", (check, result.output)
    assert check["after"]["failed"] == 0
    assert check["fixed"] is True
    assert result.exit_code == 0, result.output
