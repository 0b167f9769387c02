"""Sweeps on a real cluster: a 2 x 2 grid repeated twice whose cells agree with single runs of the
same settings, and a sweep stopped by its time budget that resumes without re-running its finished cell.

The scenario is small (two replicas, short warm-up and settle) so that a run takes well under a minute.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from harness.cli import app
from harness.cluster.kind import ClusterRecord
from harness.scenario import load_scenario
from harness.sweep.plan import plan_sweep
from harness.sweep.report import cheapest_passing
from harness.sweep.state import CellStatus, load_state
from harness.verdict import GateStatus
from tests.e2e.conftest import run_in

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()

SMALL: dict[str, Any] = {
    "name": "sweep-e2e",
    "description": "A rolling restart of two replicas, for sweeps on the e2e cluster.",
    "target": {"manifests": str(ROOT / "manifests" / "sample-service"), "replicas": 2},
    "traffic": {"rate": 150, "users": 16, "warmup_s": 2, "settle_s": 2},
    "steps": [{"action": "rollout-restart", "deadline_s": 120}],
    "gates": {"min_requests": 300},
}
CORNERS = {"pre_stop_seconds=0, env.DRAIN_DELAY=0s": GateStatus.FAIL,  # the seed article's lesson
           "pre_stop_seconds=5, env.DRAIN_DELAY=5s": GateStatus.PASS}


def _scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "sweep-e2e.yaml"
    path.write_text(yaml.safe_dump(SMALL, sort_keys=False))
    return path


def test_a_repeated_2x2_sweep_agrees_with_single_runs(cluster: ClusterRecord, runs_dir: Path, tmp_path: Path) -> None:
    source = _scenario_file(tmp_path)
    out = runs_dir / "sweep-2x2"
    grid = ["--vary", "pre_stop_seconds=0,5", "--vary", "env.DRAIN_DELAY=0s,5s"]
    result = runner.invoke(app, ["sweep", str(source), *grid, "--repeat", "2", "--out", str(out),
                                 "--cluster", cluster.name])
    state = load_state(out)
    assert state is not None, result.output
    assert state.finished, result.output
    assert [len(c.runs) for c in state.cells] == [2, 2, 2, 2]
    for cell in state.cells:
        for run in cell.runs:
            # Complete evidence in every run: a sweep cell is judged like any run.
            assert run.outcome in (GateStatus.PASS, GateStatus.FAIL), (cell.label, run.failing_gates, run.problem)
            assert run.run_dir is not None and (out / run.run_dir / "result.json").is_file()
            assert run.requests >= 300
    by_label = {c.label: c for c in state.cells}
    for label, expected in CORNERS.items():
        assert {r.outcome for r in by_label[label].runs} == {expected}, label

    # Single runs of the same settings, outside any sweep, give the same verdicts.
    plan = plan_sweep(load_scenario(source), [("pre_stop_seconds", [0, 5]), ("env.DRAIN_DELAY", ["0s", "5s"])])
    for cell in plan.cells:
        if cell.label in CORNERS:
            single = run_in(cluster, cell.scenario, runs_dir / "sweep-single").verdict
            assert single.outcome is CORNERS[cell.label], (cell.label, [g.reason for g in single.gates])

    lost = by_label["pre_stop_seconds=0, env.DRAIN_DELAY=0s"].summary
    assert lost is not None and lost.bound.failures > 0 and lost.bound.upper > lost.bound.failures / lost.bound.requests
    best = cheapest_passing(state)
    assert best is not None and best.label != "pre_stop_seconds=0, env.DRAIN_DELAY=0s"
    assert result.exit_code == 0, result.output
    html = (out / "sweep.html").read_text()
    assert html.count('class="cell ') == 4
    assert "cheapest combination that passed every repeat" in (out / "sweep.md").read_text()


def test_a_sweep_stopped_by_its_budget_resumes_without_rerunning(cluster: ClusterRecord, runs_dir: Path,
                                                                 tmp_path: Path) -> None:
    source = _scenario_file(tmp_path)
    out = runs_dir / "sweep-resume"
    args = ["sweep", str(source), "--vary", "pre_stop_seconds=2,5", "--out", str(out), "--cluster", cluster.name]
    first = runner.invoke(app, [*args, "--max-minutes", "0.1"])  # any run takes longer: stop after one cell
    assert first.exit_code == 1, first.output
    assert "the time budget of 0.1 min was crossed" in first.output
    stopped = load_state(out)
    assert stopped is not None
    assert [c.status for c in stopped.cells] == [CellStatus.DONE, CellStatus.NOT_RUN]
    (kept,) = stopped.cells[0].runs
    assert kept.run_dir is not None
    kept_result = (out / kept.run_dir / "result.json").read_bytes()

    second = runner.invoke(app, [*args, "--resume"])
    assert "1 of 2 cells to run, 1 run(s)" in second.output, second.output
    resumed = load_state(out)
    assert resumed is not None and resumed.finished and resumed.invocations == 2
    assert resumed.cells[0].runs == [kept]  # the finished cell was not run again
    assert (out / kept.run_dir / "result.json").read_bytes() == kept_result
    assert len(resumed.cells[1].runs) == 1
    assert len(list((out / "runs").iterdir())) == 2
    saved = json.loads((out / "sweep.json").read_text())
    assert [c["status"] for c in saved["cells"]] == ["done", "done"]
