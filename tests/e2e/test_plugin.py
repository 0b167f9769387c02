"""The pytest plugin's `run_scenario` fixture, as a team would use it, on the e2e cluster."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.cluster.kind import ClusterRecord
from harness.verdict import GateStatus


def test_run_scenario_fixture_returns_the_verdict(cluster: ClusterRecord, run_scenario: Callable[..., Any]) -> None:
    verdict = run_scenario({
        "name": "plugin-pod-delete",
        "steps": [{"action": "delete-pod", "count": 1}],
        "traffic": {"rate": 100, "users": 10},
        "gates": {"min_requests": 300},
    })
    assert verdict.outcome is GateStatus.PASS, [(g.name, g.status, g.reason) for g in verdict.gates]
    assert verdict.scenario == "plugin-pod-delete"
    assert verdict.counts.total >= 300
