"""One streaming pass over the request records.

A run can hold millions of requests, so nothing here keeps a list of them: counts, per-bucket
counts, a bounded latency digest, the first N failing records, which ids were seen (one byte per id)
and the digest of the lines are all the verdict needs.

A line is malformed (counted, never judged) when it is no JSON object of a request, or when a time
in it is not a finite number, or when its answer ended (monotonic clock) before it started. Only the
monotonic times are held to that order: the wall clock may be stepped during a run.
"""

from __future__ import annotations

import bisect
import contextlib
import heapq
import json
import math
import multiprocessing
import os
import threading
from array import array
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from harness.evidence import ConnectionMode, ErrorKind, LinesDigest, RequestRecord, bare_file_digest, file_digest
from harness.log import get_logger
from harness.verdict import fastparse
from harness.verdict.ids import DEFAULT_SEQ_LIMIT, IdTally
from harness.verdict.lateness import COLUMNS, LATE_EDGES_MS, LATE_STEPS_PER_MS, NOT_SENT_COLUMN, ModeLateness
from harness.verdict.model import Bucket, Counts, LatencyStats, OutcomeCounts
from harness.verdict.outage import OutageTally

__all__ = [
    "OUTCOMES",
    "LatencyDigest",
    "RequestSummary",
    "classify",
    "default_workers",
    "summarize_requests",
    "summarize_requests_file",
]

# Column order of every per-outcome counter; names are OutcomeCounts fields.
OUTCOMES: tuple[str, ...] = (
    "ok", "http_4xx", "http_5xx", "refused", "reset", "timeout", "incomplete", "other", "bad_status", "not_sent",
    "unexpected_status",
)
_OK, _H4, _H5, _INCOMPLETE, _BAD, _NOT_SENT, _UNEXPECTED = 0, 1, 2, 6, 8, 9, 10
_ERROR_COLUMN: dict[str, int] = {
    ErrorKind.REFUSED.value: 3,
    ErrorKind.RESET.value: 4,
    ErrorKind.TIMEOUT.value: 5,
    ErrorKind.INCOMPLETE.value: _INCOMPLETE,
    ErrorKind.OTHER.value: 7,
    ErrorKind.NOT_SENT.value: _NOT_SENT,
}
_CONN_MODES = frozenset(mode.value for mode in ConnectionMode)

log = get_logger(__name__)
_FIRST_FAILING = _H5  # columns from here on are failures whatever the gate settings


def classify(status: object, error: str | None, m_end: float | None, expect: Sequence[int] | None = None) -> str:
    """The outcome (an OutcomeCounts field) of one request. ``status`` as recorded: only an integer
    is a status, and only 200-599 an HTTP answer; ``expect``, the record's own expect_status."""
    return OUTCOMES[_column(status, error, m_end, expect)]


def _expected_column(status: int, expect: Sequence[int]) -> int:
    """A request with its own expect_status: a status it names is an answer; a 5xx it does not name
    stays a 5xx; any other answer is unexpected; what is no final answer stays a bad status."""
    if status in expect and 100 <= status < 600:
        return _OK
    if 500 <= status < 600:
        return _H5
    return _UNEXPECTED if 200 <= status < 500 else _BAD


def _column(status: object, error: str | None, m_end: float | None, expect: Sequence[int] | None = None) -> int:
    if error is not None:
        return _ERROR_COLUMN[error]
    if status is None:
        # No answer recorded: the request was still in flight when the record was written.
        return _INCOMPLETE
    if type(status) is not int:
        return _BAD
    if m_end is None:
        return _INCOMPLETE
    if expect is not None:
        return _expected_column(status, expect)
    if 200 <= status < 400:
        return _OK
    if 500 <= status < 600:
        return _H5
    if 400 <= status < 500:
        return _H4
    return _BAD


