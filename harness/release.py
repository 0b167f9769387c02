"""`harness gate`: every scenario of a directory, one release-gate report.

Scenarios run in name order on one reused cluster per cluster shape: those that ask for no worker
share a single-node cluster, and those that ask for workers (a node drain) share a cluster of that
size. Each scenario thus runs on the topology it declares, and no single-node scenario pays for
the multi-node network. A cluster the gate created is removed when its scenarios are done. A
scenario that cannot even start still gets a verdict (ERROR), so the report always accounts for
every scenario it was given.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.builtin import scenario_location
from harness.cluster.kind import NODE_PORT, cluster_down, load_record
from harness.cluster.lifecycle import up
from harness.errors import HarnessError, ScenarioError
from harness.evidence import TIMELINE_FILE, TimelineEvent, read_timeline
from harness.log import get_logger
from harness.run import RunOptions, run_scenario
from harness.scenario import Scenario, load_scenario
from harness.verdict import Evidence, RunFacts, Verdict, judge, summarize_requests

__all__ = ["ReleaseResult", "error_verdict", "load_scenarios", "run_release"]

log = get_logger(__name__)


@dataclass
class ReleaseResult:
    verdicts: list[Verdict]
    reports: dict[str, Path]
    exit_code: int


def load_scenarios(source: Path, only: list[str] | None = None) -> list[Scenario]:
    source = scenario_location(source)  # builtin: the shipped ones
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


def _run_repeats(scenario: Scenario, options: RunOptions, runs: int, out: Path) -> tuple[Verdict, Path | None]:
    """A scenario with ``repeat:`` in a gate: its runs as one verdict (the worst run's evidence, the
    runs' combined outcome, the bound when required) and the directory of the run it shows."""
    from harness.repeat import repeated_verdict, run_repeated

    repeated = run_repeated(scenario, options, runs, out=out)
    if not repeated.results:
        first = repeated.summary.runs[0].problem if repeated.summary.runs else None
        return error_verdict(scenario, f"none of {runs} repeated runs started: {first}"), None
    verdict = repeated_verdict([r.verdict for r in repeated.results], repeated.summary)
    shown = next(r.run_dir for r in repeated.results if r.verdict.run_id == verdict.run_id)
    return verdict, shown


def run_release(
    scenarios: list[Scenario],
    out: Path,
    *,
    cluster: str,
    context: str | None = None,
    kubeconfig: Path | None = None,
    on_verdict: Callable[[Scenario, Verdict], None] | None = None,
) -> ReleaseResult:
    from harness.report import gate_exit_code, write_reports

    out.mkdir(parents=True, exist_ok=True)
    by_scenario: dict[str, Verdict] = {}
    timelines: dict[str, list[TimelineEvent]] = {}
    shapes = sorted({s.cluster.workers for s in scenarios}) if context is None else [None]
    for workers in shapes:
        group = [s for s in scenarios if workers is None or s.cluster.workers == workers]
        name = cluster if not workers else f"{cluster}-{workers + 1}n"
        created = context is None and load_record(name) is None
        try:
            for scenario in group:
                pinned = scenario.model_copy(update={
                    "cluster": scenario.cluster.model_copy(update={"name": name}),
                })
                try:
                    if created and load_record(name) is None:
                        up(name=name, workers=workers or 0, k8s_version=scenario.cluster.k8s_version,
                           node_image="auto", host_port=NODE_PORT if not workers else NODE_PORT + 100 + workers)
                    options = RunOptions(out_dir=out / "runs", context=context, kubeconfig=kubeconfig,
                                         create_cluster=context is None)
                    if scenario.repeat is not None and scenario.repeat.runs > 1:
                        verdict, run_dir = _run_repeats(pinned, options, scenario.repeat.runs, out / "runs")
                    else:
                        result = run_scenario(pinned, options)
                        verdict, run_dir = result.verdict, result.run_dir
                    if run_dir is not None:
                        timelines[verdict.run_id] = read_timeline(run_dir / TIMELINE_FILE)
                except HarnessError as exc:
                    verdict = error_verdict(scenario, f"{exc.problem}" + (f" (fix: {exc.fix})" if exc.fix else ""))
                by_scenario[scenario.name] = verdict
                if on_verdict is not None:
                    on_verdict(scenario, verdict)
        finally:
            if created and load_record(name) is not None:
                cluster_down(name)
    verdicts = [by_scenario[s.name] for s in scenarios]
    reports = write_reports(out, verdicts, timelines)
    return ReleaseResult(verdicts=verdicts, reports=reports, exit_code=gate_exit_code(verdicts))
