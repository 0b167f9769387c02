"""The verdicts that matter, on a real cluster under real traffic, each on repeated runs.

A graceful service passes a rolling restart; each known-bad shutdown fails with failed requests
counted. A verdict that changes between runs is a bug of the harness.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.cluster.kind import ClusterRecord
from harness.verdict import GateStatus
from tests.e2e.conftest import assert_watch_events, run_in, scenario_file

REPEAT = int(os.environ.get("RH_E2E_REPEAT", "2"))

CASES = [
    ("rolling-restart", GateStatus.PASS),
    ("naive-rolling-restart", GateStatus.FAIL),
    ("naive-no-drain", GateStatus.FAIL),
    ("naive-ignore-sigterm", GateStatus.FAIL),
    ("naive-abrupt-close", GateStatus.FAIL),
    ("slow-requests-polite", GateStatus.PASS),
]


@pytest.mark.parametrize("attempt", range(1, REPEAT + 1), ids=lambda a: f"run{a}")
@pytest.mark.parametrize(("name", "expected"), CASES, ids=[c[0] for c in CASES])
def test_verdict_holds(cluster: ClusterRecord, runs_dir: Path, name: str, expected: GateStatus,
                       attempt: int) -> None:
    result = run_in(cluster, scenario_file(name), runs_dir / f"{name}-{attempt}")
    verdict = result.verdict
    summary = "; ".join(f"{g.name}={g.status.value}: {g.reason}" for g in verdict.gates)
    assert verdict.outcome is expected, f"{name} run {attempt}: {verdict.outcome.value} ({summary})"
    assert verdict.matches_expectation
    counts = verdict.counts
    assert counts.total >= verdict.config.min_requests
    gate = {g.name: g.status for g in verdict.gates}
    assert gate["disruption_observed"] is GateStatus.PASS, summary
    assert gate["rollout_completed"] is GateStatus.PASS, summary
    if expected is GateStatus.FAIL:
        assert counts.outcomes.failed() > 0
        assert verdict.first_failures, "a FAIL must name the requests that failed"
        first = verdict.first_failures[0]
        assert first.id
        assert first.pod_state is not None
    else:
        assert counts.outcomes.failed() == 0
    for file in ("result.json", "junit.xml", "requests.jsonl", "timeline.jsonl", "run.json"):
        assert (result.run_dir / file).is_file(), file
    assert gate["observers_complete"] is GateStatus.PASS, summary
    assert gate["records_accounted"] is GateStatus.PASS, summary
    assert_watch_events(result)
