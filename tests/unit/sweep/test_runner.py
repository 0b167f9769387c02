"""The loop over the cells and resuming it, with run_scenario replaced by recorded verdicts: results
written as each run ends, the stops (time budget, cell limit, runs that cannot start, Ctrl-C), and a
resume that runs only what is missing."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ClusterError, ConfigError
from harness.scenario import Scenario, parse_scenario
from harness.sweep.plan import SweepPlan, plan_sweep
from harness.sweep.runner import SweepEvent, remaining_s, run_sweep
from harness.sweep.state import SWEEP_FILE, CellStatus, load_state
from harness.target import RunOptions
from harness.verdict import Verdict
from tests.unit.recorded_verdicts import FakeRuns, recorded_verdict

PASS, FAIL = recorded_verdict("rolling-restart"), recorded_verdict("naive-rolling-restart")


def base(**extra: Any) -> Scenario:
    return parse_scenario({"name": "grid", "steps": [{"action": "rollout-restart"}], **extra}, "grid.yaml")


def plan(repeat: int = 2, **extra: Any) -> SweepPlan:
    return plan_sweep(base(**extra), [("pre_stop_seconds", [0, 5]), ("env.DRAIN_DELAY", ["0s", "5s"])],
                      repeat=repeat)


def boundary(scenario: Scenario) -> Verdict:
    """The seed article's boundary: without preStop and drain, requests are lost."""
    t = scenario.target
    return FAIL if t.pre_stop_seconds == 0 and t.env.get("DRAIN_DELAY") == "0s" else PASS


class Clock:
    def __init__(self, step_s: float) -> None:
        self.now, self.step_s = 0.0, step_s

    def __call__(self) -> float:
        return self.now

    def tick(self, *_: object) -> None:
        self.now += self.step_s


def cell_runs(out: Path) -> dict[str, list[str]]:
    state = load_state(out)
    assert state is not None
    return {c.label: [r.run_dir or "" for r in c.runs] for c in state.cells}


def test_every_cell_runs_its_repeats_in_order_and_the_file_follows_each_run(tmp_path: Path) -> None:
    fake = FakeRuns(boundary)
    seen: list[int] = []

    def on_event(event: SweepEvent) -> None:
        if event.kind == "run":
            saved = json.loads((tmp_path / SWEEP_FILE).read_text())
            seen.append(sum(len(c["runs"]) for c in saved["cells"]))

    state = run_sweep(plan(), tmp_path, RunOptions(), run=fake, on_event=on_event)
    assert [(s.target.pre_stop_seconds, s.target.env["DRAIN_DELAY"]) for s in fake.calls] == [
        (0, "0s"), (0, "0s"), (0, "5s"), (0, "5s"), (5, "0s"), (5, "0s"), (5, "5s"), (5, "5s")]
    # Written when each run had ended, before the next began (the file is saved once more after).
    assert seen == [0, 1, 2, 3, 4, 5, 6, 7]
    assert state.finished and state.stopped is None and state.invocations == 1
    assert [c.summary.outcome_text for c in state.cells if c.summary] == ["FAIL 2/2", "PASS 2/2", "PASS 2/2",
                                                                           "PASS 2/2"]
    assert cell_runs(tmp_path)["pre_stop_seconds=0, env.DRAIN_DELAY=0s"] == ["runs/run-1", "runs/run-2"]
    assert (tmp_path / "runs" / "run-8").is_dir()
    assert (tmp_path / "sweep.md").is_file() and (tmp_path / "sweep.html").is_file()


def test_an_existing_sweep_is_continued_only_when_asked(tmp_path: Path) -> None:
    run_sweep(plan(), tmp_path, RunOptions(), run=FakeRuns(boundary), max_cells=1)
    with pytest.raises(ConfigError, match=r"already holds a sweep of grid \(2 of 8 runs done\)") as err:
        run_sweep(plan(), tmp_path, RunOptions(), run=FakeRuns(boundary))
    assert "--resume" in err.value.fix


def test_a_cell_limit_stops_marks_the_rest_and_a_resume_runs_only_them(tmp_path: Path) -> None:
    first = run_sweep(plan(), tmp_path, RunOptions(), run=FakeRuns(boundary), max_cells=3)
    assert first.stopped == "the limit of 3 cell(s) per invocation was reached"
    assert [c.status for c in first.cells] == [CellStatus.DONE] * 3 + [CellStatus.NOT_RUN]
    assert first.cells[3].note is not None and "limit of 3" in first.cells[3].note
    kept = cell_runs(tmp_path)

    again = FakeRuns(boundary)
    second = run_sweep(plan(), tmp_path, RunOptions(), run=again, resume=True)
    assert [(s.target.pre_stop_seconds, s.target.env["DRAIN_DELAY"]) for s in again.calls] == [(5, "5s")] * 2
    assert second.finished and second.invocations == 2 and second.stopped is None
    after = cell_runs(tmp_path)
    assert [after[label] for label, runs in kept.items() if runs] == [runs for runs in kept.values() if runs]
    assert sum(1 for runs in kept.values() if runs) == 3
    assert after["pre_stop_seconds=5, env.DRAIN_DELAY=5s"] == ["runs/run-7", "runs/run-8"]


