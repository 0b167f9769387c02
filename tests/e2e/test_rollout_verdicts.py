"""The verdicts that matter, on a real cluster under real traffic, each on repeated runs.

A graceful service passes a rolling restart and carries no diagnosis; each known-bad shutdown fails
with failed requests counted, its main mechanism leads the diagnosis, and at least 95 % of the failed
requests are put down to the mechanisms that shutdown really has (a process that exits at once on
SIGTERM refuses new connections while still an endpoint and also resets its kept-alive ones). A
verdict or a main mechanism that changes between runs is a bug of the harness.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.cluster.kind import ClusterRecord
from harness.diagnosis import Mechanism
from harness.verdict import GateStatus
from tests.e2e.conftest import assert_watch_events, run_in, scenario_file

REPEAT = int(os.environ.get("RH_E2E_REPEAT", "2"))

CASES: list[tuple[str, GateStatus, Mechanism | None]] = [
    ("rolling-restart", GateStatus.PASS, None),
    ("naive-rolling-restart", GateStatus.FAIL, Mechanism.SHUTDOWN_BEFORE_ENDPOINT_REMOVAL),
    ("naive-no-drain", GateStatus.FAIL, Mechanism.SHUTDOWN_BEFORE_ENDPOINT_REMOVAL),
    ("naive-ignore-sigterm", GateStatus.FAIL, Mechanism.KILLED_AT_GRACE_END),
    ("naive-abrupt-close", GateStatus.FAIL, Mechanism.KEEPALIVE_CLOSED_AT_SHUTDOWN),
    ("slow-start", GateStatus.FAIL, Mechanism.READY_BEFORE_SERVING),
    ("slow-requests-polite", GateStatus.PASS, None),
]
RIGHT_SHARE = 0.95
# Besides the main one, what each fault also does to some requests.
ALSO: dict[str, set[Mechanism]] = {
    "naive-rolling-restart": {Mechanism.KEEPALIVE_CLOSED_AT_SHUTDOWN},
    "naive-no-drain": {Mechanism.KEEPALIVE_CLOSED_AT_SHUTDOWN},
}


@pytest.mark.parametrize("attempt", range(1, REPEAT + 1), ids=lambda a: f"run{a}")
@pytest.mark.parametrize(("name", "expected", "mechanism"), CASES, ids=[c[0] for c in CASES])
def test_verdict_holds(cluster: ClusterRecord, runs_dir: Path, name: str, expected: GateStatus,
                       mechanism: Mechanism | None, attempt: int) -> None:
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
        diagnosis = verdict.diagnosis
        assert diagnosis is not None, "a FAIL must say why"
        assert diagnosis.failed == counts.outcomes.failed()
        allowed = {mechanism, *ALSO.get(name, set())}
        right = sum(f.count for f in diagnosis.findings if f.mechanism in allowed)
        seen = {f.mechanism.value: f.count for f in diagnosis.findings}
        assert right >= RIGHT_SHARE * diagnosis.diagnosed, f"{name} run {attempt}: {seen}"
        top = diagnosis.findings[0]
        assert top.mechanism is mechanism and top.pods and top.evidence, top
        if mechanism is not Mechanism.READY_BEFORE_SERVING:
            assert top.recommendations, top
        assert first.mechanism is not None
    else:
        assert counts.outcomes.failed() == 0
        assert verdict.diagnosis is None
    for file in ("result.json", "junit.xml", "requests.jsonl", "timeline.jsonl", "run.json"):
        assert (result.run_dir / file).is_file(), file
    assert gate["observers_complete"] is GateStatus.PASS, summary
    assert gate["records_accounted"] is GateStatus.PASS, summary
    assert_watch_events(result)
