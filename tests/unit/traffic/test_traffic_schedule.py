"""Open-loop traffic without a network: the schedule (rate, seed, Poisson mean), the in-flight cap and
how a request it stops is accounted, and the keep-alive pool's bookkeeping."""

from __future__ import annotations

import itertools
import json
import math
import statistics
from collections.abc import Iterator

import pytest

from harness.evidence import ConnectionMode, ErrorKind, LinesDigest, RequestRecord
from harness.traffic.config import TrafficConfig
from harness.traffic.pool import KeepAlivePool
from harness.traffic.recorder import NOT_SENT_DETAIL, Recorder, apply_answer
from harness.traffic.schedule import DueTimes, InFlight, arrival_offsets, default_in_flight_cap, mode_rng


def _first(offsets: Iterator[float], n: int) -> list[float]:
    return list(itertools.islice(offsets, n))


@pytest.mark.parametrize("rate", [0.5, 7.0, 1000.0, 2500.0])
def test_uniform_arrivals_come_every_one_over_rate_seconds(rate: float) -> None:
    offsets = _first(arrival_offsets(rate, "uniform"), 10_001)
    assert offsets[0] == 0.0
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(offsets)}
    assert gaps == {round(1.0 / rate, 9)}
    # k / rate, not a running sum: the 10,000th arrival is exactly where it belongs.
    assert offsets[10_000] == pytest.approx(10_000 / rate, rel=1e-12)


def test_uniform_arrivals_in_a_window_match_the_rate() -> None:
    offsets = arrival_offsets(200.0, "uniform")
    in_ten_seconds = sum(1 for _ in itertools.takewhile(lambda t: t < 10.0, offsets))
    assert in_ten_seconds == 2000


def test_poisson_arrivals_have_the_rate_as_their_mean() -> None:
    rate = 400.0
    offsets = _first(arrival_offsets(rate, "poisson", mode_rng(7, "new")), 40_000)
    gaps = [b - a for a, b in itertools.pairwise([0.0, *offsets])]
    assert all(g > 0 for g in gaps)
    # 40,000 exponential gaps: the mean is within 2 % of 1/rate (its standard error is 0.5 %), and
    # the spread of an exponential equals its mean.
    assert statistics.fmean(gaps) == pytest.approx(1.0 / rate, rel=0.02)
    assert statistics.pstdev(gaps) == pytest.approx(1.0 / rate, rel=0.05)
    # Counts per second scatter like a Poisson variable: variance close to the mean.
    per_second = [0] * math.ceil(offsets[-1])
    for t in offsets:
        per_second[int(t)] += 1
    full = per_second[:-1]
    assert statistics.fmean(full) == pytest.approx(rate, rel=0.03)
    assert statistics.pvariance(full) == pytest.approx(rate, rel=0.5)


def test_the_same_seed_and_mode_give_the_same_schedule_and_others_do_not() -> None:
    def schedule(seed: int, mode: str) -> list[float]:
        return _first(arrival_offsets(50.0, "poisson", mode_rng(seed, mode)), 200)

    assert schedule(3, "new") == schedule(3, "new")
    assert schedule(3, "new") != schedule(4, "new")
    assert schedule(3, "new") != schedule(3, "keep-alive")


def test_poisson_arrivals_need_a_random_source_and_rates_must_be_positive() -> None:
    with pytest.raises(ValueError, match="seeded"):
        next(arrival_offsets(10.0, "poisson"))
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="positive"):
            next(arrival_offsets(bad, "uniform"))


def test_due_times_put_the_schedule_on_both_clocks() -> None:
    due = DueTimes(arrival_offsets(4.0, "uniform"), origin_m=100.0, origin_t=1_700_000_000.0)
    assert [due.next() for _ in range(3)] == [(100.0, 1_700_000_000.0), (100.25, 1_700_000_000.25),
                                              (100.5, 1_700_000_000.5)]
    assert due.taken == 3


def test_the_default_cap_is_rate_times_timeout_with_headroom_plus_users() -> None:
    assert default_in_flight_cap(100.0, 5.0, 10) == 610
    assert default_in_flight_cap(0.3, 1.0, 1) == 2  # ceil(0.36) + 1
    cfg = TrafficConfig(url="http://x", out="o", run_id="r", rate=200, users=20, timeout_s=5)
    assert cfg.mode_rates == {"keep-alive": 100.0, "new": 100.0}
    assert cfg.in_flight_cap("new") == 610
    assert cfg.model_copy(update={"max_in_flight": 7}).in_flight_cap("new") == 7
    assert (cfg.model, cfg.arrivals) == ("open", "uniform")