def test_the_time_budget_stops_after_the_cell_that_crosses_it(tmp_path: Path) -> None:
    clock = Clock(step_s=50.0)  # each run takes 50 s
    fake = FakeRuns(lambda s: (clock.tick(), boundary(s))[1])
    state = run_sweep(plan(), tmp_path, RunOptions(), run=fake, max_minutes=2.5, clock=clock)
    # 100 s after cell 1, 200 s after cell 2: it crossed 150 s, so cell 2 was the last.
    assert len(fake.calls) == 4
    assert [c.status for c in state.cells] == [CellStatus.DONE] * 2 + [CellStatus.NOT_RUN] * 2
    assert state.stopped is not None and "time budget of 2.5 min" in state.stopped
    assert state.elapsed_s == pytest.approx(200.0)


def test_a_cell_cut_short_keeps_its_runs_and_runs_only_the_missing_repeats(tmp_path: Path) -> None:
    calls = 0

    def interrupt_third(scenario: Scenario) -> Verdict:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt
        return boundary(scenario)

    with pytest.raises(KeyboardInterrupt):
        run_sweep(plan(), tmp_path, RunOptions(), run=FakeRuns(interrupt_third))
    saved = load_state(tmp_path)
    assert saved is not None and saved.stopped == "interrupted"
    assert [c.status for c in saved.cells] == [CellStatus.DONE] + [CellStatus.PENDING] * 3
    assert [len(c.runs) for c in saved.cells] == [2, 0, 0, 0]

    # The same interruption, within a cell: the cell keeps its first run.
    saved.cells[1].runs = saved.cells[0].runs[:1]
    saved.cells[1].status = CellStatus.RUNNING
    (tmp_path / SWEEP_FILE).write_text(saved.model_dump_json())
    again = FakeRuns(boundary)
    done = run_sweep(plan(), tmp_path, RunOptions(), run=again, resume=True)
    assert len(again.calls) == 1 + 2 + 2
    assert [len(c.runs) for c in done.cells] == [2, 2, 2, 2] and done.finished


def test_more_repeats_on_resume_extend_every_cell(tmp_path: Path) -> None:
    run_sweep(plan(repeat=1), tmp_path, RunOptions(), run=FakeRuns(boundary))
    again = FakeRuns(boundary)
    state = run_sweep(plan(repeat=2), tmp_path, RunOptions(), run=again, resume=True)
    assert len(again.calls) == 4
    assert all(len(c.runs) == 2 for c in state.cells) and state.repeat == 2


def test_a_resume_of_another_grid_or_scenario_is_refused_naming_the_difference(tmp_path: Path) -> None:
    run_sweep(plan(), tmp_path, RunOptions(), run=FakeRuns(boundary), max_cells=1)
    other_grid = plan_sweep(base(), [("pre_stop_seconds", [0, 2]), ("env.DRAIN_DELAY", ["0s", "5s"])], repeat=2)
    with pytest.raises(ConfigError, match=re.escape("the grid differs: recorded target.pre_stop_seconds=0|5;")):
        run_sweep(other_grid, tmp_path, RunOptions(), run=FakeRuns(boundary), resume=True)
    with pytest.raises(ConfigError, match=r"the scenario differs \(traffic\)"):
        run_sweep(plan(traffic={"rate": 50}), tmp_path, RunOptions(), run=FakeRuns(boundary), resume=True)


def test_runs_that_cannot_start_twice_stop_the_sweep(tmp_path: Path) -> None:
    fake = FakeRuns(lambda _: ClusterError("the cluster is gone", "harness cluster up"))
    state = run_sweep(plan(), tmp_path, RunOptions(), run=fake)
    assert len(fake.calls) == 2
    assert state.stopped == "2 runs in a row could not start: the cluster is gone (fix: harness cluster up)"
    assert state.cells[0].status is CellStatus.DONE
    assert all(c.status is CellStatus.NOT_RUN for c in state.cells[1:])


def test_the_remaining_time_is_the_plan_scaled_by_the_measured_runs(tmp_path: Path) -> None:
    events: list[SweepEvent] = []
    clock = Clock(step_s=0.0)
    run_sweep(plan(repeat=1), tmp_path, RunOptions(), run=FakeRuns(boundary), max_cells=1, clock=clock,
              on_event=events.append)
    start = events[0]
    assert start.kind == "start" and start.message.startswith("4 of 4 cells to run, 4 run(s) (1 per cell)")
    state = load_state(tmp_path)
    assert state is not None
    planned = [c.estimate_s for c in state.cells]
    assert start.remaining_s == pytest.approx(sum(planned))
    # Pretend the finished run took twice its estimate: the rest is expected to, too.
    state.cells[0].runs[0].wall_s = 2 * planned[0]
    for cell in state.cells[1:]:
        cell.status = CellStatus.PENDING
    assert remaining_s(state) == pytest.approx(2 * sum(planned[1:]))
