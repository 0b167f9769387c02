"""Gates and the verdict on hand-made evidence: every gate, its edge cases, and re-judging a run dir."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, Literal

import pytest
from traffic_reports import accounted, label

from harness.errors import ConfigError
from harness.evidence import (
    REQUESTS_FILE,
    TIMELINE_FILE,
    ConnectionMode,
    ErrorKind,
    RequestRecord,
    TimelineEvent,
    TimelineKind,
)
from harness.verdict import (
    Evidence,
    GateConfig,
    GateResult,
    GateStatus,
    RolloutFacts,
    RunFacts,
    RunRecord,
    decide,
    judge,
    judge_run_dir,
    summarize_requests,
    write_run_record,
)

M0 = 1000.0  # monotonic clock when traffic starts
T0 = 1_700_000_000.0
OLD = ["web-old-1", "web-old-2"]
NEW = ["web-new-1", "web-new-2"]
_UNSET: Any = object()


def rec(i: int, at: float, *, status: int | None = 200, error: ErrorKind | None = None,
        latency: float = 0.005, pod: str | None = _UNSET, conn: ConnectionMode = ConnectionMode.KEEP_ALIVE,
        user: str = "KeepAliveUser", conn_pod: str | None = None, m_end: float | None = _UNSET,
        detail: str | None = None) -> RequestRecord:
    """A request sent ``at`` seconds after traffic started."""
    if error is not None:
        status = None
    end = M0 + at + latency if m_end is _UNSET else m_end
    answered = pod if pod is not _UNSET else ("web-old-1" if error is None else None)
    return RequestRecord(
        id=f"r{i}", user=user, conn=conn, t_start=T0 + at, m_start=M0 + at,
        t_end=None if end is None else T0 + (end - M0), m_end=end, status=status, error=error,
        detail=detail, bytes=0 if error else 120, pod=answered, version="v1" if answered else None,
        conn_pod=conn_pod,
    )


def steady(n: int = 300, *, every: float = 0.1, start: int = 0) -> list[RequestRecord]:
    return [rec(start + i, i * every) for i in range(n)]


def ev(at: float, kind: TimelineKind, type_: str, obj: str, **data: Any) -> TimelineEvent:
    return TimelineEvent(t=T0 + at, m=M0 + at, kind=kind, type=type_, name=obj, data=data)


def pod_ev(at: float, name: str, *, type_: str = "MODIFIED", ready: bool = True, terminating: bool = False,
           phase: str = "Running", ip: str | None = None) -> TimelineEvent:
    return ev(at, TimelineKind.POD, type_, name, name=name, phase=phase, ready=ready,
              terminating=terminating, node="kind-worker", ip=ip or f"10.0.0.{len(name)}", version="v1")


def slice_ev(at: float, *endpoints: tuple[str, bool, bool, bool], name: str = "web-abc",
             service: str = "web", type_: str = "MODIFIED") -> TimelineEvent:
    return ev(at, TimelineKind.ENDPOINTS, type_, name, name=name, service=service, endpoints=[
        {"pod": p, "ip": f"10.0.0.{i}", "ready": r, "serving": s, "terminating": t}
        for i, (p, r, s, t) in enumerate(endpoints)
    ])


def action(at: float, step: str, phase: str, **extra: Any) -> TimelineEvent:
    return ev(at, TimelineKind.ACTION, phase, step, step=step, phase=phase, **extra)


OBSERVED = ("pods", "endpointslices", "events")  # each observer covers the traffic window
UP = (True, True, False)
GOING = (False, True, True)


def rollout_timeline() -> list[TimelineEvent]:
    """Two old pods replaced by two new ones between +10 s and +20 s, in clock order."""
    return [
        *(ev(-5.0, TimelineKind.OBSERVER, "synced", r, resource=r, what="synced") for r in OBSERVED),
        pod_ev(-5.0, OLD[0], type_="LIST"),
        pod_ev(-5.0, OLD[1], type_="LIST"),
        slice_ev(-5.0, (OLD[0], *UP), (OLD[1], *UP)),
        action(0.0, "traffic", "start", disruption=False),
        action(10.0, "restart", "start"),
        action(10.1, "restart", "applied"),
        pod_ev(10.5, NEW[0], type_="ADDED", ready=False, phase="Pending"),
        pod_ev(12.0, NEW[0]),
        slice_ev(12.1, (OLD[0], *UP), (OLD[1], *UP), (NEW[0], *UP)),
        pod_ev(13.0, OLD[0], ready=False, terminating=True),
        slice_ev(13.5, (OLD[0], *GOING), (OLD[1], *UP), (NEW[0], *UP)),
        pod_ev(14.0, NEW[1], type_="ADDED", ready=False, phase="Pending"),
        slice_ev(15.0, (OLD[1], *UP), (NEW[0], *UP)),
        pod_ev(15.0, OLD[0], type_="DELETED", ready=False, terminating=True),
        pod_ev(16.0, NEW[1]),
        pod_ev(17.0, OLD[1], ready=False, terminating=True),
        slice_ev(17.4, (OLD[1], *GOING), (NEW[0], *UP), (NEW[1], *UP)),
        slice_ev(19.0, (NEW[0], *UP), (NEW[1], *UP)),
        pod_ev(19.0, OLD[1], type_="DELETED", ready=False, terminating=True),
        action(20.0, "restart", "end"),
        action(22.0, "settle", "end", disruption=False),
        action(30.0, "traffic", "stop", disruption=False),
        *(ev(31.0, TimelineKind.OBSERVER, "stopped", r, resource=r, what="stopped", healthy=True) for r in OBSERVED),
    ]


def facts(**overrides: Any) -> RunFacts:
    data: dict[str, Any] = {
        "scenario": "rolling-restart", "run_id": "rr-1", "started_at": T0 - 20.0, "ended_at": T0 + 40.0,
        "traffic_started_m": M0, "traffic_stopped_m": M0 + 30.0,
        "rollout": RolloutFacts(completed=True, deadline_s=60.0, duration_s=10.0),
        "old_pods": list(OLD), "service": "web",
        # steady(): one keep-alive request every 0.1 s, so the configured rate the flow gate holds it to.
        "connection_modes": ["keep-alive"], "mode_rates": {"keep-alive": 10.0}, "rate_rps": 10.0,
    }
    data.update(overrides)
    return RunFacts(**data)


def evidence(records: list[RequestRecord], timeline: list[TimelineEvent] | None = None,
             run: RunFacts | None = None, windows: list[tuple[float, float]] | None = None,
             **summary_kw: Any) -> Evidence:
    """The records as the traffic process writes them (ids numbered), with its matching report."""
    windows = [(M0 + 10.0, M0 + 22.0)] if windows is None else windows
    numbered, report = accounted(records)
    summary = summarize_requests(numbered, disruption_windows=windows, **summary_kw)
    run = run or facts()
    return Evidence(summary=summary, timeline=rollout_timeline() if timeline is None else timeline,
                    facts=run.model_copy(update={"traffic": report}))


def gate_of(evidence_: Evidence, name: str, config: GateConfig | None = None) -> GateResult:
    return judge(evidence_, config or GateConfig()).gate(name)


# --- outcome ---------------------------------------------------------------------------------------


def test_a_clean_rollout_passes_every_gate() -> None:
    verdict = judge(evidence(steady()), GateConfig())
    statuses = {g.name: g.status for g in verdict.gates}
    assert verdict.outcome is GateStatus.PASS, [(g.name, g.reason) for g in verdict.gates]
    assert verdict.matches_expectation
    assert statuses["latency_during_disruption"] is GateStatus.SKIPPED
    assert statuses["traffic_on_schedule"] is GateStatus.SKIPPED  # these records have no schedule
    assert all(s is GateStatus.PASS for n, s in statuses.items()
               if n not in ("latency_during_disruption", "traffic_on_schedule"))
    assert verdict.counts.total == 300
    assert verdict.first_failures == []


@pytest.mark.parametrize(("statuses", "harness_errors", "expected"), [
    ([GateStatus.PASS, GateStatus.SKIPPED], [], GateStatus.PASS),
    ([GateStatus.PASS, GateStatus.INCONCLUSIVE], [], GateStatus.INCONCLUSIVE),
    ([GateStatus.INCONCLUSIVE, GateStatus.FAIL], [], GateStatus.FAIL),
    ([GateStatus.FAIL, GateStatus.ERROR], [], GateStatus.ERROR),
    ([GateStatus.PASS], ["traffic process died"], GateStatus.ERROR),
    ([], [], GateStatus.PASS),
])
def test_outcome_precedence(statuses: list[GateStatus], harness_errors: list[str], expected: GateStatus) -> None:
    gates = [GateResult(name=f"g{i}", status=s, reason="r") for i, s in enumerate(statuses)]
    assert decide(gates, harness_errors) is expected


@pytest.mark.parametrize(("expect", "records", "outcome", "matches"), [
    ("fail", [rec(1, 5.0, status=503)], GateStatus.FAIL, True),
    ("fail", [], GateStatus.PASS, False),
    ("pass", [], GateStatus.PASS, True),
    ("pass", [rec(1, 5.0, status=503)], GateStatus.FAIL, False),
])
def test_matches_expectation(expect: Literal["pass", "fail"], records: list[RequestRecord], outcome: GateStatus,
                             matches: bool) -> None:
    verdict = judge(evidence(steady() + records, run=facts(expect=expect)))
    assert verdict.outcome is outcome
    assert verdict.expected == expect
    assert verdict.matches_expectation is matches


def test_a_negative_control_does_not_match_on_error_or_inconclusive() -> None:
    errored = judge(evidence([*steady(), rec(1, 5.0, status=503)],
                             run=facts(expect="fail", harness_errors=["API lost"])))
    assert errored.outcome is GateStatus.ERROR
    assert not errored.matches_expectation
    inconclusive = judge(evidence([rec(1, 5.0, status=503)], run=facts(expect="fail")))
    assert inconclusive.outcome is GateStatus.FAIL  # a real failure still fails with little traffic
    nothing = judge(evidence([], run=facts(expect="fail")))
    assert nothing.outcome is GateStatus.INCONCLUSIVE
    assert not nothing.matches_expectation


def test_a_gate_that_raises_is_an_error_not_a_pass() -> None:
    def broken(_e: Evidence, _c: GateConfig) -> GateResult:
        raise ZeroDivisionError("boom")

    verdict = judge(evidence(steady()), GateConfig(), gates=[broken])
    assert verdict.outcome is GateStatus.ERROR
    assert verdict.gates[0].name == "broken"
    assert "ZeroDivisionError" in verdict.gates[0].reason


# --- loss gates ------------------------------------------------------------------------------------


def test_5xx_are_counted_and_fail() -> None:
    bad = [rec(900, 12.5, status=503), rec(901, 13.0, status=502), rec(902, 14.0, status=404)]
    result = gate_of(evidence(steady() + bad), "no_5xx")
    assert result.status is GateStatus.FAIL
    assert result.numbers["count"] == 2
    assert result.numbers["total"] == 303
    assert "2 of 303 requests" in result.reason
    assert "1x 502" in result.reason and "1x 503" in result.reason
    assert "+12.500s" in result.reason


def test_connection_errors_are_counted_by_kind() -> None:
    bad = [rec(900, 13.0, error=ErrorKind.RESET), rec(901, 13.1, error=ErrorKind.RESET),
           rec(902, 13.2, error=ErrorKind.REFUSED), rec(903, 13.3, error=ErrorKind.TIMEOUT),
           rec(904, 13.4, error=ErrorKind.OTHER)]
    verdict = judge(evidence(steady() + bad))
    result = verdict.gate("no_connection_errors")
    assert result.status is GateStatus.FAIL
    assert (result.numbers["reset"], result.numbers["refused"], result.numbers["timeout"],
            result.numbers["other"]) == (2, 1, 1, 1)
    assert result.numbers["count"] == 5
    assert "reset 2" in result.reason
    assert verdict.counts.by_error_kind == {"other": 1, "refused": 1, "reset": 2, "timeout": 1}
    assert verdict.gate("no_5xx").status is GateStatus.PASS
    assert verdict.gate("all_completed").status is GateStatus.PASS


def test_a_request_still_in_flight_at_stop_fails_all_completed() -> None:
    in_flight = [rec(900, 29.9, error=ErrorKind.INCOMPLETE, m_end=None),
                 rec(901, 29.95, status=None, m_end=None)]  # no error, no answer: still unanswered
    verdict = judge(evidence(steady() + in_flight))
    result = verdict.gate("all_completed")
    assert result.status is GateStatus.FAIL
    assert result.numbers["count"] == 2
    assert verdict.gate("no_connection_errors").status is GateStatus.PASS
    assert verdict.outcome is GateStatus.FAIL
    assert {f.outcome for f in verdict.first_failures} == {"incomplete"}


def test_a_response_without_an_end_time_is_not_complete() -> None:
    verdict = judge(evidence([*steady(), rec(900, 29.0, status=200, m_end=None)]))
    assert verdict.gate("all_completed").status is GateStatus.FAIL
    assert verdict.counts.outcomes.incomplete == 1


def test_4xx_fail_by_default_and_are_listed_as_failures() -> None:
    verdict = judge(evidence([*steady(), rec(900, 5.0, status=404)]))
    assert verdict.gate("no_4xx").status is GateStatus.FAIL
    assert verdict.outcome is GateStatus.FAIL
    assert [label(f.id) for f in verdict.first_failures] == ["r900"]
    assert verdict.counts.outcomes.failed() == 1


def test_4xx_are_reported_but_pass_when_a_scenario_allows_them() -> None:
    verdict = judge(evidence([*steady(), rec(900, 5.0, status=404), rec(901, 6.0, status=429)]),
                    GateConfig(allow_4xx=True))
    assert verdict.outcome is GateStatus.PASS
    gate = verdict.gate("no_4xx")
    assert gate.status is GateStatus.SKIPPED
    assert gate.numbers["count"] == 2
    assert verdict.counts.by_status_class == {"2xx": 300, "4xx": 2}
    assert verdict.first_failures == []


@pytest.mark.parametrize(("config", "status"), [
    (GateConfig(max_failed_requests=3), GateStatus.PASS),
    (GateConfig(max_failed_requests=2), GateStatus.FAIL),
    (GateConfig(max_failed_ratio=0.01), GateStatus.PASS),  # 3 of 303 is 0.99 %
    (GateConfig(max_failed_ratio=0.009), GateStatus.FAIL),
    (GateConfig(max_failed_requests=10, max_failed_ratio=0.005), GateStatus.FAIL),  # both must hold
])
def test_error_budget(config: GateConfig, status: GateStatus) -> None:
    bad = [rec(900, 13.0, status=503), rec(901, 13.1, error=ErrorKind.RESET),
           rec(902, 13.2, error=ErrorKind.INCOMPLETE, m_end=None)]
    verdict = judge(evidence(steady() + bad), config)
    for name in ("no_5xx", "no_connection_errors", "all_completed"):
        result = verdict.gate(name)
        assert result.status is status, (name, result.reason)
        assert result.numbers["failed_total"] == 3
        assert result.numbers["within_budget"] is (status is GateStatus.PASS)
        assert "total loss 3 of 303" in result.reason
    assert verdict.outcome is status


def test_error_budget_does_not_hide_a_failure_kind_that_did_not_happen() -> None:
    verdict = judge(evidence([*steady(), rec(900, 13.0, status=503)]), GateConfig(max_failed_requests=5))
    assert verdict.gate("no_connection_errors").reason == "none of 301 requests failed on the connection"


# --- rollout ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("rollout", "status", "words"), [
    (RolloutFacts(completed=True, deadline_s=60, duration_s=10), GateStatus.PASS, "completed after 10.0s"),
    (RolloutFacts(completed=False, deadline_s=60, duration_s=60, error="ProgressDeadlineExceeded"),
     GateStatus.FAIL, "ProgressDeadlineExceeded"),
    (RolloutFacts(completed=False, deadline_s=60, duration_s=61), GateStatus.FAIL, "did not complete"),
    (RolloutFacts(completed=True, deadline_s=60, duration_s=75), GateStatus.FAIL, "past its deadline"),
    (None, GateStatus.SKIPPED, "no rollout"),
])
def test_rollout_completed(rollout: RolloutFacts | None, status: GateStatus, words: str) -> None:
    result = gate_of(evidence(steady(), run=facts(rollout=rollout)), "rollout_completed")
    assert result.status is status
    assert words in result.reason


# --- disruption observed -------------------------------------------------------------------------


def test_disruption_observed_when_every_old_pod_was_replaced() -> None:
    result = gate_of(evidence(steady()), "disruption_observed")
    assert result.status is GateStatus.PASS
    assert result.numbers["replaced"] == 2
    assert result.numbers["new_ready"] == 2


def test_no_disruption_step_is_inconclusive() -> None:
    timeline = [e for e in rollout_timeline() if e.kind is not TimelineKind.ACTION]
    verdict = judge(evidence(steady(), timeline=timeline))
    assert verdict.gate("disruption_observed").status is GateStatus.INCONCLUSIVE
    assert verdict.outcome is GateStatus.INCONCLUSIVE
    assert not verdict.passed


def test_a_disruption_that_replaced_no_pod_is_inconclusive() -> None:
    # The restart step ran, but nothing happened to the pods afterwards.
    timeline = [e for e in rollout_timeline() if e.kind is not TimelineKind.POD or e.m < M0 + 10.0]
    result = gate_of(evidence(steady(), timeline=timeline), "disruption_observed")
    assert result.status is GateStatus.INCONCLUSIVE
    assert "2 of 2 old pods were never deleted or terminating" in result.reason
    assert "no new pod became ready" in result.reason


def test_pod_changes_before_the_disruption_do_not_count() -> None:
    timeline = rollout_timeline()
    # Shift the disruption start after every pod change: the changes were not caused by it.
    timeline = [e for e in timeline if not (e.kind is TimelineKind.ACTION and e.name == "restart")]
    timeline.append(action(25.0, "restart", "start"))
    result = gate_of(evidence(steady(), timeline=timeline), "disruption_observed")
    assert result.status is GateStatus.INCONCLUSIVE


def test_one_old_pod_left_untouched_is_inconclusive_for_a_rollout() -> None:
    timeline = [e for e in rollout_timeline()
                if not (e.kind is TimelineKind.POD and e.name == OLD[1] and e.m > M0)]
    result = gate_of(evidence(steady(), timeline=timeline), "disruption_observed")
    assert result.status is GateStatus.INCONCLUSIVE
    assert OLD[1] in result.reason


def test_a_pod_kill_needs_only_one_replaced_pod() -> None:
    timeline = [e for e in rollout_timeline()
                if not (e.kind is TimelineKind.POD and e.name == OLD[1] and e.m > M0)]
    config = GateConfig(disruption_replaces="any")
    assert gate_of(evidence(steady(), timeline=timeline), "disruption_observed", config).status is GateStatus.PASS


def test_no_old_pods_recorded_is_inconclusive() -> None:
    result = gate_of(evidence(steady(), run=facts(old_pods=[])), "disruption_observed")
    assert result.status is GateStatus.INCONCLUSIVE
    assert "no pod of the target was recorded" in result.reason


def test_a_scale_down_needs_no_new_pod() -> None:
    timeline = [e for e in rollout_timeline() if not (e.kind is TimelineKind.POD and e.name in NEW)]
    config = GateConfig(disruption_replaces="any", disruption_new_ready=False)
    assert gate_of(evidence(steady(), timeline=timeline), "disruption_observed", config).status is GateStatus.PASS
    strict = GateConfig(disruption_replaces="any")
    assert gate_of(evidence(steady(), timeline=timeline), "disruption_observed", strict).status \
        is GateStatus.INCONCLUSIVE


# --- traffic -----------------------------------------------------------------------------------


def test_no_traffic_at_all_is_inconclusive_never_pass() -> None:
    verdict = judge(evidence([]))
    assert verdict.gate("min_traffic").status is GateStatus.INCONCLUSIVE
    assert verdict.gate("min_traffic").reason == "no request was recorded"
    assert verdict.gate("no_5xx").status is GateStatus.PASS  # vacuously
    assert verdict.outcome is GateStatus.INCONCLUSIVE
    assert verdict.counts.first_m is None
    assert verdict.buckets == []


def test_too_few_requests_is_inconclusive() -> None:
    result = gate_of(evidence(steady(99)), "min_traffic")
    assert result.status is GateStatus.INCONCLUSIVE
    assert "only 99 requests" in result.reason
    assert gate_of(evidence(steady(100)), "min_traffic").status is GateStatus.PASS


def test_traffic_below_the_minimum_rate_is_inconclusive() -> None:
    # 300 requests over the 30 s between traffic start and stop: 10 req/s.
    assert gate_of(evidence(steady()), "min_traffic", GateConfig(min_rate_rps=10)).status is GateStatus.PASS
    result = gate_of(evidence(steady()), "min_traffic", GateConfig(min_rate_rps=10.5))
    assert result.status is GateStatus.INCONCLUSIVE
    assert result.numbers["rate_rps"] == pytest.approx(10.0)


# --- latency -----------------------------------------------------------------------------------


def slow_during_disruption(ms: float) -> list[RequestRecord]:
    records = steady()
    # 120 requests inside the window (+10 s to +22 s), each taking ``ms``.
    return [rec(i, r.m_start - M0, latency=ms / 1000.0) if 10.0 <= r.m_start - M0 <= 21.9 else r
            for i, r in enumerate(records)]


def test_latency_bound_during_disruption() -> None:
    config = GateConfig(latency_p99_ms_during_disruption=250.0)
    slow = gate_of(evidence(slow_during_disruption(400.0)), "latency_during_disruption", config)
    assert slow.status is GateStatus.FAIL
    assert slow.numbers["p99_ms"] == pytest.approx(400.0)
    assert "above the bound of 250 ms" in slow.reason
    fine = gate_of(evidence(slow_during_disruption(200.0)), "latency_during_disruption", config)
    assert fine.status is GateStatus.PASS
    assert fine.numbers["samples"] == 121  # the request ending just as the window opens overlaps it


def test_latency_outside_the_disruption_does_not_count() -> None:
    records = [rec(i, r.m_start - M0, latency=2.0) if r.m_start - M0 < 5.0 else r for i, r in enumerate(steady())]
    config = GateConfig(latency_p99_ms_during_disruption=50.0)
    assert gate_of(evidence(records), "latency_during_disruption", config).status is GateStatus.PASS


def test_latency_without_a_window_or_samples_is_inconclusive() -> None:
    config = GateConfig(latency_p99_ms_during_disruption=50.0)
    no_window = gate_of(evidence(steady(), windows=[]), "latency_during_disruption", config)
    assert no_window.status is GateStatus.INCONCLUSIVE
    no_samples = gate_of(evidence(steady(), windows=[(M0 + 100.0, M0 + 110.0)]), "latency_during_disruption",
                         config)
    assert no_samples.status is GateStatus.INCONCLUSIVE
    assert gate_of(evidence(steady()), "latency_during_disruption").status is GateStatus.SKIPPED


# --- the harness itself --------------------------------------------------------------------------


def test_an_observer_gap_is_an_error_even_when_requests_failed() -> None:
    timeline = [*rollout_timeline(),
                ev(14.0, TimelineKind.OBSERVER, "gap", "endpointslices", resource="endpointslices", what="gap",
                   detail="5 consecutive failures")]
    verdict = judge(evidence([*steady(), rec(900, 13.0, status=503)], timeline=timeline))
    gate = verdict.gate("observers_complete")
    assert gate.status is GateStatus.ERROR
    assert "observer gap in endpointslices at +14.000s" in gate.reason
    assert verdict.outcome is GateStatus.ERROR


def test_harness_errors_make_the_verdict_error() -> None:
    verdict = judge(evidence(steady(), run=facts(harness_errors=["traffic process died (exit -9)"])))
    assert verdict.gate("observers_complete").status is GateStatus.ERROR
    assert verdict.outcome is GateStatus.ERROR
    assert verdict.harness_errors == ["traffic process died (exit -9)"]


def test_a_timeline_without_pods_is_an_error() -> None:
    timeline = [e for e in rollout_timeline() if e.kind is not TimelineKind.POD]
    assert gate_of(evidence(steady(), timeline=timeline), "observers_complete").status is GateStatus.ERROR


# --- first failures and the pod state at that instant -------------------------------------------


def test_first_failures_carry_the_pod_state_when_they_were_sent() -> None:
    # Sent to OLD[0] on a kept-alive connection after it began terminating but while still listed.
    failed = rec(900, 13.7, error=ErrorKind.RESET, conn_pod=OLD[0], detail="connection reset by peer")
    verdict = judge(evidence([*steady(), failed]))
    [first] = verdict.first_failures
    assert (label(first.id), first.pod, first.pod_source, first.outcome) == ("r900", OLD[0], "conn_pod", "reset")
    state = first.pod_state
    assert state.terminating is True
    assert state.ready is False
    assert state.terminating_for_s == pytest.approx(0.7)
    assert state.in_endpoints is True
    assert (state.endpoint_ready, state.endpoint_serving, state.endpoint_terminating) == (False, True, True)
    assert (state.endpoints_total, state.endpoints_ready) == (3, 2)
    assert first.offset_s == pytest.approx(13.7)
    assert "terminating for 0.70s" in first.describe()


def test_a_failure_after_the_pod_left_the_endpoints() -> None:
    failed = rec(900, 16.0, status=502, pod=OLD[0])
    [first] = judge(evidence([*steady(), failed])).first_failures
    assert first.pod_source == "pod"
    assert first.pod_state.exists is False  # deleted at +15 s
    assert first.pod_state.in_endpoints is False
    assert first.pod_state.endpoints_ready == 2


def test_a_failure_with_no_pod_is_annotated_unknown() -> None:
    [first] = judge(evidence([*steady(), rec(900, 13.6, error=ErrorKind.REFUSED)])).first_failures
    assert (first.pod, first.pod_source) == ("unknown", "unknown")
    assert first.pod_state.known is False
    assert first.pod_state.endpoints_total == 3  # the endpoint set is still described


def test_a_failure_exactly_at_a_transition_sees_the_transition() -> None:
    # OLD[0] turns terminating at exactly +13.0 s: a request sent at that instant sees it terminating.
    at_instant = rec(900, 13.0, error=ErrorKind.RESET, conn_pod=OLD[0])
    just_before = rec(901, 12.999999, error=ErrorKind.RESET, conn_pod=OLD[0])
    failures = {label(f.id): f for f in judge(evidence([*steady(), at_instant, just_before])).first_failures}
    assert failures["r900"].pod_state.terminating is True
    assert failures["r901"].pod_state.terminating is False


def test_first_failures_are_the_earliest_and_bounded() -> None:
    bad = [rec(1000 + i, 25.0 - i * 0.1, status=503) for i in range(30)]  # written latest-first
    verdict = judge(evidence(steady() + bad, first_failures=5))
    assert [label(f.id) for f in verdict.first_failures] == ["r1029", "r1028", "r1027", "r1026", "r1025"]
    assert verdict.gate("no_5xx").numbers["count"] == 30


# --- judging a saved run directory ---------------------------------------------------------------


def write_run_dir(path: Path, records: list[RequestRecord], *, gates: GateConfig | None = None,
                  run: RunFacts | None = None, shuffle: bool = True) -> None:
    """A run directory as a run writes it: the records numbered, with the traffic process's report."""
    timeline = rollout_timeline()
    if shuffle:
        random.Random(3).shuffle(timeline)  # observers write in arrival order, not clock order
    numbered, report = accounted(records)
    (path / TIMELINE_FILE).write_text("".join(e.to_json() + "\n" for e in timeline))
    (path / REQUESTS_FILE).write_text("".join(r.to_json() + "\n" for r in numbered))
    run = (run or facts()).model_copy(update={"traffic": report})
    write_run_record(path, RunRecord(facts=run, gates=gates or GateConfig()))


