"""Outage duration: per connection mode, the longest run of consecutive failed requests in the order
they were due, and the time it spans; on data built here and on a recorded run."""

from __future__ import annotations

import gzip
import random
from array import array
from collections.abc import Callable
from itertools import groupby
from pathlib import Path

import pytest

from harness.evidence import ConnectionMode, ErrorKind, RequestRecord, read_requests
from harness.verdict import summarize_requests, summarize_requests_file
from harness.verdict.outage import OutageRun, longest_run
from harness.verdict.summary import classify

RECORDED = Path(__file__).parents[1] / "data" / "recorded" / "naive-rolling-restart"


def _shuffled(values: list[float]) -> array[float]:
    copy = values[:]
    random.Random(1).shuffle(copy)
    return array("d", copy)


def test_the_longest_run_is_found_whatever_order_the_times_come_in() -> None:
    ok = [float(t) for t in (0, 1, 2, 6, 7, 12)]
    failed = [3.0, 4.0, 5.0, 8.0, 9.0, 10.0, 11.0, 13.0]
    run = longest_run(_shuffled(ok), _shuffled(failed))
    assert run == OutageRun(failed=4, first_m=8.0, last_m=11.0, span_s=3.0, ok_before_m=7.0, ok_after_m=12.0)
    assert run.bound_s == 5.0


def test_of_equally_long_runs_the_earliest_counts_and_edges_have_no_bound() -> None:
    run = longest_run(array("d", [2.0, 5.0]), array("d", [0.0, 1.0, 3.0, 4.0, 6.0, 7.0]))
    assert run is not None
    assert (run.failed, run.first_m, run.last_m, run.ok_before_m, run.ok_after_m) == (2, 0.0, 1.0, None, 2.0)
    assert run.bound_s is None
    only_failures = longest_run(array("d"), array("d", [4.0, 3.0]))
    assert only_failures == OutageRun(failed=2, first_m=3.0, last_m=4.0, span_s=1.0)


def test_a_success_due_at_the_same_instant_counts_before_the_failure() -> None:
    run = longest_run(array("d", [1.0, 3.0]), array("d", [1.0, 2.0, 3.0]))
    assert run is not None
    # Order: ok@1, fail@1, fail@2, ok@3, fail@3: the run is the two failures due at 1 and 2.
    assert (run.failed, run.first_m, run.last_m, run.ok_before_m, run.ok_after_m) == (2, 1.0, 2.0, 1.0, 3.0)


def test_nothing_failed_means_no_run() -> None:
    assert longest_run(array("d", [1.0, 2.0]), array("d")) is None


M0, T0 = 100.0, 1_700_000_000.0


def _stream(mode: ConnectionMode, rate: float, seconds: float, outcome: Callable[[float], str]) -> list[RequestRecord]:
    """Requests due every 1/rate s; a failed one times out 1 s later, so records come out of due order."""
    out = []
    for i in range(int(rate * seconds)):
        at = i / rate
        rec = RequestRecord(id=f"o-{mode.value}-{i}", user=mode.name, conn=mode, t_start=T0 + at + 0.001,
                            m_start=M0 + at + 0.001, t_sched=T0 + at, m_sched=M0 + at)
        kind = outcome(at)
        if kind == "timeout":
            rec.t_end, rec.m_end, rec.error = rec.t_start + 1.0, rec.m_start + 1.0, ErrorKind.TIMEOUT
        elif kind == "not_sent":
            rec.error = ErrorKind.NOT_SENT
        else:
            rec.t_end, rec.m_end, rec.status = rec.t_start + 0.002, rec.m_start + 0.002, int(kind)
        out.append(rec)
    out.sort(key=lambda r: r.m_end if r.m_end is not None else r.m_start)
    return out


def test_the_summary_orders_failures_by_due_time_per_mode() -> None:
    def new(at: float) -> str:
        if 4.0 <= at < 6.5:
            return "timeout"
        return "not_sent" if 6.5 <= at < 7.0 else "200"

    def keepalive(at: float) -> str:
        if abs(at - 3.2) < 1e-9:
            return "404"  # a 4xx is an answer: it ends a run
        return "503" if 3.0 <= at < 3.5 or 8.0 <= at < 8.2 else "200"

    records = _stream(ConnectionMode.NEW, 100, 10, new) + _stream(ConnectionMode.KEEP_ALIVE, 50, 10, keepalive)
    outages = summarize_requests(records).counts.outages
    assert set(outages) == {"keep-alive", "new"}
    new_run = outages["new"]
    assert new_run.failed == 300  # 250 timeouts and 50 requests never sent, all in a row
    assert (new_run.first_m, new_run.last_m) == pytest.approx((M0 + 4.0, M0 + 6.99))
    assert new_run.span_s == pytest.approx(2.99)
    assert new_run.bound_s == pytest.approx(3.01)
    ka = outages["keep-alive"]
    # 3.00..3.18 (10), the 404 at 3.20, 3.22..3.48 (14), 8.00..8.18 (10): the middle one is longest.
    assert ka.failed == 14 and ka.first_m == pytest.approx(M0 + 3.22) and ka.ok_before_m == pytest.approx(M0 + 3.2)


def test_the_file_pass_with_workers_finds_the_same_runs(tmp_path: Path) -> None:
    records = _stream(ConnectionMode.NEW, 200, 20, lambda at: "timeout" if 11.0 <= at < 12.5 else "200")
    path = tmp_path / "requests.jsonl"
    path.write_text("".join(r.to_json() + "\n" for r in records))
    in_memory = summarize_requests(records).counts.outages
    assert summarize_requests_file(path, workers=1).counts.outages == in_memory
    assert summarize_requests_file(path, workers=3).counts.outages == in_memory
    assert in_memory["new"].failed == 300


def _brute_force(records: list[RequestRecord]) -> dict[str, tuple[int, float, float]]:
    """The longest run per mode, straight from the definition: sort by due time (a success first
    at a tie), then count consecutive failures."""
    result: dict[str, tuple[int, float, float]] = {}
    for mode, group in groupby(sorted(records, key=lambda r: r.conn.value), key=lambda r: r.conn.value):
        def failed(r: RequestRecord) -> bool:
            outcome = classify(r.status, None if r.error is None else r.error.value, r.m_end)
            return outcome not in ("ok", "http_4xx")

        def due(r: RequestRecord) -> float:
            return r.m_start if r.m_sched is None else r.m_sched

        ordered = sorted(group, key=lambda r: (due(r), failed(r)))
        best: tuple[int, float, float] | None = None
        run: list[RequestRecord] = []
        for rec in [*ordered, None]:
            if rec is not None and failed(rec):
                run.append(rec)
                continue
            if run and (best is None or len(run) > best[0]):
                best = (len(run), due(run[0]), due(run[-1]))
            run = []
        if best is not None:
            result[mode] = best
    return result


def test_the_recorded_naive_rolling_restart_agrees_with_the_definition(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    path.write_bytes(gzip.decompress((RECORDED / "requests.jsonl.gz").read_bytes()))
    records = list(read_requests(path))
    expected = _brute_force(records)
    outages = summarize_requests_file(path).counts.outages
    assert expected, "the recorded naive rollout lost requests, so it has an outage"
    assert {mode: (run.failed, run.first_m, run.last_m) for mode, run in outages.items()} == expected
    for run in outages.values():
        assert run.span_s == pytest.approx(run.last_m - run.first_m)