def test_the_in_flight_cap_refuses_exactly_beyond_it_and_frees_places() -> None:
    cap = InFlight(3)
    assert [cap.try_start() for _ in range(5)] == [True, True, True, False, False]
    assert (cap.current, cap.peak, cap.not_sent) == (3, 3, 2)
    cap.done()
    assert cap.try_start() is True
    assert (cap.current, cap.peak, cap.not_sent) == (3, 3, 2)
    for _ in range(3):
        cap.done()
    with pytest.raises(RuntimeError, match="never started"):
        cap.done()
    with pytest.raises(ValueError, match="at least 1"):
        InFlight(0)


def test_a_request_stopped_by_the_cap_is_one_failed_record_counted_as_sent() -> None:
    recorder = Recorder("run1")
    cap = InFlight(1)
    user, mode = "NewConnectionUser", ConnectionMode.NEW
    assert cap.try_start()
    sent = recorder.begin(user, mode, t_start=10.001, m_start=5.001, t_sched=10.0, m_sched=5.0)
    assert not cap.try_start()
    refused = recorder.not_sent(user, mode, t_sched=10.01, m_sched=5.01, t_now=10.0102, m_now=5.0102)
    # The first is still in flight; the refused one is finished at once, never in flight.
    assert list(recorder.inflight) == [sent.id]
    assert (refused.error, refused.detail, refused.ok) == (ErrorKind.NOT_SENT, NOT_SENT_DETAIL, False)
    assert (refused.m_sched, refused.m_start) == (5.01, 5.0102)
    tally = recorder.tally
    assert (tally.sent, tally.ok, tally.failed, tally.max_seq) == (2, 0, 1, 2)
    assert tally.by_user == {user: 2} and tally.by_conn == {"new": 2}
    # At the stop, the one in flight is recorded as sent and never answered.
    assert recorder.abandon_inflight() == 1
    lines = recorder.take_lines()
    assert recorder.take_lines() == []
    parsed = [RequestRecord.from_dict(json.loads(line)) for line in lines]
    assert [(r.id, r.error) for r in parsed] == [("run1-00000002", ErrorKind.NOT_SENT),
                                                 ("run1-00000001", ErrorKind.INCOMPLETE)]
    assert [(r.t_sched, r.m_sched) for r in parsed] == [(10.01, 5.01), (10.0, 5.0)]
    digest = LinesDigest()
    digest.update(("\n".join(lines) + "\n").encode())
    assert digest.total_lines == tally.sent == 2


def test_an_answer_shorter_than_announced_is_a_failure_on_the_connection() -> None:
    def record() -> RequestRecord:
        return RequestRecord(id="r-1", user="u", conn=ConnectionMode.KEEP_ALIVE, t_start=1.0, m_start=1.0)

    whole = record()
    assert apply_answer(whole, 200, {"content-length": "2", "x-pod": "p1", "x-version": "v2"}, b"ok",
                        complete=True, m_end=1.5, t_end=1.5)
    assert (whole.ok, whole.pod, whole.version, whole.bytes) == (True, "p1", "v2", 2)
    cut = record()
    assert not apply_answer(cut, 200, {"content-length": "10"}, b"ok", complete=True, m_end=1.5, t_end=1.5)
    assert (cut.error, cut.status, cut.ok) == (ErrorKind.RESET, None, False)
    unfinished = record()
    assert not apply_answer(unfinished, 200, {}, b"o", complete=False, m_end=1.5, t_end=1.5)
    assert unfinished.error is ErrorKind.RESET
    busy = record()
    assert apply_answer(busy, 503, {"x-pod": "p2"}, b"draining", complete=True, m_end=1.5, t_end=1.5)
    assert (busy.status, busy.detail, busy.ok) == (503, "draining", False)


class _Conn:
    def __init__(self, name: str) -> None:
        self.name = name
        self.open = True


def test_the_keep_alive_pool_reuses_idle_connections_and_drops_closed_ones() -> None:
    closed: list[str] = []

    def close(conn: _Conn) -> None:
        conn.open = False
        closed.append(conn.name)

    pool: KeepAlivePool[_Conn] = KeepAlivePool(alive=lambda c: c.open, close=close)
    assert pool.take() is None  # nothing idle: the caller opens one
    a = pool.opened_one(_Conn("a"))
    b = pool.opened_one(_Conn("b"))  # a is still busy, so a second request opens a second connection
    assert a.last_pod is None
    pool.give_back(a, "pod-1")
    pool.give_back(b, "pod-2")
    # Most recently used first, and each connection remembers who answered on it last.
    taken = pool.take()
    assert taken is b and taken.last_pod == "pod-2"
    pool.drop(taken)  # e.g. the answer said Connection: close
    a.handle.open = False  # the server closed the idle one
    assert pool.take() is None
    assert closed == ["b", "a"]
    assert (pool.opened, pool.reused, pool.dropped) == (2, 1, 2)
    c = pool.opened_one(_Conn("c"))
    pool.give_back(c, "pod-3")
    pool.close_all()
    assert closed == ["b", "a", "c"] and pool.idle == []