def test_judge_run_dir_gives_the_same_verdict_as_judging_in_memory(tmp_path: Path) -> None:
    records = [*steady(), rec(900, 13.7, error=ErrorKind.RESET, conn_pod=OLD[0]), rec(901, 14.2, status=503)]
    write_run_dir(tmp_path, records)
    from_disk = judge_run_dir(tmp_path)
    in_memory = judge(evidence(records, windows=[(M0 + 10.0, M0 + 22.0)]))
    assert from_disk.outcome is GateStatus.FAIL
    assert [(g.name, g.status, g.reason) for g in from_disk.gates] == \
        [(g.name, g.status, g.reason) for g in in_memory.gates]
    assert from_disk.counts == in_memory.counts
    assert from_disk.first_failures == in_memory.first_failures
    assert from_disk.disruption_windows == [(M0 + 10.0, M0 + 22.0)]  # restart start .. settle end


def test_judge_run_dir_with_a_config_override(tmp_path: Path) -> None:
    write_run_dir(tmp_path, [*steady(), rec(900, 13.0, status=503)])
    assert judge_run_dir(tmp_path).outcome is GateStatus.FAIL
    relaxed = judge_run_dir(tmp_path, GateConfig(max_failed_requests=1))
    assert relaxed.outcome is GateStatus.PASS
    assert relaxed.config.max_failed_requests == 1


