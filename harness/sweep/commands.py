"""What ``harness run --repeat`` and ``harness sweep`` do between parsing their arguments and exiting:
plan, announce, run, show the answer. The CLI stays a thin layer over these two functions."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rich.markup import escape

from harness.log import console
from harness.repeat import RunSummary, run_repeated
from harness.scenario import Scenario
from harness.sweep.plan import format_duration
from harness.target import RunOptions

__all__ = ["SweepRequest", "repeat_command", "sweep_command"]


def _say(text: str) -> None:
    console.print(escape(text), highlight=False, soft_wrap=True)


def repeat_command(scenario: Scenario, options: RunOptions, runs: int | None, *, out: Path) -> int:
    """Run ``scenario`` ``runs`` times (default: its ``repeat.runs``); exit 0 only when every run PASSed
    and the bound the scenario requires, if any, holds."""
    count = runs if runs is not None else (scenario.repeat.runs if scenario.repeat is not None else 1)
    _say(f"{scenario.name}: {count} run(s) on one cluster")

    def announce(index: int, summary: RunSummary) -> None:
        _say(f"run {index} of {count}: {summary.outcome.value}, {summary.failed:,} of {summary.requests:,} failed"
             f"  {summary.run_dir or summary.problem or ''}")

    result = run_repeated(scenario, options, count, out=out, on_run=announce)
    summary = result.summary
    _say(f"verdicts: {summary.outcome_text}; flake rate {summary.flake_rate:.0%}")
    _say(f"all runs: {summary.bound.describe()}")
    for mode, bound in summary.by_mode.items():
        _say(f"  {mode}: {bound.describe()}")
    if summary.gate is not None:
        _say(f"{summary.gate.name}: {summary.gate.status.value}: {summary.gate.reason}")
    _say(f"repeat directory: {result.directory}")
    return 0 if summary.passed and len(summary.runs) == count else 1


@dataclass(frozen=True)
class SweepRequest:
    scenario: Path
    vary: list[str] = field(default_factory=list)
    repeat: int | None = None
    out: Path | None = None
    resume: bool = False
    max_minutes: float | None = None
    max_cells: int | None = None
    dry_run: bool = False
    cluster: str | None = None
    context: str | None = None
    kubeconfig: Path | None = None


def sweep_command(request: SweepRequest) -> int:
    """Plan (every cell validated before any cluster work), announce, run, report. Exit 0 when every
    cell ran and a combination of settings passed every repeat; 1 otherwise."""
    from harness.overrides import parse_vary
    from harness.sweep.plan import check_cells, plan_sweep
    from harness.validate import validate_scenario_file

    loaded = validate_scenario_file(request.scenario, context=request.context, kubeconfig=request.kubeconfig)
    if request.cluster:
        loaded = loaded.model_copy(update={"cluster": loaded.cluster.model_copy(update={"name": request.cluster})})
    # Checked and converted here, so a bad value is named as written; the plan keeps the key as written.
    vary = [(text.partition("=")[0].strip(), parse_vary(text, loaded)[1]) for text in request.vary]
    plan = plan_sweep(loaded, vary, repeat=request.repeat, max_minutes=request.max_minutes)
    check_cells(plan, context=request.context, kubeconfig=request.kubeconfig, where=str(request.scenario))
    out = request.out or Path("sweeps") / loaded.name
    grid = " x ".join(f"{d.key} ({len(d.values)})" for d in plan.dimensions)
    _say(f"sweep of {loaded.name}: {grid} = {len(plan.cells)} combinations x {plan.repeat} run(s) = {plan.runs} runs; "
         f"estimated {format_duration(plan.estimate_s)} from the scenario"
         + (f"; stops after the combination that crosses {plan.max_minutes:g} min" if plan.max_minutes else ""))
    if request.dry_run:
        for cell in plan.cells:
            _say(f"  {cell.index + 1}. {cell.label}  (about {format_duration(cell.estimate_s)} a run)")
        return 0

    from harness.sweep.report import cheapest_passing, sweep_markdown
    from harness.sweep.runner import SweepEvent, run_sweep

    def show(event: SweepEvent) -> None:
        if event.kind == "run":
            _say(f"{event.message}\n  elapsed {format_duration(event.elapsed_s)}, about "
                 f"{format_duration(event.remaining_s or 0)} remaining")
        else:
            _say(event.message)

    state = run_sweep(plan, out, RunOptions(context=request.context, kubeconfig=request.kubeconfig),
                      resume=request.resume, max_cells=request.max_cells, on_event=show)
    console.print(escape(sweep_markdown(state, heading=False)), highlight=False, soft_wrap=True)
    _say(f"sweep directory: {out} (sweep.html, sweep.md, sweep.json; resume with --resume --out {out})")
    return 0 if state.finished and cheapest_passing(state) is not None else 1
