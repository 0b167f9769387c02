"""The reports of a release gate (many scenarios, one answer): ``report.html``, ``report.md``, one
``junit.xml`` for all scenarios, and ``gate.json``.

The gate holds when every scenario's verdict is the one it expects: PASS for an ordinary scenario, FAIL
for a negative control. ERROR and INCONCLUSIVE never meet an expectation, and a gate that judged no
scenario proves nothing, so it does not hold either.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.files import write_atomic
from harness.report.diagnosis_view import headline_with_fix, top_mechanism
from harness.report.view import expectation_text, overview
from harness.verdict import GateStatus, Verdict

__all__ = [
    "EXIT_GATE_FAILED",
    "EXIT_GATE_PASSED",
    "GATE_FILE",
    "gate_exit_code",
    "gate_holds",
    "gate_summary",
    "verdict_summary",
    "write_gate_json",
]

GATE_FILE = "gate.json"
EXIT_GATE_PASSED = 0
EXIT_GATE_FAILED = 1
# Failing requests named per scenario in gate.json; result.json of each run holds the rest.
SUMMARY_FAILURES = 5


def gate_holds(verdicts: Sequence[Verdict]) -> bool:
    return bool(verdicts) and all(v.matches_expectation for v in verdicts)


def gate_exit_code(verdicts: Sequence[Verdict]) -> int:
    """0 when every scenario met its expectation, else 1 (also when no scenario was judged)."""
    return EXIT_GATE_PASSED if gate_holds(verdicts) else EXIT_GATE_FAILED


def verdict_summary(verdict: Verdict) -> dict[str, Any]:
    outcomes = verdict.counts.outcomes
    total = outcomes.total
    failed = outcomes.failed(allow_4xx=verdict.config.allow_4xx)
    rollout = verdict.facts.rollout
    diagnosis = verdict.diagnosis
    return {
        "scenario": verdict.scenario,
        "run_id": verdict.run_id,
        "outcome": verdict.outcome.value,
        "expected": verdict.expected.upper(),
        "matches_expectation": verdict.matches_expectation,
        "expectation": expectation_text(verdict),
        "requests": total,
        "failed": failed,
        "failed_ratio": round(failed / total, 6) if total else None,
        # The mechanism that lost the most requests, and the diagnosis in one line; None when not diagnosed.
        "top_mechanism": top_mechanism(diagnosis),
        "diagnosis": None if diagnosis is None else headline_with_fix(diagnosis),
        "outcomes": outcomes.model_dump(),
        "rollout": None if rollout is None else rollout.model_dump(),
        "disruption_s": round(sum(b - a for a, b in verdict.disruption_windows), 6),
        "p99_ms_during_disruption": verdict.latency_during_disruption.p99_ms,
        "p99_ms": verdict.latency.p99_ms,
        "gates": [{"name": g.name, "status": g.status.value, "reason": g.reason} for g in verdict.gates],
        "failing_gates": [g.name for g in verdict.gates if g.status not in (GateStatus.PASS, GateStatus.SKIPPED)],
        "first_failures": [
            {"id": f.id, "offset_s": f.offset_s, "outcome": f.outcome, "pod": f.pod,
             "pod_state": f.pod_state.describe(), "mechanism": f.mechanism}
            for f in verdict.first_failures[:SUMMARY_FAILURES]
        ],
        "harness_errors": list(verdict.harness_errors),
    }


def gate_summary(verdicts: Sequence[Verdict], *, generated: datetime | None = None) -> dict[str, Any]:
    """``gate.json``'s content: the overall answer first, then one summary per scenario."""
    view = overview(verdicts)
    by_outcome: dict[str, int] = {}
    for verdict in verdicts:
        by_outcome[verdict.outcome.value] = by_outcome.get(verdict.outcome.value, 0) + 1
    return {
        "schema_version": 1,
        "generated_at": (generated or datetime.now(tz=UTC)).isoformat(timespec="seconds"),
        "overall": {
            "ok": gate_holds(verdicts),
            "headline": view.headline,
            "scenarios": len(verdicts),
            "matched": view.matched,
            "mismatched": [v.scenario for v in verdicts if not v.matches_expectation],
            "by_outcome": by_outcome,
        },
        "verdicts": [verdict_summary(v) for v in verdicts],
    }


def write_gate_json(out_dir: Path, verdicts: Sequence[Verdict]) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / GATE_FILE
    return write_atomic(target, json.dumps(gate_summary(verdicts), indent=2) + "\n")