def test_judge_run_dir_uses_recorded_windows_when_present(tmp_path: Path) -> None:
    write_run_dir(tmp_path, steady(), run=facts(disruption_windows=[(M0 + 1.0, M0 + 2.0)]))
    assert judge_run_dir(tmp_path).disruption_windows == [(M0 + 1.0, M0 + 2.0)]


def test_judge_run_dir_counts_unreadable_lines_as_an_error(tmp_path: Path) -> None:
    write_run_dir(tmp_path, steady())
    with (tmp_path / REQUESTS_FILE).open("a") as fh:
        fh.write('{"id":"torn","user":"u","conn":"keep-al')
    verdict = judge_run_dir(tmp_path)
    assert verdict.counts.malformed_lines == 1
    assert verdict.counts.total == 300
    assert verdict.gate("records_readable").status is GateStatus.ERROR
    assert verdict.outcome is GateStatus.ERROR


def test_judge_run_dir_with_missing_evidence_is_an_error(tmp_path: Path) -> None:
    write_run_dir(tmp_path, steady())
    (tmp_path / REQUESTS_FILE).unlink()
    verdict = judge_run_dir(tmp_path)
    assert verdict.outcome is GateStatus.ERROR
    assert "requests.jsonl is missing" in verdict.harness_errors
    (tmp_path / TIMELINE_FILE).unlink()
    assert "timeline.jsonl is missing" in judge_run_dir(tmp_path).harness_errors


