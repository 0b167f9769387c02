"""`harness fix-check` on a real cluster: the recommendation of a failed run, applied as overrides of
the same scenario, ends its mechanism where a setting can (preStop for a process that stops at once),
and is reported as not enough where none can (a longer grace period for a process that ignores SIGTERM)."""

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

# (scenario, the setting recommended, the mechanism it is recommended for, whether a setting can end it)
CASES = [
    # The process stops accepting at once on SIGTERM: a preStop longer than the endpoint removal ends it.
    ("naive-no-drain", "target.pre_stop_seconds", "shutdown-before-endpoint-removal", True),
    # The process ignores SIGTERM: a longer grace period only moves the kill; it must stay, and
    # fix-check must say the setting did not work rather than call it fixed.
    ("naive-ignore-sigterm", "target.termination_grace_period_seconds", "killed-at-grace-end", False),
]


@pytest.mark.parametrize(("name", "setting", "mechanism", "curable"), CASES, ids=[c[0] for c in CASES])
def test_the_recommended_setting_is_checked_by_a_re_run(cluster: ClusterRecord, runs_dir: Path, name: str,
                                                        setting: str, mechanism: str, curable: bool) -> None:
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
    assert changes[mechanism]["checked"], check
    if not curable:
        assert changes[mechanism]["after"] > 0, check
        assert check["fixed"] is False and check["settings_worked"] is False and result.exit_code == 1, check
        assert "not fixed" in result.output and "settings alone" not in result.output
        assert any("SIGTERM" in text for text in check["not_applicable"]), check  # the change it needs instead
        return
    assert changes[mechanism]["after"] == 0, check
    # What remains, if anything, is only what no setting can fix (a change to the service), said so.
    remaining = {m: c for m, c in changes.items() if c["after"] > 0}
    assert all(not c["checked"] and c["status"] != "new" for c in remaining.values()), check
    assert check["settings_worked"] is True
    if check["after"]["outcome"] == "PASS":
        assert check["fixed"] is True and result.exit_code == 0, result.output
    else:
        assert remaining and check["fixed"] is False and result.exit_code == 1, (check, result.output)
        assert "not fixed by settings alone" in result.output
