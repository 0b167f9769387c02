"""`harness gate`: every scenario of a directory on one reused cluster, one release-gate report.

The cluster is created once with as many workers as the most demanding scenario asks for, and
every scenario runs on it in name order. A scenario that cannot even start still gets a verdict
(ERROR), so the report always accounts for every scenario it was given.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError, ScenarioError
from harness.evidence import TIMELINE_FILE, TimelineEvent, read_timeline
from harness.log import get_logger
from harness.run import RunOptions, run_scenario
from harness.scenario import Scenario, load_scenario
from harness.verdict import Evidence, RunFacts, Verdict, judge, summarize_requests

__all__ = ["GateResult", "error_verdict", "load_scenarios", "run_gate"]

log = get_logger(__name__)


@dataclass
class GateResult:
    verdicts: list[Verdict]
    reports: dict[str, Path]
    exit_code: int


def load_scenarios(source: Path, only: list[str] | None = None) -> list[Scenario]:
    files = sorted(source.glob("*.yaml")) if source.is_dir() else [source]
    if not files:
        raise ScenarioError(f"no scenario files (*.yaml) in {source}", "pass a directory such as scenarios/")
    scenarios = [load_scenario(f) for f in files]
    if only:
        unknown = sorted(set(only) - {s.name for s in scenarios})
        if unknown:
            raise ScenarioError(f"no scenario named {', '.join(unknown)} in {source}",
                                f"choose among {', '.join(s.name for s in scenarios)}")
        scenarios = [s for s in scenarios if s.name in only]
    return scenarios


def error_verdict(scenario: Scenario, problem: str) -> Verdict:
    """The verdict of a scenario that could not run: ERROR, with the reason, never PASS."""
    facts = RunFacts(scenario=scenario.name, run_id=f"{time.strftime('%Y%m%d-%H%M%S')}-{scenario.name}-error",
                     started_at=time.time(), harness_errors=[problem], expect=scenario.expect)
    evidence = Evidence(summary=summarize_requests(()), timeline=[], facts=facts)
    return judge(evidence, scenario.gates)


def run_gate(
    scenarios: list[Scenario],
    out: Path,
    *,
    cluster: str,
    context: str | None = None,
    kubeconfig: Path | None = None,
    on_verdict: Callable[[Scenario, Verdict], None] | None = None,
) -> GateResult:
    from harness.report import gate_exit_code, write_gate_reports

    workers = max(s.cluster.workers for s in scenarios)
    out.mkdir(parents=True, exist_ok=True)
    verdicts: list[Verdict] = []
    timelines: dict[str, list[TimelineEvent]] = {}
    for scenario in scenarios:
        pinned = scenario.model_copy(update={
            "cluster": scenario.cluster.model_copy(update={"name": cluster, "workers": workers}),
        })
        try:
            result = run_scenario(pinned, RunOptions(out_dir=out / "runs", context=context, kubeconfig=kubeconfig))
            verdict = result.verdict
            timelines[verdict.run_id] = read_timeline(result.run_dir / TIMELINE_FILE)
        except HarnessError as exc:
            verdict = error_verdict(scenario, f"{exc.problem}" + (f" (fix: {exc.fix})" if exc.fix else ""))
        verdicts.append(verdict)
        if on_verdict is not None:
            on_verdict(scenario, verdict)
    reports = write_gate_reports(out, verdicts, timelines)
    return GateResult(verdicts=verdicts, reports=reports, exit_code=gate_exit_code(verdicts))
