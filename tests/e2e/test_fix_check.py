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
    ("naive-no-drain", "target.pre_stop_seconds", "shutdown-before-endpoint-removal"),
    ("naive-ignore-sigterm", "target.termination_grace_period_seconds", "killed-at-grace-end"),
]


@pytest.mark.parametrize(("name", "setting", "mechanism"), CASES, ids=[c[0] for c in CASES])
def test_the_recommended_setting_removes_its_mechanism(cluster: ClusterRecord, runs_dir: Path, name: str,
                                                       setting: str, mechanism: str) -> None:
    """The mechanism a setting was recommended for is gone after the re-run. What remains, if
    anything, is only what no setting can fix (a change to the service), and fix-check says so."""
    failed = run_in(cluster, scenario_file(name), runs_dir / f"{name}-before")
    assert failed.verdict.outcome is GateStatus.FAIL
    assert failed.verdict.diagnosis is not None
    assert failed.verdict.diagnosis.findings[0].mechanism.value == mechanism
    out = runs_dir / f"{name}-after"
    result = CliRunner().invoke(app, ["fix-check", str(failed.run_dir), "--out", str(out),
                                      "--context", cluster.context])
    checks = list(out.glob(f"*/{FIX_CHECK_FILE}"))
    assert len(checks) == 1, result.output
    check = json.loads(checks[0].read_text())
    assert setting in check["overrides"], check
    assert check["before"]["outcome"] == "FAIL"
    changes = {c["mechanism"]: c for c in check["mechanisms"]}
    assert changes[mechanism]["checked"] and changes[mechanism]["after"] == 0, check
    remaining = {m: c for m, c in changes.items() if c["after"] > 0}
    assert all(not c["checked"] and c["status"] != "new" for c in remaining.values()), check
    assert check["settings_worked"] is True
    if check["after"]["outcome"] == "PASS":
        assert check["fixed"] is True and result.exit_code == 0, result.output
    else:
        assert remaining and check["fixed"] is False and result.exit_code == 1, (check, result.output)
        assert "not fixed by settings alone" in result.output