def test_judge_run_dir_needs_run_json(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"run\.json does not exist"):
        judge_run_dir(tmp_path)


def test_a_bad_run_json_names_the_field(tmp_path: Path) -> None:
    write_run_dir(tmp_path, steady())
    data = json.loads((tmp_path / "run.json").read_text())
    data["gates"]["min_requests"] = "lots"
    (tmp_path / "run.json").write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"gates\.min_requests"):
        judge_run_dir(tmp_path)


def test_run_json_rejects_unknown_fields(tmp_path: Path) -> None:
    write_run_dir(tmp_path, steady())
    data = json.loads((tmp_path / "run.json").read_text())
    data["gates"]["min_request"] = 5
    (tmp_path / "run.json").write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"gates\.min_request"):
        judge_run_dir(tmp_path)


def test_new_pods_that_never_became_ready_do_not_count() -> None:
    timeline = [e for e in rollout_timeline()
                if not (e.kind is TimelineKind.POD and e.name in NEW and e.data.get("ready"))]
    result = gate_of(evidence(steady(), timeline=timeline), "disruption_observed")
    assert result.status is GateStatus.INCONCLUSIVE
    assert result.numbers["new_ready"] == 0
    assert result.numbers["replaced"] == 2


def test_judge_run_dir_with_unreadable_timeline_lines_is_an_error(tmp_path: Path) -> None:
    write_run_dir(tmp_path, steady())
    with (tmp_path / TIMELINE_FILE).open("a") as fh:
        fh.write('{"t": 1, "m": 2, "kind": "pod", "ty\n')
    verdict = judge_run_dir(tmp_path)
    assert verdict.outcome is GateStatus.ERROR
    assert any("timeline.jsonl has 1 unreadable line(s)" in e for e in verdict.harness_errors)
    assert verdict.gate("disruption_observed").status is GateStatus.PASS  # the readable lines still count


def test_disallowed_4xx_join_the_first_failures_in_clock_order() -> None:
    bad = [rec(900, 14.0, status=503), rec(901, 12.0, status=404), rec(902, 13.0, error=ErrorKind.RESET),
           rec(903, 11.0, status=429), rec(904, 15.0, status=400)]
    verdict = judge(evidence(steady() + bad, first_failures=4), GateConfig(allow_4xx=False))
    assert [label(f.id) for f in verdict.first_failures] == ["r903", "r901", "r902", "r900"]
    assert [f.outcome for f in verdict.first_failures] == ["http_4xx", "http_4xx", "reset", "http_5xx"]
