"""``sweep.json``: a sweep's results, rewritten (atomically) after every run, and resuming from it.

The file holds the plan it was made from (its fingerprint, the grid, the base scenario), and per cell
its status and a summary of each finished run. Resuming keeps every finished run: a finished cell is
not run again, a cell cut short keeps its runs and runs only the missing repeats, and a cell marked
not-run (by ``--max-minutes``) runs. A resume must be of the same scenario and the same grid; the
number of repeats may change (a cell then runs until it has that many).
"""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import ConfigError
from harness.files import write_atomic
from harness.overrides import format_value
from harness.repeat import RepeatSummary, RunSummary, summarize_runs
from harness.sweep.plan import PlannedCell, SweepPlan

__all__ = [
    "SWEEP_FILE",
    "CellState",
    "CellStatus",
    "DimensionState",
    "SweepState",
    "load_state",
    "new_state",
    "resume_state",
    "save_state",
]

SWEEP_FILE = "sweep.json"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class CellStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"  # in the file only while its runs go, or when the sweep was killed then
    DONE = "done"
    NOT_RUN = "not-run"  # the sweep stopped before it (time budget, cell limit, cluster lost)


class DimensionState(_Model):
    path: str
    key: str
    values: list[Any]
    setting: bool


class CellState(_Model):
    id: str
    label: str
    assignments: dict[str, Any]
    positions: list[int]
    status: CellStatus = CellStatus.PENDING
    estimate_s: float = Field(ge=0)
    runs: list[RunSummary] = Field(default_factory=list)
    summary: RepeatSummary | None = None  # over its runs, once it has one
    note: str | None = None  # why it did not run

    def value(self, path: str) -> Any:
        return self.assignments[path]

    @property
    def passed_every_repeat(self) -> bool:
        return self.status is CellStatus.DONE and self.summary is not None and self.summary.passed


class SweepState(_Model):
    schema_version: Literal[1] = 1
    scenario: str
    source: str | None = None
    fingerprint: str
    base: dict[str, Any]  # the scenario without its sweep section, as a scenario file would hold it
    dimensions: list[DimensionState]
    repeat: int = Field(ge=1)
    confidence: float = Field(gt=0, lt=1)
    max_failure_rate_upper: float | None = None
    cells: list[CellState]
    started_at: float  # wall clock of the first invocation
    updated_at: float
    elapsed_s: float = 0.0  # over every invocation
    invocations: int = 0
    stopped: str | None = None  # why the last invocation ended before the grid did

    @property
    def finished(self) -> bool:
        return all(c.status is CellStatus.DONE for c in self.cells)

    @property
    def runs_done(self) -> int:
        return sum(len(c.runs) for c in self.cells)

    @property
    def runs_planned(self) -> int:
        return sum(max(self.repeat, len(c.runs)) for c in self.cells)

    def summarize(self, cell: CellState) -> None:
        cell.summary = summarize_runs(self.scenario, cell.runs, confidence=self.confidence,
                                      max_failure_rate_upper=self.max_failure_rate_upper) if cell.runs else None


def _cell(planned: PlannedCell) -> CellState:
    return CellState(id=planned.id, label=planned.label, assignments=planned.assignments,
                     positions=list(planned.positions), estimate_s=planned.estimate_s)


def new_state(plan: SweepPlan) -> SweepState:
    now = time.time()
    return SweepState(
        scenario=plan.base.name, source=plan.base.source, fingerprint=plan.fingerprint,
        base=plan.base.model_dump(mode="json", exclude={"sweep"}),
        dimensions=[DimensionState(path=d.path, key=d.key, values=list(d.values), setting=d.setting)
                    for d in plan.dimensions],
        repeat=plan.repeat, confidence=plan.confidence, max_failure_rate_upper=plan.max_failure_rate_upper,
        cells=[_cell(c) for c in plan.cells], started_at=now, updated_at=now,
    )


def save_state(directory: Path, state: SweepState) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    state.updated_at = time.time()
    return write_atomic(directory / SWEEP_FILE, state.model_dump_json(indent=2) + "\n")


def load_state(directory: Path) -> SweepState | None:
    """The sweep recorded in ``directory``, or None when it holds none."""
    path = directory / SWEEP_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return SweepState.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ConfigError(f"{path}: field {where}: {first['msg']}",
                          "this file was not written by this version of `harness sweep`; use another --out") from exc


def _grid(dimensions: list[DimensionState]) -> list[str]:
    return [f"{d.path}={'|'.join(format_value(v) for v in d.values)}" for d in dimensions]


def resume_state(plan: SweepPlan, old: SweepState) -> SweepState:
    """``old`` continued under ``plan``: every finished run kept, the rest pending again."""
    if old.fingerprint != plan.fingerprint:
        fresh = new_state(plan)
        if _grid(old.dimensions) != _grid(fresh.dimensions):
            differs = (f"the grid differs: recorded {'; '.join(_grid(old.dimensions))}, now "
                       f"{'; '.join(_grid(fresh.dimensions))}")
        else:
            changed = sorted(k for k in set(old.base) | set(fresh.base)
                             if k not in ("repeat", "source") and old.base.get(k) != fresh.base.get(k))
            differs = f"the scenario differs ({', '.join(changed) or 'in its defaults'})"
        raise ConfigError(f"the sweep recorded for {old.scenario} was planned differently: {differs}",
                          "resume with the same scenario file and --vary options, or start anew with another --out")
    state = old.model_copy(deep=True)
    state.repeat = plan.repeat
    state.confidence = plan.confidence
    state.max_failure_rate_upper = plan.max_failure_rate_upper
    state.stopped = None
    for cell in state.cells:
        cell.note = None
        cell.status = CellStatus.DONE if len(cell.runs) >= state.repeat else CellStatus.PENDING
        state.summarize(cell)
    return state
