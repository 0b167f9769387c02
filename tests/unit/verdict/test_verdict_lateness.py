"""traffic_on_schedule: a generator that fell behind its schedule makes the verdict INCONCLUSIVE, with
numbers, unless failures already prove FAIL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.evidence import ConnectionMode, ErrorKind, RequestRecord
from harness.verdict import (
    DEFAULT_GATES,
    Evidence,
    GateConfig,
    GateStatus,
    RunFacts,
    decide,
    judge,
    no_connection_errors,
    summarize_requests,
)
from harness.verdict.lateness import LATE_EDGES_MS, late_column, traffic_on_schedule
from harness.verdict.summary import summarize_requests_file

M0 = 500.0
T0 = 1_700_000_000.0
RATE = 100.0  # per mode

Late = Callable[[int, float], float]  # (index, due offset) -> lateness in seconds


def _records(mode: ConnectionMode, seconds: float, late: Late = lambda i, at: 0.0005,
             status: Callable[[float], int | None] = lambda at: 200, scheduled: bool = True,
             not_sent: Callable[[float], bool] = lambda at: False) -> list[RequestRecord]:
    out: list[RequestRecord] = []
    for i in range(int(seconds * RATE)):
        at = i / RATE
        sent_at = at + late(i, at)
        rec = RequestRecord(id=f"r-{mode.value}-{i}", user=mode.name, conn=mode, t_start=T0 + sent_at,
                            m_start=M0 + sent_at)
        if scheduled:
            rec.t_sched, rec.m_sched = T0 + at, M0 + at
        if not_sent(at):
            rec.error, rec.detail = ErrorKind.NOT_SENT, "not sent: in-flight cap"
        elif (code := status(at)) is None:
            rec.t_end, rec.m_end = rec.t_start + 1.0, rec.m_start + 1.0
            rec.error = ErrorKind.REFUSED
        else:
            rec.t_end, rec.m_end, rec.status = rec.t_start + 0.002, rec.m_start + 0.002, code
        out.append(rec)
    return out


def _evidence(records: list[RequestRecord]) -> Evidence:
    facts = RunFacts(scenario="s", run_id="s-1", started_at=T0, traffic_started_m=M0, traffic_stopped_m=M0 + 20)
    # Records land in the file in the order they end, not in the order they were due.
    records.sort(key=lambda r: r.m_end if r.m_end is not None else r.m_start)
    return Evidence(summary=summarize_requests(records), timeline=[], facts=facts)


def _both(**kw: object) -> list[RequestRecord]:
    return _records(ConnectionMode.KEEP_ALIVE, 20, **kw) + _records(ConnectionMode.NEW, 20, **kw)  # type: ignore[arg-type]


def test_requests_sent_on_time_pass_with_their_lateness_stated() -> None:
    result = traffic_on_schedule(_evidence(_both()), GateConfig())
    assert result.status is GateStatus.PASS, result.reason
    assert result.numbers["new_scheduled"] == 2000
    assert result.numbers["new_lateness_p99_ms"] == pytest.approx(0.5)
    assert result.numbers["new_short_seconds"] == 0
    assert "p99 0.5 ms" in result.reason


def test_a_late_generator_is_inconclusive_saying_by_how_much() -> None:
    # Every 50th request leaves 80 ms late: 2 % of them, so p99 is 80 ms and no second is short.
    def late(i: int, at: float) -> float:
        return 0.080 if i % 50 == 0 else 0.0005

    records = _records(ConnectionMode.KEEP_ALIVE, 20) + _records(ConnectionMode.NEW, 20, late=late)
    result = traffic_on_schedule(_evidence(records), GateConfig())
    assert result.status is GateStatus.INCONCLUSIVE
    assert result.reason == ("traffic generator saturated: new requests left 80.0 ms late at p99 (max 80 ms), "
                             "above the bound of 50 ms")
    assert "keep-alive" not in result.reason
    assert result.numbers["new_short_seconds"] == 0
    assert traffic_on_schedule(_evidence(records), GateConfig(max_lateness_p99_ms=100)).status is GateStatus.PASS


def test_one_stalled_second_is_inconclusive_even_when_p99_looks_fine() -> None:
    # The generator stalls until +7.3 s: the requests due from +7.0 s leave then, up to 300 ms late.
    # The 26 due up to +7.25 s leave 50 ms late or more: under 1 % of a 60 s run, a quarter of that second.
    def late(i: int, at: float) -> float:
        return 7.3 - at if 7.0 <= at < 7.3 else 0.0005

    records = _records(ConnectionMode.KEEP_ALIVE, 60) + _records(ConnectionMode.NEW, 60, late=late)
    result = traffic_on_schedule(_evidence(records), GateConfig())
    # 0.5 ms late, at the upper edge of its 0.1 ms bin (never below the truth) now that the max is higher.
    assert result.numbers["new_lateness_p99_ms"] == pytest.approx(0.6)
    assert result.status is GateStatus.INCONCLUSIVE
    assert result.numbers["new_short_seconds"] == 1
    assert result.reason == ("traffic generator saturated: 1 second(s) in which fewer than 80% of the new requests "
                             "due were sent within 50 ms (worst +7s: 74 of 100)")


def test_requests_stopped_by_the_cap_are_inconclusive_and_counted_as_failed() -> None:
    records = _records(ConnectionMode.KEEP_ALIVE, 20) + _records(
        ConnectionMode.NEW, 20, not_sent=lambda at: 12.0 <= at < 12.05)
    evidence = _evidence(records)
    result = traffic_on_schedule(evidence, GateConfig())
    assert result.status is GateStatus.INCONCLUSIVE
    assert "5 new requests were not sent: the in-flight cap was reached" in result.reason
    outcomes = evidence.summary.counts.outcomes
    assert outcomes.not_sent == 5 and outcomes.failed() == 5 and outcomes.total == 4000


def test_a_bound_between_edges_is_judged_at_the_edge_below() -> None:
    # 30 ms late everywhere: within a bound of 40 ms at p99, but the per-second check at 40 ms uses
    # the 20 ms edge, so every second is short; it says so.
    records = _both(late=lambda i, at: 0.030)
    result = traffic_on_schedule(_evidence(records), GateConfig(max_lateness_p99_ms=40))
    assert result.numbers["on_time_within_ms"] == 20
    assert result.status is GateStatus.INCONCLUSIVE and "sent within 20 ms" in result.reason
    assert traffic_on_schedule(_evidence(records), GateConfig(max_lateness_p99_ms=50)).status is GateStatus.PASS


def test_closed_loop_records_have_no_schedule_and_skip_the_gate() -> None:
    result = traffic_on_schedule(_evidence(_both(scheduled=False)), GateConfig())
    assert result.status is GateStatus.SKIPPED


def test_records_missing_a_schedule_among_scheduled_ones_are_inconclusive() -> None:
    records = _records(ConnectionMode.KEEP_ALIVE, 20) + _records(ConnectionMode.NEW, 20)
    records[5].t_sched = records[5].m_sched = None
    result = traffic_on_schedule(_evidence(records), GateConfig())
    assert result.status is GateStatus.INCONCLUSIVE
    assert "1 keep-alive records carry no scheduled time" in result.reason


def test_a_proven_failure_stays_fail_when_the_generator_was_also_late() -> None:
    records = _both(late=lambda i, at: 0.2, status=lambda at: None if 5.0 <= at < 6.0 else 200)
    evidence = _evidence(records)
    verdict = judge(evidence, GateConfig(), gates=(no_connection_errors, traffic_on_schedule))
    assert verdict.gate("traffic_on_schedule").status is GateStatus.INCONCLUSIVE
    assert verdict.gate("no_connection_errors").status is GateStatus.FAIL
    assert verdict.outcome is GateStatus.FAIL
    assert decide([verdict.gate("traffic_on_schedule")]) is GateStatus.INCONCLUSIVE
    assert traffic_on_schedule in DEFAULT_GATES


def test_lateness_survives_the_file_pass_and_its_workers(tmp_path: Path) -> None:
    def late(i: int, at: float) -> float:
        return 0.120 if 3.0 <= at < 3.4 else 0.001

    records = _records(ConnectionMode.KEEP_ALIVE, 20) + _records(ConnectionMode.NEW, 20, late=late)
    path = tmp_path / "requests.jsonl"
    path.write_text("".join(r.to_json() + "\n" for r in records))
    one = summarize_requests_file(path, workers=1)
    three = summarize_requests_file(path, workers=3)
    memory = summarize_requests(records)
    for summary in (three, memory):
        assert set(summary.lateness) == set(one.lateness)
        for mode, stats in one.lateness.items():
            other = summary.lateness[mode]
            assert other.seconds == stats.seconds
            assert other.percentile(99) == stats.percentile(99)
            assert other.sent == stats.sent == 2000
    assert one.lateness["new"].seconds[int(M0 + 3)][late_column(120.0)] == 40
    assert LATE_EDGES_MS[late_column(120.0)] == 200
