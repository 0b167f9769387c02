"""The loop over a sweep's cells: every run on the same cluster, results written as each run ends.

Before the first run it reports the plan (runs to go, estimated time); after every run, where it
stands (cell k of n, elapsed, estimated remaining). It stops early, marking the cells it did not reach
not-run, after the cell that crosses ``max_minutes``, after ``max_cells`` cells in this invocation, or
when two runs in a row fail before any evidence (the cluster or the image is gone: every further run
would fail the same way). Interrupted (Ctrl-C), it writes what it has and re-raises.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from harness.errors import ConfigError
from harness.repeat import RunFn, RunSummary, run_once
from harness.sweep.plan import PlannedCell, SweepPlan, format_duration
from harness.sweep.report import write_sweep_reports
from harness.sweep.state import CellState, CellStatus, SweepState, load_state, new_state, resume_state, save_state
from harness.target import RunOptions

__all__ = ["RUNS_DIR", "SweepEvent", "remaining_s", "run_sweep"]

RUNS_DIR = "runs"
_UNSTARTED_LIMIT = 2


@dataclass(frozen=True)
class SweepEvent:
    kind: Literal["start", "run", "stop"]
    state: SweepState
    message: str
    elapsed_s: float = 0.0  # this invocation
    remaining_s: float | None = None
    cell: CellState | None = None
    run: RunSummary | None = None


def remaining_s(state: SweepState) -> float:
    """The time the runs still to do should take: each cell's own estimate, scaled by how the finished
    runs' measured times compare with their estimates."""
    measured = [(r.wall_s, c.estimate_s) for c in state.cells for r in c.runs if r.wall_s]
    factor = sum(w for w, _ in measured) / sum(e for _, e in measured) if measured else 1.0
    todo = sum(c.estimate_s * max(0, state.repeat - len(c.runs)) for c in state.cells
               if c.status is not CellStatus.DONE)
    return todo * factor


def _start_state(plan: SweepPlan, out: Path, resume: bool) -> SweepState:
    old = load_state(out)
    if old is None:
        return new_state(plan)
    if not resume:
        raise ConfigError(f"{out} already holds a sweep of {old.scenario} "
                          f"({old.runs_done} of {old.runs_planned} runs done)",
                          "continue it with --resume, or write this one elsewhere with --out")
    return resume_state(plan, old)


def _save(out: Path, state: SweepState) -> None:
    save_state(out, state)
    write_sweep_reports(out, state)


def run_sweep(plan: SweepPlan, out: Path, options: RunOptions, *, resume: bool = False,
              max_minutes: float | None = None, max_cells: int | None = None, run: RunFn | None = None,
              on_event: Callable[[SweepEvent], None] | None = None,
              clock: Callable[[], float] = time.monotonic) -> SweepState:
    """Run every cell of ``plan`` not yet done in ``out`` (``sweep.json``, ``sweep.md``, ``sweep.html``,
    ``runs/``). ``max_minutes`` defaults to the plan's; ``run`` to :func:`harness.run.run_scenario`."""
    state = _start_state(plan, out, resume)
    budget = max_minutes if max_minutes is not None else plan.max_minutes
    by_id: dict[str, PlannedCell] = {c.id: c for c in plan.cells}
    options = replace(options, out_dir=out / RUNS_DIR)
    started = clock()
    recorded = state.elapsed_s
    state.invocations += 1
    _save(out, state)

    def emit(kind: Literal["start", "run", "stop"], message: str, cell: CellState | None = None,
             summary: RunSummary | None = None) -> None:
        state.elapsed_s = recorded + (clock() - started)
        if on_event is not None:
            on_event(SweepEvent(kind=kind, state=state, message=message, elapsed_s=clock() - started,
                                remaining_s=remaining_s(state), cell=cell, run=summary))

    todo = [c for c in state.cells if c.status is not CellStatus.DONE]
    runs_left = sum(max(0, state.repeat - len(c.runs)) for c in todo)
    emit("start", f"{len(todo)} of {len(state.cells)} cells to run, {runs_left} run(s) "
                  f"({state.repeat} per cell), estimated {format_duration(remaining_s(state))}")
    cells_run = unstarted = 0
    stopped: str | None = None
    last_problem: str | None = None
    current: CellState | None = None
    try:
        for cell in todo:
            current = cell
            cell.status = CellStatus.RUNNING
            _save(out, state)
            planned = by_id[cell.id]
            while len(cell.runs) < state.repeat:
                summary, result = run_once(planned.scenario, options, base=out, run=run)
                cell.runs.append(summary)
                state.summarize(cell)
                unstarted = 0 if result is not None else unstarted + 1
                last_problem = summary.problem
                emit("run", _run_message(state, cell, summary), cell, summary)
                _save(out, state)
                if unstarted >= _UNSTARTED_LIMIT:
                    break
            cell.status = CellStatus.DONE if len(cell.runs) >= state.repeat else CellStatus.PENDING
            current = None
            cells_run += 1
            elapsed = clock() - started
            if unstarted >= _UNSTARTED_LIMIT:
                stopped = f"{_UNSTARTED_LIMIT} runs in a row could not start: {last_problem}"
            elif budget is not None and elapsed >= budget * 60:
                stopped = f"the time budget of {budget:g} min was crossed ({format_duration(elapsed)} of running)"
            elif max_cells is not None and cells_run >= max_cells:
                stopped = f"the limit of {max_cells} cell(s) per invocation was reached"
            if stopped:
                break
    except BaseException:
        # Interrupted, or a defect: keep every finished run, and let the cell run again on --resume.
        if current is not None:
            current.status = CellStatus.PENDING
        state.stopped = "interrupted"
        state.elapsed_s = recorded + (clock() - started)
        _save(out, state)
        raise
    if stopped:
        for cell in state.cells:
            if cell.status is CellStatus.PENDING:
                cell.status, cell.note = CellStatus.NOT_RUN, "not run: " + stopped
    state.stopped = stopped
    emit("stop", stopped or "every cell is done")
    _save(out, state)
    return state


def _run_message(state: SweepState, cell: CellState, summary: RunSummary) -> str:
    position = state.cells.index(cell) + 1
    where = summary.run_dir or summary.problem or ""
    return (f"cell {position} of {len(state.cells)} ({cell.label}), run {len(cell.runs)} of {state.repeat}: "
            f"{summary.outcome.value}, {summary.failed:,} of {summary.requests:,} failed  {where}")
