"""The verdicts of the recorded runs (tests/unit/data/recorded), and a stand-in for ``run_scenario`` that
answers with them, for tests of repeats and sweeps without a cluster."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

from harness.errors import ClusterError
from harness.report.result_json import read_result_json
from harness.run import RunResult
from harness.scenario import Scenario
from harness.target import RunOptions
from harness.verdict import Verdict

RECORDED = Path(__file__).resolve().parent / "data" / "recorded"


def recorded_verdict(name: str) -> Verdict:
    """``rolling-restart`` (PASS, 4,272 requests) or ``naive-rolling-restart`` (FAIL, 44 of 3,012 lost)."""
    return read_result_json(RECORDED / name)


def with_mechanisms(verdict: Verdict, **counts: int) -> Verdict:
    """The verdict as if diagnosed: findings with ``mechanism`` and ``count``, the shape a diagnosis has."""
    findings = [SimpleNamespace(mechanism=m.replace("_", "-"), count=n) for m, n in counts.items()]
    return verdict.model_copy(update={"diagnosis": SimpleNamespace(findings=findings)})


class FakeRuns:
    """``run_scenario`` without a cluster: each call answers with ``decide(scenario)``'s verdict (or
    raises the ClusterError it returns), in a fresh run directory below ``options.out_dir``."""

    def __init__(self, decide: Callable[[Scenario], Verdict | ClusterError]) -> None:
        self.decide = decide
        self.calls: list[Scenario] = []

    def __call__(self, scenario: Scenario, options: RunOptions) -> RunResult:
        self.calls.append(scenario)
        answer = self.decide(scenario)
        if isinstance(answer, ClusterError):
            raise answer
        assert options.out_dir is not None
        # Numbered on from the run directories already there, as run ids never repeat.
        taken = len(list(options.out_dir.glob("run-*"))) if options.out_dir.is_dir() else 0
        run_id = f"run-{taken + 1}"
        run_dir = options.out_dir / run_id
        run_dir.mkdir(parents=True)
        return RunResult(run_dir=run_dir, verdict=answer.model_copy(update={"run_id": run_id}))