class LatencyDigest:
    """Latency samples in milliseconds: exact up to ``exact_cap`` samples, then folded into a
    logarithmic histogram with 1 %-wide bins, so a percentile stays within 0.5 % of the true value
    (above a few microseconds) and memory stays bounded whatever the run's length."""

    __slots__ = ("count", "exact_cap", "hist", "max_ms", "samples")

    def __init__(self, exact_cap: int = 200_000) -> None:
        self.exact_cap = exact_cap
        self.samples: array[float] | None = array("d") if exact_cap > 0 else None
        self.hist: dict[int, int] = {}
        self.count = 0
        self.max_ms = 0.0

    @property
    def exact(self) -> bool:
        return self.samples is not None

    def add(self, ms: float) -> None:
        self.count += 1
        if ms > self.max_ms:  # noqa: PLR1730 - an if is cheaper than max() once per request
            self.max_ms = ms
        samples = self.samples
        if samples is None:
            key = _bin(ms)
            self.hist[key] = self.hist.get(key, 0) + 1
            return
        samples.append(ms)
        if len(samples) > self.exact_cap:
            self.samples = None
            hist = self.hist
            for value in samples:
                key = _bin(value)
                hist[key] = hist.get(key, 0) + 1

    def merge(self, other: LatencyDigest) -> None:
        self.count += other.count
        self.max_ms = max(self.max_ms, other.max_ms)
        if self.samples is not None and other.samples is not None \
                and len(self.samples) + len(other.samples) <= self.exact_cap:
            self.samples.extend(other.samples)
            return
        for digest in (self, other):
            if digest.samples is not None:
                for value in digest.samples:
                    key = _bin(value)
                    self.hist[key] = self.hist.get(key, 0) + 1
        self.samples = None
        for key, n in other.hist.items():
            self.hist[key] = self.hist.get(key, 0) + n

    def percentile(self, p: float) -> float | None:
        """Nearest-rank percentile, ``p`` in (0, 100]."""
        if self.count == 0:
            return None
        rank = max(1, math.ceil(p / 100.0 * self.count))
        if self.samples is not None:
            return sorted(self.samples)[rank - 1]
        seen = 0
        for key in sorted(self.hist):
            seen += self.hist[key]
            if seen >= rank:
                # The top bin's middle can lie above the largest sample.
                return min(_bin_value(key), self.max_ms)
        return self.max_ms

    def stats(self) -> LatencyStats:
        if self.count == 0:
            return LatencyStats()
        if self.samples is not None:
            ordered = sorted(self.samples)

            def pick(p: float) -> float:
                return ordered[max(1, math.ceil(p / 100.0 * len(ordered))) - 1]

            return LatencyStats(count=self.count, p50_ms=pick(50), p95_ms=pick(95), p99_ms=pick(99),
                                max_ms=self.max_ms, exact=True)
        return LatencyStats(count=self.count, p50_ms=self.percentile(50), p95_ms=self.percentile(95),
                            p99_ms=self.percentile(99), max_ms=self.max_ms, exact=False)


# Bins are on log(1 + microseconds): positive for every non-negative latency, so int() floors.
_BIN_STEP = math.log(1.01)
_BIN_SCALE = 1.0 / _BIN_STEP


def _bin(ms: float) -> int:
    return int(math.log1p(ms * 1000.0 if ms > 0.0 else 0.0) * _BIN_SCALE)


def _bin_value(key: int) -> float:
    return math.expm1((key + 0.5) * _BIN_STEP) / 1000.0


@dataclass(slots=True)
class RequestSummary:
    """Everything the gates and reports need from the request records."""

    counts: Counts
    latency: LatencyDigest
    latency_during_disruption: LatencyDigest
    bucket_s: float
    # Bucket index (floor(m_start / bucket_s)) -> counts per OUTCOMES column.
    buckets: dict[int, list[int]]
    # The earliest failing records by m_start (5xx, connection errors, incomplete).
    first_failures: list[RequestRecord]
    # The earliest 4xx records: failures only when a scenario disallows 4xx.
    first_client_errors: list[RequestRecord]
    disruption_windows: list[tuple[float, float]] = field(default_factory=list)
    # How many failing records were kept at most (each of first_failures, first_client_errors).
    keep: int = 20
    # Wall clock minus monotonic clock of the sending process, from the earliest record.
    clock_offset_s: float | None = None
    # Connection mode -> {floor(m_start): requests started in that second}.
    starts_by_conn: dict[str, dict[int, int]] = field(default_factory=dict)
    # The sequence numbers the records' ids hold.
    ids: IdTally = field(default_factory=IdTally)
    # LinesDigest of requests.jsonl and its number of non-empty lines (for records given in memory:
    # of the lines the traffic process would have written for them).
    digest: str | None = None
    lines: int | None = None
    # Connection mode -> how late its scheduled requests left (open-loop traffic; see verdict.lateness).
    lateness: dict[str, ModeLateness] = field(default_factory=dict)
    # Every failing record (5xx, connection errors, incomplete, bad status, not sent; 4xx too), in
    # file order, up to DIAGNOSE_CAP: what the diagnosis reads. ``failures_over_cap`` counts the rest.
    failed_records: list[RequestRecord] = field(default_factory=list)
    failures_over_cap: int = 0
    # Pod -> its answers (any HTTP status): [count, first m_start, last m_start, last m_end, longest
    # duration in seconds, m_start of its first 2xx/3xx answer (inf: none)].
    pod_answers: dict[str, list[float]] = field(default_factory=dict)

    def bucket_list(self, origin_m: float | None = None) -> list[Bucket]:
        origin = self.counts.first_m if origin_m is None else origin_m
        result: list[Bucket] = []
        for index in sorted(self.buckets):
            m = index * self.bucket_s
            row = self.buckets[index]
            result.append(Bucket(
                m=m,
                offset_s=0.0 if origin is None else round(m - origin, 6),
                counts=OutcomeCounts(**dict(zip(OUTCOMES, row, strict=True))),
            ))
        return result


_K = TypeVar("_K")


def _add_rows(into: dict[_K, list[int]], more: dict[_K, list[int]]) -> None:
    for key, row in more.items():
        total = into.setdefault(key, [0] * len(OUTCOMES))
        for col, n in enumerate(row):
            total[col] += n


def _add_counts(into: dict[_K, int], more: dict[_K, int]) -> None:
    for key, n in more.items():
        into[key] = into.get(key, 0) + n


