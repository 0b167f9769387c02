"""`harness sweep` and `harness run --repeat` as a user meets them, with run_scenario answering from
recorded verdicts: the plan announced first, progress, the table, exit codes, errors without tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import harness.run
from harness.cli import app
from harness.scenario import Scenario
from harness.verdict import Verdict
from tests.unit.recorded_verdicts import FakeRuns, recorded_verdict

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "scenarios" / "sweeps" / "shutdown-settings.yaml"
runner = CliRunner()


def boundary(scenario: Scenario) -> Verdict:
    lost = scenario.target.pre_stop_seconds == 0 and scenario.target.env.get("DRAIN_DELAY") == "0s"
    return recorded_verdict("naive-rolling-restart" if lost else "rolling-restart")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeRuns:
    runs = FakeRuns(boundary)
    monkeypatch.setattr(harness.run, "run_scenario", runs)
    return runs


def test_help_lists_the_sweep_command() -> None:
    result = runner.invoke(app, ["sweep", "--help"])
    assert result.exit_code == 0
    for option in ("--vary", "--repeat", "--resume", "--max-minutes", "--max-cells", "--dry-run"):
        assert option in result.output


def test_a_dry_run_shows_the_plan_and_runs_nothing(fake: FakeRuns) -> None:
    result = runner.invoke(app, ["sweep", str(SHIPPED), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert ("pre_stop_seconds (3) x env.DRAIN_DELAY (2) x connection_modes (2) = 12 combinations x 2 run(s) = "
            "24 runs; estimated") in result.output
    assert "12. pre_stop_seconds=5, env.DRAIN_DELAY=5s, connection_modes=new" in result.output
    assert fake.calls == []


def test_a_sweep_runs_announces_progress_and_ends_with_the_table(fake: FakeRuns, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    result = runner.invoke(app, ["sweep", str(SHIPPED), "--vary", "pre_stop_seconds=0,2", "--vary",
                                 "connection_modes=new", "--repeat", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(fake.calls) == 4
    lines = result.output.splitlines()
    assert "= 4 combinations x 1 run(s) = 4 runs" in lines[0]
    assert "4 of 4 cells to run, 4 run(s) (1 per cell), estimated" in result.output
    assert "cell 1 of 4 (pre_stop_seconds=0, env.DRAIN_DELAY=0s, connection_modes=new), run 1 of 1: FAIL" in (
        result.output)
    assert "remaining" in result.output
    assert "cheapest combination that passed every repeat: pre_stop_seconds=0, env.DRAIN_DELAY=5s" in result.output
    saved = json.loads((out / "sweep.json").read_text())
    assert [c["status"] for c in saved["cells"]] == ["done"] * 4


def test_an_interrupted_sweep_resumes_without_running_finished_cells(fake: FakeRuns, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    args = ["sweep", str(SHIPPED), "--vary", "pre_stop_seconds=0,5", "--vary", "connection_modes=new",
            "--repeat", "1", "--out", str(out)]
    first = runner.invoke(app, [*args, "--max-cells", "3"])
    assert first.exit_code == 1, first.output  # not every cell ran
    assert "the limit of 3 cell(s) per invocation was reached" in first.output
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "--resume" in again.output and "Traceback" not in again.output
    resumed = runner.invoke(app, [*args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert len(fake.calls) == 4
    assert "1 of 4 cells to run" in resumed.output


def test_a_bad_vary_is_a_clear_error_before_any_run(fake: FakeRuns, tmp_path: Path) -> None:
    for vary, message in [("presto=1", "names no scenario field"), ("pre_stop_seconds=-1", "greater than or equal"),
                          ("pre_stop_seconds", "not key=value")]:
        result = runner.invoke(app, ["sweep", str(SHIPPED), "--vary", vary, "--out", str(tmp_path)])
        assert result.exit_code == 2, result.output
        assert message in result.output and "fix:" in result.output and "Traceback" not in result.output
    assert fake.calls == []


def test_run_repeat_states_the_bound_and_exits_by_every_run(fake: FakeRuns, tmp_path: Path) -> None:
    good = runner.invoke(app, ["run", str(ROOT / "scenarios" / "rolling-restart.yaml"), "--repeat", "3",
                               "--out", str(tmp_path)])
    assert good.exit_code == 0, good.output
    assert len(fake.calls) == 3
    assert "run 3 of 3: PASS, 0 of 4,272 failed" in good.output
    assert "verdicts: PASS 3/3; flake rate 0%" in good.output
    assert "all runs: 0 failures in 12,816 requests: at most 0.023 % at 95 %" in good.output
    assert "keep-alive: 0 failures in 6,408 requests" in good.output
    (directory,) = tmp_path.glob("*-rolling-restart-x3")
    assert json.loads((directory / "repeat.json").read_text())["outcomes"] == {"PASS": 3}
    bad = runner.invoke(app, ["run", str(ROOT / "scenarios" / "naive-no-drain.yaml"), "--repeat", "2",
                              "--out", str(tmp_path)])
    assert bad.exit_code == 1
    assert "verdicts: FAIL 2/2" in bad.output
