"""Repeated runs of one scenario, and what they say together.

One run that loses nothing shows the loss was small; it does not say how small. Repeats add
requests, and with them a stated bound: over every run whose evidence is complete (verdict PASS or
FAIL), the one-sided exact (Clopper-Pearson) upper bound on the per-request failure probability at the
scenario's confidence, overall and per connection mode (:mod:`harness.confidence`).

- ``flake_rate``: the share of runs whose verdict differs from the most common verdict (0 when all
  runs agree, 0.5 for two runs that disagree). A setting whose verdict changes between runs is not
  "safe" whatever its majority says.
- ``failure_rate_upper`` (the gate of ``repeat.max_failure_rate_upper``): PASS when the bound is at
  most the limit; FAIL when it is above; ERROR or INCONCLUSIVE when a run was, since a bound over the
  other runs would rest on incomplete evidence. It is judged here, over the repeats, never by the gates
  of a single run.

Everything is data (pydantic models) so a sweep stores it per cell and reports render it later.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from harness.confidence import DEFAULT_CONFIDENCE, FailureBound, format_percent
from harness.errors import HarnessError
from harness.files import write_atomic
from harness.verdict import GateResult, GateStatus, Verdict

if TYPE_CHECKING:
    from harness.run import RunResult
    from harness.scenario import Scenario
    from harness.target import RunOptions

__all__ = [
    "BOUND_GATE",
    "REPEATS_GATE",
    "REPEAT_FILE",
    "REPEAT_MARKDOWN",
    "ModeCount",
    "RepeatResult",
    "RepeatSummary",
    "RunFn",
    "RunSummary",
    "failure_rate_gate",
    "repeat_markdown",
    "repeated_verdict",
    "requests_needed",
    "run_once",
    "run_repeated",
    "summarize_runs",
    "top_mechanism",
]

REPEAT_FILE = "repeat.json"
REPEAT_MARKDOWN = "repeat.md"
BOUND_GATE = "failure_rate_upper"
# The runs whose evidence is complete: only they count towards the bound.
_COUNTED = (GateStatus.PASS, GateStatus.FAIL)

RunFn = Callable[["Scenario", "RunOptions"], "RunResult"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ModeCount(_Model):
    requests: int = Field(ge=0)
    failed: int = Field(ge=0)


class RunSummary(_Model):
    """One run, as far as repeats and sweeps need it; the run directory holds the rest."""

    run_id: str
    run_dir: str | None = None  # relative to the directory of the repeat or sweep
    outcome: GateStatus
    matches_expectation: bool
    requests: int = Field(ge=0)
    failed: int = Field(ge=0)
    by_mode: dict[str, ModeCount] = Field(default_factory=dict)
    failing_gates: list[str] = Field(default_factory=list)
    # The diagnosis's mechanisms and how many failed requests each lost (empty without a diagnosis).
    mechanisms: dict[str, int] = Field(default_factory=dict)
    rollout_s: float | None = None
    wall_s: float | None = None
    problem: str | None = None  # the first harness error, when the run could not finish

    @classmethod
    def from_verdict(cls, verdict: Verdict, *, run_dir: str | None = None, wall_s: float | None = None) -> RunSummary:
        allow_4xx = verdict.config.allow_4xx
        outcomes = verdict.counts.outcomes
        rollout = verdict.facts.rollout
        return cls(
            run_id=verdict.run_id, run_dir=run_dir, outcome=verdict.outcome,
            matches_expectation=verdict.matches_expectation, requests=outcomes.total,
            failed=outcomes.failed(allow_4xx=allow_4xx),
            by_mode={mode: ModeCount(requests=c.total, failed=c.failed(allow_4xx=allow_4xx))
                     for mode, c in sorted(verdict.counts.by_conn.items())},
            failing_gates=[g.name for g in verdict.gates if g.status not in (GateStatus.PASS, GateStatus.SKIPPED)],
            mechanisms=_mechanisms(verdict),
            rollout_s=None if rollout is None else rollout.duration_s,
            wall_s=None if wall_s is None else round(wall_s, 3),
            problem=verdict.harness_errors[0] if verdict.harness_errors else None,
        )

    @classmethod
    def not_started(cls, scenario: str, problem: str, *, wall_s: float | None = None) -> RunSummary:
        """A run that failed before any evidence existed: ERROR, with the reason."""
        return cls(run_id=f"{time.strftime('%Y%m%d-%H%M%S')}-{scenario}-error", outcome=GateStatus.ERROR,
                   matches_expectation=False, requests=0, failed=0, problem=problem,
                   wall_s=None if wall_s is None else round(wall_s, 3))


def _mechanisms(verdict: Verdict) -> dict[str, int]:
    # The diagnosis is optional in a verdict (older results have none): read it defensively.
    diagnosis = getattr(verdict, "diagnosis", None)
    found: Counter[str] = Counter()
    for finding in getattr(diagnosis, "findings", None) or ():
        mechanism, count = getattr(finding, "mechanism", None), getattr(finding, "count", 0)
        if mechanism is not None and isinstance(count, int):
            found[str(getattr(mechanism, "value", mechanism))] += count
    return dict(found.most_common())


def top_mechanism(mechanisms: Mapping[str, int]) -> str | None:
    """The mechanism that lost the most requests (ties: by name), or None."""
    if not mechanisms:
        return None
    return min(mechanisms.items(), key=lambda item: (-item[1], item[0]))[0]


class RepeatSummary(_Model):
    scenario: str
    runs: list[RunSummary]
    confidence: float = Field(gt=0, lt=1)
    outcomes: dict[str, int]  # verdict -> runs
    flake_rate: float = Field(ge=0, le=1)
    counted_runs: int = Field(ge=0)  # PASS or FAIL: the runs the bound is over
    bound: FailureBound
    by_mode: dict[str, FailureBound]
    mechanisms: dict[str, int] = Field(default_factory=dict)
    gate: GateResult | None = None  # failure_rate_upper, when the scenario asks for a bound

    @property
    def all_passed(self) -> bool:
        return bool(self.runs) and all(r.outcome is GateStatus.PASS for r in self.runs)

    @property
    def passed(self) -> bool:
        """Every run PASSed and the required bound, if any, holds."""
        return self.all_passed and (self.gate is None or self.gate.status is GateStatus.PASS)

    @property
    def outcome_text(self) -> str:
        """E.g. "PASS 3/3" or "PASS 2, FAIL 1"."""
        if len(self.outcomes) == 1:
            (name, count), = self.outcomes.items()
            return f"{name} {count}/{len(self.runs)}"
        return ", ".join(f"{name} {count}" for name, count in self.outcomes.items())


def requests_needed(limit: float, confidence: float) -> int:
    """Failure-free requests it takes for the bound to reach ``limit``."""
    return math.ceil(math.log1p(-confidence) / math.log1p(-limit))


def failure_rate_gate(summary: RepeatSummary, limit: float) -> GateResult:
    """Whether the bound over the repeats is at most ``limit``; data, with the numbers."""
    bound = summary.bound
    numbers: dict[str, float | int | str | bool | None] = {
        "limit": limit, "upper": bound.upper, "confidence": bound.confidence, "failures": bound.failures,
        "requests": bound.requests, "runs": len(summary.runs), "counted_runs": summary.counted_runs,
    }
    required = f"at most {format_percent(limit)} required"
    left_out = {s: n for s, n in summary.outcomes.items() if GateStatus(s) not in _COUNTED}
    if left_out:
        status = GateStatus.ERROR if GateStatus.ERROR.value in left_out else GateStatus.INCONCLUSIVE
        which = ", ".join(f"{n} {s}" for s, n in left_out.items())
        return GateResult(name=BOUND_GATE, status=status, numbers=numbers, reason=(
            f"{which} of {len(summary.runs)} runs: their evidence is incomplete, so a bound over the other "
            f"runs ({bound.describe()}) is no proof; {required}"))
    if not summary.runs:
        return GateResult(name=BOUND_GATE, status=GateStatus.INCONCLUSIVE, numbers=numbers,
                          reason=f"no run finished; {required}")
    if bound.upper <= limit:
        return GateResult(name=BOUND_GATE, status=GateStatus.PASS, numbers=numbers,
                          reason=f"{bound.describe()}; {required}")
    needed = requests_needed(limit, bound.confidence)
    more = (f"; with no failure it takes at least {needed:,} requests to show that"
            if bound.failures == 0 else "")
    return GateResult(name=BOUND_GATE, status=GateStatus.FAIL, numbers=numbers,
                      reason=f"{bound.describe()}, above the {format_percent(limit)} required{more}")


def summarize_runs(scenario: str, runs: Sequence[RunSummary], *, confidence: float = DEFAULT_CONFIDENCE,
                   max_failure_rate_upper: float | None = None) -> RepeatSummary:
    """What the runs say together: verdicts, flake rate, the bound overall and per connection mode."""
    verdicts = Counter(r.outcome.value for r in runs)
    counted = [r for r in runs if r.outcome in _COUNTED]
    modes: dict[str, list[int]] = {}
    mechanisms: Counter[str] = Counter()
    for run in counted:
        for mode, count in run.by_mode.items():
            total = modes.setdefault(mode, [0, 0])
            total[0] += count.failed
            total[1] += count.requests
        mechanisms.update(run.mechanisms)
    summary = RepeatSummary(
        scenario=scenario, runs=list(runs), confidence=confidence,
        outcomes=dict(verdicts.most_common()),
        flake_rate=round(1 - max(verdicts.values()) / len(runs), 6) if runs else 0.0,
        counted_runs=len(counted),
        bound=FailureBound.of(sum(r.failed for r in counted), sum(r.requests for r in counted), confidence),
        by_mode={mode: FailureBound.of(failed, requests, confidence)
                 for mode, (failed, requests) in sorted(modes.items())},
        mechanisms=dict(mechanisms.most_common()),
    )
    if max_failure_rate_upper is not None:
        summary = summary.model_copy(update={"gate": failure_rate_gate(summary, max_failure_rate_upper)})
    return summary


def run_once(scenario: Scenario, options: RunOptions, *, base: Path, run: RunFn | None = None
             ) -> tuple[RunSummary, RunResult | None]:
    """One run, summarized; a harness error before any evidence becomes an ERROR summary, not a crash."""
    if run is None:
        from harness.run import run_scenario

        run = run_scenario
    started = time.monotonic()
    try:
        result = run(scenario, options)
    except HarnessError as exc:
        problem = exc.problem + (f" (fix: {exc.fix})" if exc.fix else "")
        return RunSummary.not_started(scenario.name, problem, wall_s=time.monotonic() - started), None
    try:
        where = str(result.run_dir.relative_to(base))
    except ValueError:
        where = str(result.run_dir)
    return RunSummary.from_verdict(result.verdict, run_dir=where, wall_s=time.monotonic() - started), result


@dataclass
class RepeatResult:
    directory: Path
    summary: RepeatSummary
    results: list[RunResult] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)


def repeat_markdown(summary: RepeatSummary) -> str:
    lines = [f"# {summary.scenario}: {len(summary.runs)} runs", "",
             "| run | verdict | failed / requests | " + " | ".join(summary.by_mode) + " | mechanism | run directory |",
             "|---|---|---|" + "---|" * len(summary.by_mode) + "---|---|"]
    for i, run in enumerate(summary.runs, 1):
        per_mode = [f"{run.by_mode[m].failed:,} / {run.by_mode[m].requests:,}" if m in run.by_mode else "-"
                    for m in summary.by_mode]
        mechanism = top_mechanism(run.mechanisms) or ""
        where = run.run_dir or run.problem or ""
        lines.append(f"| {i} | {run.outcome.value} | {run.failed:,} / {run.requests:,} | "
                     + "".join(f"{cell} | " for cell in per_mode) + f"{mechanism} | {where} |")
    lines += ["", f"- verdicts: {summary.outcome_text}; flake rate {summary.flake_rate:.0%}",
              f"- all runs ({summary.counted_runs} with complete evidence): {summary.bound.describe()}"]
    lines += [f"- {mode}: {bound.describe()}" for mode, bound in summary.by_mode.items()]
    if summary.gate is not None:
        lines.append(f"- {summary.gate.name}: {summary.gate.status.value}: {summary.gate.reason}")
    return "\n".join(lines) + "\n"


def write_repeat(directory: Path, summary: RepeatSummary) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    return {"json": write_atomic(directory / REPEAT_FILE, summary.model_dump_json(indent=2) + "\n"),
            "markdown": write_atomic(directory / REPEAT_MARKDOWN, repeat_markdown(summary))}


def run_repeated(scenario: Scenario, options: RunOptions, runs: int, *, out: Path, run: RunFn | None = None,
                 on_run: Callable[[int, RunSummary], None] | None = None) -> RepeatResult:
    """Run ``scenario`` ``runs`` times on one cluster into ``out/<id>/``, writing ``repeat.json`` and
    ``repeat.md`` after every run, so an interrupted repeat still says what its finished runs showed.

    Two runs in a row that fail before any evidence (no cluster, no image) end the repeat early: every
    further run would fail the same way.
    """
    from dataclasses import replace

    spec = scenario.repeat
    confidence = spec.confidence if spec is not None else DEFAULT_CONFIDENCE
    limit = spec.max_failure_rate_upper if spec is not None else None
    directory = out / f"{time.strftime('%Y%m%d-%H%M%S')}-{scenario.name}-x{runs}"
    options = replace(options, out_dir=directory)
    summaries: list[RunSummary] = []
    results: list[RunResult] = []
    files: dict[str, Path] = {}
    unstarted = 0
    for index in range(1, runs + 1):
        summary, result = run_once(scenario, options, base=directory, run=run)
        summaries.append(summary)
        if result is not None:
            results.append(result)
        unstarted = 0 if result is not None else unstarted + 1
        together = summarize_runs(scenario.name, summaries, confidence=confidence, max_failure_rate_upper=limit)
        files = write_repeat(directory, together)
        if on_run is not None:
            on_run(index, summary)
        if unstarted >= 2:
            break
    together = summarize_runs(scenario.name, summaries, confidence=confidence, max_failure_rate_upper=limit)
    return RepeatResult(directory=directory, summary=together, results=results, files=files)


REPEATS_GATE = "repeated_runs"


def repeated_verdict(verdicts: Sequence[Verdict], summary: RepeatSummary) -> Verdict:
    """One verdict for a scenario run several times, as a release gate reports it: the evidence of
    the first run that did not judge as expected (else of the last run), with two gates added, the
    runs' outcomes combined (ERROR beats FAIL beats INCONCLUSIVE beats PASS) and, when the scenario
    requires one, the bound over all of them. A repeat is as good as its worst run."""
    from harness.verdict.judge import decide

    if not verdicts:
        raise ValueError("no verdicts to combine")
    base = next((v for v in verdicts if not v.matches_expectation), verdicts[-1])
    statuses = [r.outcome for r in summary.runs]
    combined = decide([GateResult(name=REPEATS_GATE, status=s, reason="") for s in statuses])
    numbers: dict[str, float | int | str | bool | None] = {
        "runs": len(summary.runs), "flake_rate": summary.flake_rate, "representative": base.run_id}
    numbers.update({f"runs_{k.lower()}": n for k, n in summary.outcomes.items()})
    runs_gate = GateResult(
        name=REPEATS_GATE, status=combined, numbers=numbers,
        reason=f"{summary.outcome_text} over {len(summary.runs)} runs; {summary.bound.describe()}; the evidence "
               f"shown is run {base.run_id}")
    gates = [*base.gates, runs_gate, *([summary.gate] if summary.gate is not None else [])]
    outcome = decide(gates, base.harness_errors)
    expected = GateStatus.PASS if base.expected == "pass" else GateStatus.FAIL
    return base.model_copy(update={"gates": gates, "outcome": outcome, "matches_expectation": outcome is expected})
