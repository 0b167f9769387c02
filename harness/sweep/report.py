"""A sweep's reports: ``sweep.md`` (one table row per combination) and ``sweep.html`` (the heat map,
one cell per combination: verdict, loss, the upper bound on the failure probability and, when the
runs were diagnosed, the mechanism that lost the most requests), and the cheapest combination of
settings that passed every repeat under every condition.

The heat map lays the first half of the varied keys down the rows and the rest across the columns. It
is one self-contained file: styles inline, no script, nothing fetched.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jinja2

from harness.confidence import format_percent
from harness.files import write_atomic
from harness.overrides import format_value
from harness.repeat import top_mechanism
from harness.sweep.plan import format_duration
from harness.sweep.state import CellState, CellStatus, SweepState
from harness.verdict import GateStatus

__all__ = [
    "SWEEP_HTML",
    "SWEEP_MARKDOWN",
    "Cheapest",
    "HeatCell",
    "HeatMap",
    "cheapest_passing",
    "heat_map",
    "render_heat_map",
    "sweep_markdown",
    "write_sweep_reports",
]

SWEEP_HTML = "sweep.html"
SWEEP_MARKDOWN = "sweep.md"
# Loss rates from 1e-5 (palest red) to 1e-1 (darkest) on a log scale.
_LOSS_DECADES = (-5.0, -1.0)


@dataclass(frozen=True)
class Cheapest:
    """The settings that passed every repeat of every cell that shares them."""

    label: str  # "pre_stop_seconds=2, env.DRAIN_DELAY=5s"
    cells: tuple[CellState, ...]
    cost: int  # the sum of the settings' value positions
    final: bool  # false while cells that could change the answer have not run


def _setting_indices(state: SweepState) -> list[int]:
    settings = [i for i, d in enumerate(state.dimensions) if d.setting]
    return settings or list(range(len(state.dimensions)))


def _rollout_mean(cells: Sequence[CellState]) -> float:
    times = [r.rollout_s for c in cells for r in c.runs if r.rollout_s is not None]
    return sum(times) / len(times) if times else math.inf


def cheapest_passing(state: SweepState) -> Cheapest | None:
    """The cheapest combination of settings whose every cell passed every repeat (see plan's doc for
    "cheapest": the lowest total of value positions, then the shorter measured rollout, then grid order)."""
    indices = _setting_indices(state)
    groups: dict[tuple[int, ...], list[CellState]] = {}
    for cell in state.cells:
        groups.setdefault(tuple(cell.positions[i] for i in indices), []).append(cell)
    passing = [(sum(key), _rollout_mean(cells), n, key, cells) for n, (key, cells) in enumerate(groups.items())
               if all(c.passed_every_repeat for c in cells)]
    if not passing:
        return None
    cost, _, _, key, cells = min(passing, key=lambda item: item[:3])
    dims = state.dimensions
    label = ", ".join(f"{dims[i].key}={format_value(dims[i].values[p])}" for i, p in zip(indices, key, strict=True))
    # Only a cheaper group that has not finished yet could still take its place.
    final = all(all(c.status is CellStatus.DONE for c in cs) for k, cs in groups.items() if sum(k) <= cost)
    return Cheapest(label=label, cells=tuple(cells), cost=cost, final=final)


def _verdict_text(cell: CellState, repeat: int) -> str:
    if cell.summary is None:
        return {CellStatus.NOT_RUN: "not run", CellStatus.RUNNING: "running"}.get(cell.status, "pending")
    if cell.status is CellStatus.DONE:
        return cell.summary.outcome_text
    so_far = ", ".join(f"{name} {count}" for name, count in cell.summary.outcomes.items())
    return f"{so_far} ({len(cell.runs)} of {repeat} runs)"


def _loss(cell: CellState) -> tuple[str, str]:
    if cell.summary is None or not cell.summary.bound.requests:
        return "", ""
    bound = cell.summary.bound
    observed = format_percent(bound.failures / bound.requests)
    return f"{bound.failures:,} / {bound.requests:,} ({observed})", f"≤ {format_percent(bound.upper)}"


@dataclass(frozen=True)
class HeatCell:
    cell: CellState
    verdict: str
    loss: str
    bound: str
    mechanism: str | None
    kind: str  # pass | fail | flaky | error | inconclusive | none
    background: str
    foreground: str
    title: str


@dataclass(frozen=True)
class HeatMap:
    row_keys: list[str]
    col_keys: list[str]
    col_labels: list[str]
    rows: list[tuple[str, list[HeatCell | None]]]


def _kind(cell: CellState) -> str:
    if cell.summary is None:
        return "none"
    outcomes = {GateStatus(o) for o in cell.summary.outcomes}
    if outcomes == {GateStatus.PASS}:
        return "pass"
    if outcomes == {GateStatus.FAIL}:
        return "fail"
    if outcomes == {GateStatus.PASS, GateStatus.FAIL}:
        return "flaky"
    return "error" if GateStatus.ERROR in outcomes else "inconclusive"


def _mix(low: tuple[int, int, int], high: tuple[int, int, int], t: float) -> str:
    r, g, b = (round(a + (z - a) * t) for a, z in zip(low, high, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def _colors(cell: CellState, kind: str) -> tuple[str, str]:
    if kind == "fail" and cell.summary is not None and cell.summary.bound.requests:
        rate = cell.summary.bound.failures / cell.summary.bound.requests
        low, high = _LOSS_DECADES
        t = 0.0 if rate <= 0 else min(1.0, max(0.0, (math.log10(rate) - low) / (high - low)))
        return _mix((0xff, 0xc9, 0xc4), (0xa4, 0x0e, 0x26), t), "#ffffff" if t > 0.45 else "#1f2328"
    return {"pass": ("#c7f0d0", "#0f5323"), "flaky": ("#ffd8a8", "#6b3a00"), "error": ("#e9dcff", "#4b1f99"),
            "inconclusive": ("#fff1b8", "#6b5200")}.get(kind, ("#eef1f4", "#59636e"))


def _heat_cell(cell: CellState, repeat: int) -> HeatCell:
    kind = _kind(cell)
    background, foreground = _colors(cell, kind)
    loss, bound = _loss(cell)
    summary = cell.summary
    lines = [cell.label]
    if summary is not None:
        lines.append(f"{summary.bound.describe()}; flake rate {summary.flake_rate:.0%}")
        lines += [f"{mode}: {b.describe()}" for mode, b in summary.by_mode.items()]
        lines += [f"{m}: {n}" for m, n in summary.mechanisms.items()]
    if cell.note:
        lines.append(cell.note)
    return HeatCell(cell=cell, verdict=_verdict_text(cell, repeat), loss=loss, bound=bound,
                    mechanism=top_mechanism(summary.mechanisms) if summary is not None else None,
                    kind=kind, background=background, foreground=foreground, title="\n".join(lines))


def _label(state: SweepState, indices: Sequence[int], positions: Sequence[int]) -> str:
    dims = state.dimensions
    return ", ".join(f"{dims[i].key}={format_value(dims[i].values[p])}"
                     for i, p in zip(indices, positions, strict=True))


def heat_map(state: SweepState) -> HeatMap:
    count = len(state.dimensions)
    rows_i, cols_i = list(range(count // 2)), list(range(count // 2, count))

    def place(indices: Sequence[int], positions: Sequence[int]) -> int:
        place_value = 0
        for i in indices:
            place_value = place_value * len(state.dimensions[i].values) + positions[i]
        return place_value

    def combos(indices: Sequence[int]) -> list[list[int]]:
        out: list[list[int]] = [[]]
        for i in indices:
            out = [[*o, p] for o in out for p in range(len(state.dimensions[i].values))]
        return out

    row_combos, col_combos = combos(rows_i), combos(cols_i)
    grid: list[list[HeatCell | None]] = [[None] * len(col_combos) for _ in row_combos]
    for cell in state.cells:
        grid[place(rows_i, cell.positions)][place(cols_i, cell.positions)] = _heat_cell(cell, state.repeat)
    return HeatMap(
        row_keys=[state.dimensions[i].key for i in rows_i], col_keys=[state.dimensions[i].key for i in cols_i],
        col_labels=[_label(state, cols_i, c) or "all" for c in col_combos],
        rows=[(_label(state, rows_i, r) or "all", grid[n]) for n, r in enumerate(row_combos)],
    )


def _progress_line(state: SweepState) -> str:
    done = sum(1 for c in state.cells if c.status is CellStatus.DONE)
    text = (f"{done} of {len(state.cells)} cells done, {state.runs_done} of {state.runs_planned} runs, "
            f"{format_duration(state.elapsed_s)} of running")
    return text + (f"; stopped: {state.stopped}" if state.stopped else "")


def _cheapest_line(state: SweepState) -> str:
    best = cheapest_passing(state)
    if best is None:
        return ("no combination of settings passed every repeat" +
                ("" if state.finished else " so far"))
    qualifier = "" if best.final else " so far (cheaper combinations have not all run)"
    return f"cheapest combination that passed every repeat{qualifier}: {best.label}"


def sweep_markdown(state: SweepState, *, heading: bool = True) -> str:
    level = f"{state.confidence * 100:g} %"
    keys = [d.key for d in state.dimensions]
    lines = [f"# Sweep of {state.scenario}", ""] if heading else []
    lines += [f"| {' | '.join(keys)} | verdicts | failed / requests | upper bound at {level} | mechanism |",
              "|" + "---|" * (len(keys) + 4)]
    for cell in state.cells:
        values = [format_value(cell.value(d.path)) for d in state.dimensions]
        loss, bound = _loss(cell)
        mechanism = top_mechanism(cell.summary.mechanisms) if cell.summary is not None else None
        verdict = _verdict_text(cell, state.repeat)
        lines.append(f"| {' | '.join(values)} | {verdict} | {loss} | {bound} | {mechanism or ''} |")
    lines += ["", f"- {_cheapest_line(state)}", f"- {_progress_line(state)}",
              f"- bound: one-sided exact (Clopper-Pearson) upper bound on the per-request failure probability "
              f"at {level}, over the runs of the cell with complete evidence"]
    return "\n".join(lines) + "\n"


def render_heat_map(state: SweepState, *, generated: datetime | None = None) -> str:
    env = jinja2.Environment(loader=jinja2.PackageLoader("harness.report", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    when = (generated or datetime.now(tz=UTC)).strftime("%Y-%m-%d %H:%M:%S UTC")
    return env.get_template("sweep.html.j2").render(
        state=state, heat=heat_map(state), generated=when, level=f"{state.confidence * 100:g} %",
        cheapest=_cheapest_line(state), progress=_progress_line(state), table=_table_rows(state),
    )


def _table_rows(state: SweepState) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for cell in state.cells:
        loss, bound = _loss(cell)
        rows.append({"values": [format_value(cell.value(d.path)) for d in state.dimensions],
                     "verdict": _verdict_text(cell, state.repeat), "loss": loss, "bound": bound,
                     "mechanism": (top_mechanism(cell.summary.mechanisms) if cell.summary else None) or "",
                     "runs": [r.run_dir for r in cell.runs if r.run_dir], "note": cell.note or ""})
    return rows


def write_sweep_reports(directory: Path, state: SweepState) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    return {"markdown": write_atomic(directory / SWEEP_MARKDOWN, sweep_markdown(state)),
            "html": write_atomic(directory / SWEEP_HTML, render_heat_map(state))}