# One request as the hot loop wants it: m_start, m_end, status (as recorded), error, conn, user, pod,
# version, t_start, t_end, t_sched, m_sched, id, req, expect, and the record (or its raw dict or line, turned into a
# record only if kept).
# At most this many failing records are kept for the diagnosis (about 300 bytes each).
DIAGNOSE_CAP = 50_000

_Row = tuple[float, float | None, object, str | None, str, str, str | None, str | None, float, float | None,
             float | None, float | None, object, str | None, list[int] | None, "_Source"]
_Source = RequestRecord | dict[str, Any] | bytes
_INF = math.inf


class _Accumulator:
    """The mutable state of one pass."""

    def __init__(self, *, disruption_windows: Sequence[tuple[float, float]], first_failures: int,
                 bucket_s: float, seq_limit: int = DEFAULT_SEQ_LIMIT) -> None:
        if bucket_s <= 0:
            raise ValueError(f"bucket_s must be positive, got {bucket_s}")
        self.windows = sorted((float(a), float(b)) for a, b in disruption_windows)
        self.keep = max(0, first_failures)
        self.bucket_s = bucket_s
        self.outcomes = [0] * len(OUTCOMES)
        self.buckets: dict[int, list[int]] = {}
        # (connection mode, user class) -> counts per OUTCOMES column; one lookup serves both.
        self.by_class: dict[tuple[str, str], list[int]] = {}
        self.by_req: dict[str, list[int]] = {}  # traffic.requests name -> counts per OUTCOMES column
        self.by_status: dict[int, int] = {}
        self.by_odd_status: dict[str, int] = {}  # statuses that are not integers, by their JSON text
        self.pod_answers: dict[str, list[float]] = {}
        self.by_version: dict[str, int] = {}
        self.span_first = [math.inf] * len(OUTCOMES)
        self.span_last = [-math.inf] * len(OUTCOMES)
        self.first_m = math.inf
        self.first_t: float | None = None
        self.last_m = -math.inf
        self.last_end_m = -math.inf
        self.latency = LatencyDigest(exact_cap=0)
        self.latency_window = LatencyDigest()
        # Max-heaps (by negated keys) of the earliest records; the sequence number keeps ties in
        # file order and keeps the records themselves out of comparisons.
        self.failures: list[tuple[float, int, RequestRecord]] = []
        self.client_errors: list[tuple[float, int, RequestRecord]] = []
        self.seq = 0
        self.malformed = 0
        self.starts_by_conn: dict[str, dict[int, int]] = {}
        self.ids = IdTally(seq_limit)
        self.lateness: dict[str, ModeLateness] = {}
        self.outages = OutageTally()
        self.failed_records: list[RequestRecord] = []
        self.failures_over_cap = 0
        # Lines read from the file (blank ones too), and how many of them were empty.
        self.lines = 0
        self.empty_lines = 0

    def consume(self, rows: Iterable[_Row]) -> None:
        """Fold rows into the counters. This loop runs once per request, so it works on local
        names and plain values; only failures, which are rare, leave it for a method call."""
        bucket_s = self.bucket_s
        unit_buckets = bucket_s == 1.0  # then a bucket is the second the per-second counts use
        outcomes = self.outcomes
        buckets, by_class = self.buckets, self.by_class
        by_status, pod_answers, by_version = self.by_status, self.pod_answers, self.by_version
        windows = self.windows
        # A request outside the span of all windows is in none of them: most skip the loop below.
        win_lo, win_hi = -_INF, _INF
        if windows and not any(math.isnan(x) for window in windows for x in window):
            win_lo, win_hi = min(a for a, _ in windows), max(b for _, b in windows)
        window_add = self.latency_window.add
        # The whole run's latency goes straight into the histogram: a method call per request
        # would cost more than the rest of the bookkeeping.
        hist = self.latency.hist
        log1p, scale = math.log1p, _BIN_SCALE
        n_latency, max_ms = 0, self.latency.max_ms
        error_column = _ERROR_COLUMN
        seq = self.seq
        malformed = 0  # the reader counts its own in self.malformed as the rows are drawn
        first_m, first_t, last_m, last_end_m = self.first_m, self.first_t, self.last_m, self.last_end_m
        starts_by_conn = self.starts_by_conn
        ids = self.ids
        seen, seq_limit, ids_valid = ids.seen, ids.limit, 0
        seen_len, need_prefix = len(seen), ids.prefix is None
        # Per connection mode: where its due times go (successes, failures) and its lateness state.
        sched_of: dict[str, tuple[Any, Any, ModeLateness, dict[int, list[int]], dict[int, int]]] = {}
        edges, late_col, not_sent_col, steps = LATE_EDGES_MS, bisect.bisect_left, NOT_SENT_COLUMN, LATE_STEPS_PER_MS
        by_req = self.by_req
        for (m_start, m_end, status, error, conn, user, pod, version, t_start, t_end, t_sched, m_sched, rid,
             req, expect, source) in rows:
            seq += 1
            # x - x is 0.0 for a finite number and NaN (truthy) for NaN or an infinity.
            if ((m_start - m_start) or (t_start - t_start) or (t_end is not None and (t_end - t_end))
                    or (m_sched is not None and (m_sched - m_sched)) or (t_sched is not None and (t_sched - t_sched))):
                malformed += 1
                continue
            if m_end is not None and not 0.0 <= m_end - m_start < _INF:
                malformed += 1  # an answer before its request, or a time that is not finite
                continue
            if error is not None:
                col = error_column[error]
            elif type(status) is int:
                if m_end is None:
                    col = _INCOMPLETE  # no end recorded: still in flight when the record was written
                elif expect is not None:
                    col = _expected_column(status, expect)
                elif 200 <= status < 400:
                    col = _OK
                elif 500 <= status < 600:
                    col = _H5
                elif 400 <= status < 500:
                    col = _H4
                else:
                    col = _BAD
                by_status[status] = by_status.get(status, 0) + 1
            elif status is None:
                col = _INCOMPLETE  # no answer recorded
            else:
                col = _BAD
                self._odd_status(status)
            outcomes[col] += 1

            if type(rid) is str:
                cut = rid.rfind("-") + 1
                tail = rid[cut:]
                if tail.isdigit() and tail.isascii() and 0 < (n := int(tail)) < seq_limit:
                    if n >= seen_len:
                        ids.grow(n)
                        seen = ids.seen
                        seen_len = len(seen)
                    mark = seen[n]
                    if mark < 2:
                        seen[n] = mark + 1
                    ids_valid += 1
                    if need_prefix:
                        ids.prefix = rid[:max(0, cut - 1)]
                        need_prefix = False
                else:
                    ids.odd_id(rid)
            else:
                ids.odd_id(rid)
            per_second = starts_by_conn.get(conn)
            if per_second is None:
                per_second = starts_by_conn[conn] = {}
            second = int(m_start // 1.0)
            per_second[second] = per_second.get(second, 0) + 1

            sched = sched_of.get(conn)
            if sched is None:
                sched = sched_of[conn] = self._schedule_state(conn)
            ok_due, failed_due, lateness, due_rows, late_hist = sched
            # Outage runs are ordered by due time; a request without one is placed at its start.
            if col >= _FIRST_FAILING:
                failed_due(m_start if m_sched is None else m_sched)
            else:
                ok_due(m_start if m_sched is None else m_sched)
            if m_sched is None:
                lateness.unscheduled += 1
            else:
                due_second = int(m_sched // 1.0)
                row = due_rows.get(due_second)
                if row is None:
                    row = due_rows[due_second] = [0] * COLUMNS
                if col == _NOT_SENT:
                    row[not_sent_col] += 1
                else:
                    late_ms = (m_start - m_sched) * 1000.0
                    row[late_col(edges, late_ms)] += 1
                    key = int(late_ms * steps) if late_ms > 0.0 else 0
                    late_hist[key] = late_hist.get(key, 0) + 1
                    if late_ms > lateness.max_ms:  # noqa: PLR1730 - an if is cheaper than max()
                        lateness.max_ms = late_ms

            index = second if unit_buckets else int(m_start // bucket_s)
            row = buckets.get(index)
            if row is None:
                row = buckets[index] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
            row[col] += 1
            row = by_class.get((conn, user))
            if row is None:
                row = by_class[conn, user] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
            row[col] += 1
            if req is not None:
                row = by_req.get(req)
                if row is None:
                    row = by_req[req] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
                row[col] += 1
            if pod is not None:
                answers = pod_answers.get(pod)
                if answers is None:
                    answers = pod_answers[pod] = [0, m_start, m_start, m_start, 0.0, _INF]
                answers[0] += 1
                if m_start < answers[1]:  # noqa: PLR1730 - an if is cheaper than min() once per request
                    answers[1] = m_start
                if m_start > answers[2]:  # noqa: PLR1730 - as above
                    answers[2] = m_start
                if m_end is not None:
                    if m_end > answers[3]:  # noqa: PLR1730 - as above
                        answers[3] = m_end
                    if m_end - m_start > answers[4]:  # noqa: PLR1730 - as above
                        answers[4] = m_end - m_start
                if col == _OK and m_start < answers[5]:
                    answers[5] = m_start
            if version is not None:
                by_version[version] = by_version.get(version, 0) + 1

            if m_start < first_m:
                first_m, first_t = m_start, t_start
            if m_start > last_m:  # noqa: PLR1730 - an if is cheaper than max() once per request
                last_m = m_start
            if m_end is not None:
                if m_end > last_end_m:  # noqa: PLR1730 - as above
                    last_end_m = m_end
                if col <= _H5 or col == _UNEXPECTED:  # an HTTP answer: ok, 4xx, 5xx or unexpected
                    ms = (m_end - m_start) * 1000.0
                    n_latency += 1
                    if ms > max_ms:  # noqa: PLR1730 - as above
                        max_ms = ms
                    key = int(log1p(ms * 1000.0 if ms > 0.0 else 0.0) * scale)
                    hist[key] = hist.get(key, 0) + 1
                    if m_start <= win_hi and m_end >= win_lo:
                        for a, b in windows:
                            if m_start <= b and m_end >= a:
                                window_add(ms)
                                break

            if col >= _FIRST_FAILING:
                self._failure(col, m_start, seq, source)
            elif col == _H4:
                self._keep(self.client_errors, m_start, seq, source)
                self._collect(source)
        self.seq = seq
        self.malformed += malformed
        ids.valid += ids_valid
        self.first_m, self.first_t, self.last_m, self.last_end_m = first_m, first_t, last_m, last_end_m
        self.latency.count += n_latency
        self.latency.max_ms = max_ms

    def _schedule_state(self, conn: str) -> tuple[Any, Any, ModeLateness, dict[int, list[int]], dict[int, int]]:
        lateness = self.lateness.get(conn)
        if lateness is None:
            lateness = self.lateness[conn] = ModeLateness()
        ok, failed = self.outages.arrays(conn)
        return ok.append, failed.append, lateness, lateness.seconds, lateness.hist

    def _odd_status(self, status: object) -> None:
        key = json.dumps(status)[:40]
        self.by_odd_status[key] = self.by_odd_status.get(key, 0) + 1

    def _failure(self, col: int, m_start: float, seq: int, source: _Source) -> None:
        self.span_first[col] = min(self.span_first[col], m_start)
        self.span_last[col] = max(self.span_last[col], m_start)
        self._keep(self.failures, m_start, seq, source)
        self._collect(source)

    def _collect(self, source: _Source) -> None:
        if len(self.failed_records) >= DIAGNOSE_CAP:
            self.failures_over_cap += 1
            return
        try:
            record = _record_of(source)
        except (ValueError, KeyError, TypeError):
            # Counted by the gates like any failure; only the diagnosis cannot read it.
            self.failures_over_cap += 1
            return
        self.failed_records.append(record)

    def _keep(self, heap: list[tuple[float, int, RequestRecord]], m_start: float, seq: int,
              source: _Source) -> None:
        if self.keep == 0:
            return
        key = (-m_start, -seq)
        if len(heap) >= self.keep and key <= heap[0][:2]:
            return  # later than every record kept so far
        try:
            record = _record_of(source)
        except (ValueError, KeyError, TypeError):
            # A failure whose diagnosis-only fields (stage, conn_served) do not read: the gates still
            # count it; it just cannot be shown as an example.
            return
        if len(heap) < self.keep:
            heapq.heappush(heap, (-m_start, -seq, record))
        else:
            heapq.heapreplace(heap, (-m_start, -seq, record))

    def merge(self, other: _Accumulator) -> None:
        """Add another chunk's partial result to this one."""
        for col, n in enumerate(other.outcomes):
            self.outcomes[col] += n
            self.span_first[col] = min(self.span_first[col], other.span_first[col])
            self.span_last[col] = max(self.span_last[col], other.span_last[col])
        _add_rows(self.buckets, other.buckets)
        _add_rows(self.by_class, other.by_class)
        _add_rows(self.by_req, other.by_req)
        _add_counts(self.by_status, other.by_status)
        _add_counts(self.by_odd_status, other.by_odd_status)
        for conn, seconds in other.starts_by_conn.items():
            _add_counts(self.starts_by_conn.setdefault(conn, {}), seconds)
        self.ids.merge(other.ids)
        for conn, lateness in other.lateness.items():
            mine = self.lateness.get(conn)
            if mine is None:
                self.lateness[conn] = lateness
            else:
                mine.merge(lateness)
        self.outages.merge(other.outages)
        for pod, theirs in other.pod_answers.items():
            have = self.pod_answers.get(pod)
            if have is None:
                self.pod_answers[pod] = theirs
            else:
                self.pod_answers[pod] = [have[0] + theirs[0], min(have[1], theirs[1]), max(have[2], theirs[2]),
                                         max(have[3], theirs[3]), max(have[4], theirs[4]), min(have[5], theirs[5])]
        room = max(0, DIAGNOSE_CAP - len(self.failed_records))
        self.failed_records.extend(other.failed_records[:room])
        self.failures_over_cap += other.failures_over_cap + max(0, len(other.failed_records) - room)
        _add_counts(self.by_version, other.by_version)
        if other.first_m < self.first_m:
            self.first_m, self.first_t = other.first_m, other.first_t
        self.last_m = max(self.last_m, other.last_m)
        self.last_end_m = max(self.last_end_m, other.last_end_m)
        self.latency.merge(other.latency)
        self.latency_window.merge(other.latency_window)
        for mine_heap, their_heap in ((self.failures, other.failures), (self.client_errors, other.client_errors)):
            for item in their_heap:
                if len(mine_heap) < self.keep:
                    heapq.heappush(mine_heap, item)
                elif item[:2] > mine_heap[0][:2]:
                    heapq.heapreplace(mine_heap, item)
        self.malformed += other.malformed
        self.lines += other.lines
        self.empty_lines += other.empty_lines

    def finish(self) -> RequestSummary:
        def counts_of(row: list[int]) -> OutcomeCounts:
            return OutcomeCounts(**dict(zip(OUTCOMES, row, strict=True)))

        by_status_class: dict[str, int] = {}
        for status, n in sorted(self.by_status.items()):
            cls = f"{status // 100}xx"
            by_status_class[cls] = by_status_class.get(cls, 0) + n
        if self.by_odd_status:
            by_status_class["not an integer"] = sum(self.by_odd_status.values())
        by_status = {str(k): v for k, v in sorted(self.by_status.items())}
        by_status.update(sorted(self.by_odd_status.items()))
        # "incomplete" here also holds records with no error but no answer recorded either.
        by_error_kind = {
            kind: self.outcomes[col] for kind, col in _ERROR_COLUMN.items() if self.outcomes[col]
        }
        spans = {
            OUTCOMES[col]: (self.span_first[col], self.span_last[col])
            for col in range(_FIRST_FAILING, len(OUTCOMES)) if self.outcomes[col]
        }
        by_conn: dict[str, list[int]] = {}
        by_user: dict[str, list[int]] = {}
        for (conn, user), row in self.by_class.items():
            _add_rows(by_conn, {conn: row})
            _add_rows(by_user, {user: row})
        have = self.first_m != math.inf
        counts = Counts(
            outcomes=counts_of(self.outcomes),
            by_status=by_status,
            by_status_class=by_status_class,
            by_error_kind=dict(sorted(by_error_kind.items())),
            by_conn={k: counts_of(v) for k, v in sorted(by_conn.items())},
            by_user={k: counts_of(v) for k, v in sorted(by_user.items())},
            by_req={k: counts_of(v) for k, v in sorted(self.by_req.items())},
            by_pod={pod: int(answers[0]) for pod, answers in sorted(self.pod_answers.items())},
            by_version=dict(sorted(self.by_version.items())),
            malformed_lines=self.malformed,
            first_m=self.first_m if have else None,
            last_m=self.last_m if have else None,
            last_end_m=self.last_end_m if self.last_end_m != -math.inf else None,
            failure_spans=spans,
            outages=self.outages.runs(),
        )

        def ordered(heap: list[tuple[float, int, RequestRecord]]) -> list[RequestRecord]:
            return [rec for _, _, rec in sorted(heap, key=lambda item: (-item[0], -item[1]))]

        return RequestSummary(
            counts=counts,
            latency=self.latency,
            latency_during_disruption=self.latency_window,
            bucket_s=self.bucket_s,
            buckets=self.buckets,
            first_failures=ordered(self.failures),
            first_client_errors=ordered(self.client_errors),
            disruption_windows=list(self.windows),
            keep=self.keep,
            clock_offset_s=None if self.first_t is None else self.first_t - self.first_m,
            starts_by_conn={conn: dict(sorted(seconds.items()))
                            for conn, seconds in sorted(self.starts_by_conn.items())},
            ids=self.ids,
            lateness=dict(sorted(self.lateness.items())),
            failed_records=self.failed_records,
            failures_over_cap=self.failures_over_cap,
            pod_answers=dict(sorted(self.pod_answers.items())),
        )


def summarize_requests(
    records: Iterable[RequestRecord],
    *,
    disruption_windows: Sequence[tuple[float, float]] = (),
    first_failures: int = 20,
    bucket_s: float = 1.0,
    malformed: int = 0,
) -> RequestSummary:
    """Aggregate request records in one pass. ``malformed`` carries the count of lines a reader
    could not turn into records, so the summary still accounts for them. The digest is that of the
    lines the traffic process writes for these records."""
    acc = _Accumulator(disruption_windows=disruption_windows, first_failures=first_failures,
                       bucket_s=bucket_s)
    digest = LinesDigest()

    def rows() -> Iterator[_Row]:
        for rec in records:
            digest.update((rec.to_json() + "\n").encode("utf-8"))
            yield _row_of(rec)

    acc.consume(rows())
    acc.malformed += malformed
    summary = acc.finish()
    summary.digest, summary.lines = digest.hexdigest(), digest.total_lines + malformed
    return summary


def _record_of(source: _Source) -> RequestRecord:
    if isinstance(source, RequestRecord):
        return source
    # A line the fast path decided: json reads it as the json path would have (see fastparse).
    return RequestRecord.from_dict(json.loads(source) if isinstance(source, bytes) else source)


def _row_of(rec: RequestRecord) -> _Row:
    status: object = rec.status if rec.status_text is None else json.loads(rec.status_text)
    return (rec.m_start, rec.m_end, status, None if rec.error is None else rec.error.value,
            rec.conn.value, rec.user, rec.pod, rec.version, rec.t_start, rec.t_end, rec.t_sched, rec.m_sched,
            rec.id, rec.req, rec.expect, rec)


def summarize_requests_file(
    path: Path,
    *,
    disruption_windows: Sequence[tuple[float, float]] = (),
    first_failures: int = 20,
    bucket_s: float = 1.0,
    workers: int | None = None,
) -> RequestSummary:
    """``summarize_requests`` over a ``requests.jsonl`` file, without building a RequestRecord per
    line (only the kept failures become records). A line that is not a valid record is counted in
    ``counts.malformed_lines``.

    Parsing JSON is most of the cost, so a large file is split into byte ranges judged by
    ``workers`` processes (default: one per available CPU, up to four, for files of 64 MB and
    more) and the partial results are merged; the result is the same as a single pass. The digest
    needs the lines in order: one thread hashes the whole file meanwhile. It hashes the bytes as they
    are (hashlib runs without the interpreter lock, so this costs little time), which is the digest
    when the file has no "\r" and no empty line; the pass counts the lines and sees any empty one.
    Otherwise the lines are normalised one by one (``file_digest``).
    """
    size = path.stat().st_size
    params = _Params(windows=tuple((float(a), float(b)) for a, b in disruption_windows),
                     keep=first_failures, bucket_s=bucket_s, seq_limit=size // _MIN_LINE_BYTES + 2,
                     json_only=os.environ.get(JSON_ONLY_ENV) == "1")
    hashed: list[tuple[str, int] | str] = []

    def digest() -> None:
        bare = None if params.json_only else bare_file_digest(path)
        hashed.append(file_digest(path) if bare is None else bare)

    hasher = threading.Thread(target=digest, name="requests-digest", daemon=True)
    hasher.start()
    n = default_workers(size) if workers is None else max(1, workers)
    if n == 1:
        acc = _scan(path, 0, size, 0, params)
    else:
        acc = _scan_in_workers(path, [size * i // n for i in range(n + 1)], params)
    hasher.join()
    summary = acc.finish()
    if hashed:  # empty only if reading the file failed in the thread; then there is no digest
        got = hashed[0]
        if not isinstance(got, str):
            summary.digest, summary.lines = got
        elif acc.empty_lines == 0:
            summary.digest, summary.lines = got, acc.lines
        else:  # the bytes as they are were not the lines' digest
            with contextlib.suppress(OSError):
                summary.digest, summary.lines = file_digest(path)
    return summary


# Set to "1", every line is read with json and the digest is taken line by line, as before the fast
# paths (see fastparse, bare_file_digest): for the tests and the benchmark that compare the two.
JSON_ONLY_ENV = "HARNESS_JUDGE_JSON_ONLY"

# No valid record line is shorter (``{"id":"","t_start":0,"m_start":0}`` has 34 bytes), so a file
# of n bytes holds fewer than n / 16 records and no seq above that can be part of a complete set.
_MIN_LINE_BYTES = 16


@dataclass(frozen=True, slots=True)
class _Params:
    windows: tuple[tuple[float, float], ...]
    keep: int
    bucket_s: float
    seq_limit: int = DEFAULT_SEQ_LIMIT
    json_only: bool = False


_PARALLEL_MIN_BYTES = 64 * 1024 * 1024
_MAX_WORKERS = 4
# Sequence numbers of chunk i start at i << 40, so ties on m_start still resolve in file order.
_SEQ_SHIFT = 40


def default_workers(size: int) -> int:
    """How many processes judge a requests file of ``size`` bytes."""
    if size < _PARALLEL_MIN_BYTES:
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, _MAX_WORKERS))


# Workers are fresh interpreters started with -c: unlike multiprocessing's spawn they never
# re-import the caller's __main__, which for a CLI would start the whole command again.
def _scan_in_workers(path: Path, bounds: list[int], params: _Params) -> _Accumulator:
    """Chunk 0 here, the others in worker processes at the same time; a worker that fails has its
    chunk scanned here instead, so a broken worker costs time, never evidence."""
    chunks = range(1, len(bounds) - 1)
    # spawn, not fork: the judging process runs threads (the digest beside the scan, the observers
    # during a run), and a forked child would inherit their locks mid-use.
    context = multiprocessing.get_context("spawn")
    futures: dict[int, Future[_Accumulator]] = {}
    try:
        pool = ProcessPoolExecutor(max_workers=len(chunks), mp_context=context)
    except OSError as exc:
        log.warning("could not start workers to judge %s: %s", path, exc)
        pool = None
    with contextlib.ExitStack() as stack:
        if pool is not None:
            stack.enter_context(pool)
            for chunk in chunks:
                futures[chunk] = pool.submit(_scan, path, bounds[chunk], bounds[chunk + 1], chunk, params)
        acc = _scan(path, bounds[0], bounds[1], 0, params)
        for chunk in chunks:
            part: _Accumulator | None = None
            if chunk in futures:
                try:
                    part = futures[chunk].result()
                except Exception as exc:  # whatever went wrong there, the chunk is scanned here instead
                    log.warning("worker for bytes %d-%d of %s failed: %s", bounds[chunk], bounds[chunk + 1],
                                path, exc)
            acc.merge(part if part is not None else _scan(path, bounds[chunk], bounds[chunk + 1], chunk, params))
    return acc


def _scan(path: Path, start: int, end: int, chunk: int, params: _Params) -> _Accumulator:
    """Fold the lines that begin in byte range [start, end) of ``path``."""
    acc = _Accumulator(disruption_windows=params.windows, first_failures=params.keep,
                       bucket_s=params.bucket_s, seq_limit=params.seq_limit)
    acc.seq = chunk << _SEQ_SHIFT
    batches = _line_batches(path, start, end, acc)
    acc.consume(_rows_from_lines((line for batch in batches for line in batch), acc) if params.json_only
                else _rows_fast(batches, acc))
    return acc


# Lines are read in lists of about this many bytes: one call per list rather than one per line.
_BATCH_BYTES = 1 << 20


def _line_batches(path: Path, start: int, end: int, acc: _Accumulator) -> Iterator[list[bytes]]:
    """The lines that begin in [start, end), in lists, counted in ``acc.lines`` and ``acc.empty_lines``."""
    with path.open("rb") as fh:
        if start > 0:
            # Finish the line that began before the range: it belongs to the previous chunk.
            fh.seek(start - 1)
            fh.readline()
        pos = fh.tell()
        while pos < end:
            batch = fh.readlines(_BATCH_BYTES)
            if not batch:
                return
            size = sum(map(len, batch))
            if pos + size > end:  # the range ends in this list: only the lines that begin before it
                kept = []
                for line in batch:
                    if pos >= end:
                        break
                    pos += len(line)
                    kept.append(line)
                batch = kept
            else:
                pos += size
            acc.lines += len(batch)
            acc.empty_lines += batch.count(b"\n")
            yield batch


def _rows_fast(batches: Iterable[list[bytes]], acc: _Accumulator) -> Iterator[_Row]:
    """Rows from JSON lines, each decided by msgspec where that is sure to give what
    ``_rows_from_lines`` gives (see fastparse), else by ``_rows_from_lines``. The row's source is the
    line itself: a kept failure is read again with json."""
    decode, max_bytes = fastparse.decode, fastparse.MAX_LINE_BYTES
    conn_modes = _CONN_MODES
    error_kinds = _ERROR_COLUMN
    for batch in batches:
        for line in batch:
            if len(line) <= max_bytes and line.isascii():
                try:
                    f = decode(line)
                except Exception:  # whatever msgspec refuses (or cannot nest as deep), the json path decides
                    pass
                else:
                    error, conn = f.error, f.conn
                    if (error is not None and error not in error_kinds) or conn not in conn_modes:
                        acc.malformed += 1  # as _rows_from_lines counts it
                        continue
                    # "+ 0.0" as in _rows_from_lines, which turns -0.0 into 0.0.
                    m_end, t_end, t_sched, m_sched = f.m_end, f.t_end, f.t_sched, f.m_sched
                    yield (f.m_start + 0.0, None if m_end is None else m_end + 0.0, f.status, error, conn, f.user,
                           f.pod, f.version, f.t_start + 0.0, None if t_end is None else t_end + 0.0,
                           None if t_sched is None else t_sched + 0.0, None if m_sched is None else m_sched + 0.0,
                           f.id, f.req, f.expect, line)
                    continue
            yield from _rows_from_lines((line,), acc)


def _rows_from_lines(lines: Iterable[bytes], acc: _Accumulator) -> Iterator[_Row]:
    """Rows from JSON lines. Lines in the shape the traffic process writes take a fast path; any
    other line goes through ``RequestRecord.from_dict``, so what counts as malformed (and is counted
    in ``acc.malformed``) is what ``read_requests`` would skip, plus lines that are not UTF-8. The
    status is passed on as recorded: classifying it is the hot loop's job."""
    loads = json.loads
    conn_modes = _CONN_MODES
    error_kinds = _ERROR_COLUMN
    for line in lines:
        if not line or line.isspace():
            continue
        try:
            d = loads(line)
            rid = d["id"]
            # "+ 0.0" accepts exactly the ints and floats JSON gives and is cheaper than float().
            m_start = d["m_start"] + 0.0
            t_start = d["t_start"] + 0.0
            m_end = d.get("m_end")
            if m_end is not None:
                m_end += 0.0
            t_end = d.get("t_end")
            if t_end is not None:
                t_end += 0.0
            t_sched = d.get("t_sched")
            if t_sched is not None:
                t_sched += 0.0
            m_sched = d.get("m_sched")
            if m_sched is not None:
                m_sched += 0.0
            error = d.get("error")
            conn = d.get("conn", "keep-alive")
            user = d.get("user", "")
            pod = d.get("pod")
            version = d.get("version")
            req = d.get("req")
            expect = d.get("expect")
            if (type(rid) is not str or (req is not None and type(req) is not str)
                    or (expect is not None and (type(expect) is not list
                                                or not all(type(v) is int for v in expect)))
                    or type(user) is not str or type(d.get("bytes", 0)) is not int
                    or (pod is not None and type(pod) is not str)
                    or (version is not None and type(version) is not str)
                    or (error is not None and type(error) is not str) or type(conn) is not str
                    or not isinstance(d.get("detail"), str | None) or not isinstance(d.get("conn_pod"), str | None)):
                raise TypeError
        # OverflowError: an integer time too large for a float, which is no finite time either.
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError):
            row = _row_from_odd_line(line)
            if row is None:
                acc.malformed += 1
            else:
                yield row
            continue
        if (error is not None and error not in error_kinds) or conn not in conn_modes:
            acc.malformed += 1  # RequestRecord.from_dict rejects an unknown enum value too
            continue
        yield (m_start, m_end, d.get("status"), error, conn, user, pod, version, t_start, t_end, t_sched, m_sched,
               rid, req, expect, d)


def _row_from_odd_line(line: bytes) -> _Row | None:
    try:
        rec = RequestRecord.from_dict(json.loads(line))
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError):
        return None
    return _row_of(rec)
