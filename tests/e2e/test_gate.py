"""`harness gate` on a subset of the shipped scenarios that fits the CI time budget."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from typer.testing import CliRunner

from harness.cli import app
from harness.cluster.kind import ClusterRecord

ROOT = Path(__file__).resolve().parents[2]
SUBSET = ["image-update", "pod-delete", "pod-kill-force", "scale-down-up", "slow-start"]


def test_gate_runs_the_subset_and_writes_every_report(cluster: ClusterRecord, tmp_path: Path) -> None:
    args = ["gate", str(ROOT / "scenarios"), "--out", str(tmp_path), "--cluster", cluster.name]
    for name in SUBSET:
        args += ["--only", name]
    result = CliRunner().invoke(app, args)
    gate = json.loads((tmp_path / "gate.json").read_text())
    verdicts = {v["scenario"]: v for v in gate["verdicts"]}
    assert set(verdicts) == set(SUBSET), result.output
    assert result.exit_code == 0, result.output
    assert gate["overall"]["ok"] is True
    assert verdicts["slow-start"]["outcome"] == "FAIL"  # the negative control failed, as it must
    for name in SUBSET:
        if name != "slow-start":
            assert verdicts[name]["outcome"] == "PASS", verdicts[name]
    suites = ET.parse(tmp_path / "junit.xml").getroot().findall("testsuite")
    assert len(suites) == len(SUBSET)
    html = (tmp_path / "report.html").read_text()
    for name in SUBSET:
        assert name in html
    assert (tmp_path / "report.md").is_file()
