"""Repeated runs: per-run summaries from recorded verdicts, the flake rate, the pooled bound, and the
bound gate judged over the repeats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.confidence import failure_rate_upper
from harness.errors import ClusterError
from harness.repeat import (
    REPEAT_FILE,
    REPEATS_GATE,
    RunSummary,
    failure_rate_gate,
    repeat_markdown,
    repeated_verdict,
    requests_needed,
    run_repeated,
    summarize_runs,
    top_mechanism,
)
from harness.scenario import parse_scenario
from harness.target import RunOptions
from harness.verdict import GateStatus
from harness.verdict.model import OutcomeCounts
from tests.unit.recorded_verdicts import FakeRuns, recorded_verdict, with_mechanisms

PASS = RunSummary.from_verdict(recorded_verdict("rolling-restart"))
FAILED_RUN = recorded_verdict("naive-rolling-restart")
FAIL = RunSummary.from_verdict(FAILED_RUN)


def _lost(outcomes: OutcomeCounts) -> tuple[int, int]:
    """(failed, sent) as the recording counted them: every outcome but an answer is a loss."""
    sent = sum(outcomes.model_dump().values())
    return sent - outcomes.ok, sent


# The negative control's own numbers, read from its evidence, so a re-recording changes nothing here.
LOST, SENT = _lost(FAILED_RUN.counts.outcomes)
LOST_BY_MODE = {mode: _lost(outcomes) for mode, outcomes in FAILED_RUN.counts.by_conn.items()}


def test_a_run_summary_holds_the_recorded_counts() -> None:
    assert (PASS.outcome, PASS.requests, PASS.failed) == (GateStatus.PASS, 4272, 0)
    assert {m: (c.requests, c.failed) for m, c in PASS.by_mode.items()} == {"keep-alive": (2136, 0),
                                                                           "new": (2136, 0)}
    assert LOST > 0
    assert (FAIL.outcome, FAIL.requests, FAIL.failed) == (GateStatus.FAIL, SENT, LOST)
    assert {m: (c.failed, c.requests) for m, c in FAIL.by_mode.items()} == LOST_BY_MODE
    assert FAIL.failing_gates and "no_connection_errors" in FAIL.failing_gates
    assert PASS.rollout_s == pytest.approx(3.07, abs=0.01)
    assert FAILED_RUN.diagnosis is not None
    assert FAIL.mechanisms == {f.mechanism.value: f.count for f in FAILED_RUN.diagnosis.findings}
    assert sum(FAIL.mechanisms.values()) == LOST
    assert PASS.mechanisms == {}


def test_mechanisms_come_from_the_diagnosis_when_there_is_one() -> None:
    verdict = with_mechanisms(recorded_verdict("naive-rolling-restart"),
                              shutdown_before_endpoint_removal=30, keepalive_closed_at_shutdown=14)
    summary = RunSummary.from_verdict(verdict)
    assert summary.mechanisms == {"shutdown-before-endpoint-removal": 30, "keepalive-closed-at-shutdown": 14}
    assert top_mechanism(summary.mechanisms) == "shutdown-before-endpoint-removal"
    assert top_mechanism({"b": 2, "a": 2}) == "a"
    assert top_mechanism({}) is None


def test_runs_that_agree_pool_their_requests_into_one_bound() -> None:
    summary = summarize_runs("rolling-restart", [PASS, PASS, PASS])
    assert summary.outcomes == {"PASS": 3}
    assert summary.flake_rate == 0
    assert summary.outcome_text == "PASS 3/3"
    assert summary.bound.requests == 3 * 4272 and summary.bound.failures == 0
    assert summary.bound.upper == pytest.approx(failure_rate_upper(0, 12816))
    assert summary.by_mode["new"].requests == 3 * 2136
    assert summary.passed and summary.gate is None


def test_runs_that_disagree_are_flaky_and_the_bound_counts_every_failure() -> None:
    summary = summarize_runs("x", [PASS, FAIL, PASS, PASS], confidence=0.99)
    assert summary.flake_rate == pytest.approx(0.25)
    assert summary.outcome_text == "PASS 3, FAIL 1"
    assert summary.bound.failures == LOST and summary.bound.requests == 3 * 4272 + SENT
    assert summary.bound.upper == pytest.approx(failure_rate_upper(LOST, 3 * 4272 + SENT, 0.99))
    assert {m: b.failures for m, b in summary.by_mode.items()} == {m: f for m, (f, _) in LOST_BY_MODE.items()}
    assert not summary.passed


def test_runs_without_complete_evidence_stay_out_of_the_bound() -> None:
    error = RunSummary.not_started("x", "no cluster")
    summary = summarize_runs("x", [PASS, error])
    assert summary.counted_runs == 1
    assert summary.bound.requests == 4272
    assert summary.flake_rate == pytest.approx(0.5)


def test_the_bound_gate_passes_fails_or_withholds_judgement() -> None:
    two = summarize_runs("x", [PASS, PASS])  # 0 in 8,544: at most about 0.035 %
    assert failure_rate_gate(two, 0.001).status is GateStatus.PASS
    tight = failure_rate_gate(two, 0.0001)
    assert tight.status is GateStatus.FAIL
    assert f"{requests_needed(0.0001, 0.95):,} requests" in tight.reason
    assert tight.numbers["requests"] == 8544
    mixed = summarize_runs("x", [PASS, FAIL])
    upper = failure_rate_upper(LOST, 4272 + SENT)
    assert mixed.bound.upper == pytest.approx(upper)
    assert failure_rate_gate(mixed, upper * 0.95).status is GateStatus.FAIL
    assert failure_rate_gate(mixed, upper * 1.05).status is GateStatus.PASS
    withheld = failure_rate_gate(summarize_runs("x", [PASS, RunSummary.not_started("x", "gone")]), 0.5)
    assert withheld.status is GateStatus.ERROR and "1 ERROR of 2 runs" in withheld.reason
    inconclusive = PASS.model_copy(update={"outcome": GateStatus.INCONCLUSIVE})
    assert failure_rate_gate(summarize_runs("x", [PASS, inconclusive]), 0.5).status is GateStatus.INCONCLUSIVE
    assert failure_rate_gate(summarize_runs("x", []), 0.5).status is GateStatus.INCONCLUSIVE


def test_requests_needed_is_where_the_zero_failure_bound_meets_the_limit() -> None:
    n = requests_needed(0.001, 0.95)
    assert failure_rate_upper(0, n) <= 0.001 < failure_rate_upper(0, n - 1)


def test_a_required_bound_is_part_of_the_summary() -> None:
    summary = summarize_runs("x", [PASS, PASS], max_failure_rate_upper=0.0001)
    assert summary.gate is not None and summary.gate.status is GateStatus.FAIL
    assert summary.all_passed and not summary.passed


# A limit just above what one failed run in three gives at 90 %, so the repeats pass the bound gate.
LIMIT = round(failure_rate_upper(LOST, 2 * 4272 + SENT, 0.9) * 1.1, 4)
SCENARIO = parse_scenario({"name": "again", "steps": [{"action": "rollout-restart"}],
                           "repeat": {"runs": 3, "confidence": 0.9, "max_failure_rate_upper": LIMIT}}, "again.yaml")


def test_run_repeated_runs_on_writes_after_each_run_and_states_the_bound(tmp_path: Path) -> None:
    verdicts = iter([recorded_verdict("rolling-restart"), recorded_verdict("naive-rolling-restart"),
                     recorded_verdict("rolling-restart")])
    fake = FakeRuns(lambda _: next(verdicts))
    written: list[int] = []

    def on_run(index: int, summary: RunSummary) -> None:
        (saved,) = tmp_path.glob(f"*/{REPEAT_FILE}")
        written.append(len(json.loads(saved.read_text())["runs"]))

    result = run_repeated(SCENARIO, RunOptions(), 3, out=tmp_path, run=fake, on_run=on_run)
    assert len(fake.calls) == 3
    assert written == [1, 2, 3]  # repeat.json is rewritten as each run ends
    summary = result.summary
    assert summary.outcome_text == "PASS 2, FAIL 1"
    assert summary.confidence == 0.9
    assert summary.gate is not None and summary.gate.status is GateStatus.PASS
    assert [r.run_dir for r in summary.runs] == ["run-1", "run-2", "run-3"]
    assert all((result.directory / r).is_dir() for r in ("run-1", "run-2", "run-3"))
    saved = json.loads((result.directory / REPEAT_FILE).read_text())
    assert len(saved["runs"]) == 3 and saved["gate"]["status"] == "PASS"
    text = (result.directory / "repeat.md").read_text()
    per_mode = " | ".join(f"{f:,} / {n:,}" for f, n in LOST_BY_MODE.values())
    assert f"| 2 | FAIL | {LOST:,} / {SENT:,} | {per_mode} |" in text
    assert text == repeat_markdown(summary)


def test_run_repeated_stops_when_runs_cannot_start(tmp_path: Path) -> None:
    fake = FakeRuns(lambda _: ClusterError("the cluster is gone", "harness cluster up"))
    result = run_repeated(SCENARIO, RunOptions(), 5, out=tmp_path, run=fake)
    assert len(fake.calls) == 2
    assert [r.outcome for r in result.summary.runs] == [GateStatus.ERROR, GateStatus.ERROR]
    assert result.summary.runs[0].problem == "the cluster is gone (fix: harness cluster up)"
    assert result.summary.gate is not None and result.summary.gate.status is GateStatus.ERROR


# --- a repeated scenario in a release gate ---------------------------------------------------------------


def test_a_gate_shows_a_repeat_as_its_worst_run_with_the_runs_combined() -> None:
    passed, failed = recorded_verdict("rolling-restart"), recorded_verdict("naive-rolling-restart")
    as_expected_pass = failed.model_copy(update={"expected": "pass", "matches_expectation": False})
    summary = summarize_runs("x", [PASS, RunSummary.from_verdict(as_expected_pass), PASS])
    verdict = repeated_verdict([passed, as_expected_pass, passed], summary)
    assert verdict.run_id == failed.run_id  # the evidence of the run that did not judge as expected
    assert verdict.outcome is GateStatus.FAIL and not verdict.matches_expectation
    runs = verdict.gate(REPEATS_GATE)
    assert runs.status is GateStatus.FAIL
    assert runs.reason.startswith("PASS 2, FAIL 1 over 3 runs; ")
    assert f"{LOST:,} failures in {2 * 4272 + SENT:,} requests" in runs.reason
    assert runs.numbers["flake_rate"] == pytest.approx(1 / 3)


def test_a_repeat_that_always_passes_stays_a_pass_unless_its_bound_is_too_wide() -> None:
    passed = recorded_verdict("rolling-restart")
    ok = repeated_verdict([passed, passed], summarize_runs("x", [PASS, PASS]))
    assert ok.outcome is GateStatus.PASS and ok.matches_expectation
    assert ok.gate(REPEATS_GATE).status is GateStatus.PASS
    strict = summarize_runs("x", [PASS, PASS], max_failure_rate_upper=0.0001)
    held = repeated_verdict([passed, passed], strict)
    assert held.outcome is GateStatus.FAIL and not held.matches_expectation
    assert held.gate("failure_rate_upper").status is GateStatus.FAIL


def test_a_negative_control_repeated_must_fail_every_time() -> None:
    failed = recorded_verdict("naive-rolling-restart")
    always = repeated_verdict([failed, failed], summarize_runs("x", [FAIL, FAIL]))
    assert always.outcome is GateStatus.FAIL and always.matches_expectation
    errored = FAIL.model_copy(update={"outcome": GateStatus.ERROR})
    once_error = repeated_verdict([failed, failed], summarize_runs("x", [FAIL, errored]))
    assert once_error.outcome is GateStatus.ERROR and not once_error.matches_expectation


def test_the_release_gate_runs_a_repeated_scenario_that_many_times(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from harness import release

    fake = FakeRuns(lambda _: recorded_verdict("rolling-restart"))
    monkeypatch.setattr("harness.run.run_scenario", fake)
    monkeypatch.setattr(release, "run_scenario", fake)
    once = parse_scenario({"name": "once", "steps": [{"action": "rollout-restart"}]}, "once.yaml")
    result = release.run_release([SCENARIO, once], tmp_path / "gate", cluster="c", context="kind-elsewhere")
    assert len(fake.calls) == 4  # three repeats, then the single run
    repeated, single = result.verdicts
    assert repeated.gate(REPEATS_GATE).reason.startswith("PASS 3/3 over 3 runs")
    assert repeated.gate("failure_rate_upper").status is GateStatus.PASS
    assert REPEATS_GATE not in {g.name for g in single.gates}
    assert list((tmp_path / "gate" / "runs").glob(f"*-again-x3/{REPEAT_FILE}"))
