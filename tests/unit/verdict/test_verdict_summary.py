"""The streaming pass over request records: counts, buckets, latency, first failures, bad lines."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from harness.evidence import ConnectionMode, ErrorKind, ReadStats, RequestRecord, read_requests
from harness.verdict import LatencyDigest, RequestSummary, classify, summarize_requests, summarize_requests_file

M0 = 500.0
T0 = 1_700_000_000.0


def rec(i: int, at: float, *, status: int | None = 200, error: ErrorKind | None = None, latency: float = 0.004,
        conn: ConnectionMode = ConnectionMode.KEEP_ALIVE, user: str = "KeepAliveUser", pod: str | None = "p1",
        version: str | None = "v1", answered: bool = True) -> RequestRecord:
    end = M0 + at + latency if answered else None
    return RequestRecord(id=f"r{i}", user=user, conn=conn, t_start=T0 + at, m_start=M0 + at,
                         t_end=None if end is None else T0 + at + latency, m_end=end,
                         status=None if error else status, error=error, pod=None if error else pod,
                         version=None if error else version)


@pytest.mark.parametrize(("status", "error", "m_end", "outcome"), [
    (200, None, 1.0, "ok"),
    (304, None, 1.0, "ok"),
    (399, None, 1.0, "ok"),
    (400, None, 1.0, "http_4xx"),
    (404, None, 1.0, "http_4xx"),
    (499, None, 1.0, "http_4xx"),
    (500, None, 1.0, "http_5xx"),
    (503, None, 1.0, "http_5xx"),
    (599, None, 1.0, "http_5xx"),
    (0, None, 1.0, "bad_status"),
    (101, None, 1.0, "bad_status"),
    (199, None, 1.0, "bad_status"),
    (600, None, 1.0, "bad_status"),
    (-1, None, 1.0, "bad_status"),
    ("200", None, 1.0, "bad_status"),
    (200.0, None, 1.0, "bad_status"),
    (True, None, 1.0, "bad_status"),
    ("200", None, None, "bad_status"),
    (503, "reset", 1.0, "reset"),  # a failure on the connection wins over a status line
    (None, "refused", 1.0, "refused"),
    (None, "reset", None, "reset"),
    (None, "timeout", 1.0, "timeout"),
    (None, "incomplete", None, "incomplete"),
    (None, "other", 1.0, "other"),
    (None, None, 1.0, "incomplete"),
    (200, None, None, "incomplete"),
])
def test_classify(status: object, error: str | None, m_end: float | None, outcome: str) -> None:
    assert classify(status, error, m_end) == outcome


def mixed() -> list[RequestRecord]:
    return [
        rec(1, 0.1), rec(2, 0.2, status=201), rec(3, 0.3, status=404), rec(4, 1.1, status=503),
        rec(5, 1.2, error=ErrorKind.RESET), rec(6, 1.3, error=ErrorKind.REFUSED, conn=ConnectionMode.NEW,
                                                 user="NewConnectionUser"),
        rec(7, 2.5, error=ErrorKind.TIMEOUT), rec(8, 2.6, error=ErrorKind.INCOMPLETE, answered=False),
        rec(9, 2.7, status=200, pod="p2", version="v2", conn=ConnectionMode.NEW, user="NewConnectionUser"),
    ]


def test_every_request_is_counted_once_by_outcome() -> None:
    s = summarize_requests(mixed())
    o = s.counts.outcomes
    assert (o.ok, o.http_4xx, o.http_5xx, o.refused, o.reset, o.timeout, o.incomplete, o.other) == \
        (3, 1, 1, 1, 1, 1, 1, 0)
    assert o.total == s.counts.total == 9
    assert o.failed() == 6  # 4xx count as failures unless a scenario allows them
    assert o.failed(allow_4xx=True) == 5
    assert s.counts.by_status == {"200": 2, "201": 1, "404": 1, "503": 1}
    assert s.counts.by_status_class == {"2xx": 3, "4xx": 1, "5xx": 1}
    assert s.counts.by_error_kind == {"incomplete": 1, "refused": 1, "reset": 1, "timeout": 1}


def test_counts_per_connection_mode_user_pod_and_version() -> None:
    c = summarize_requests(mixed()).counts
    assert c.by_conn["new"].total == 2 and c.by_conn["new"].refused == 1
    assert c.by_conn["keep-alive"].total == 7
    assert c.by_user["NewConnectionUser"].ok == 1
    assert c.by_user["KeepAliveUser"].failed() == 5
    assert c.by_user["KeepAliveUser"].failed(allow_4xx=True) == 4
    assert c.by_pod == {"p1": 4, "p2": 1}
    assert c.by_version == {"v1": 4, "v2": 1}


def test_first_and_last_times_and_failure_spans() -> None:
    c = summarize_requests(list(reversed(mixed()))).counts
    assert c.first_m == M0 + 0.1
    assert c.last_m == M0 + 2.7
    assert c.last_end_m == pytest.approx(M0 + 2.704)
    assert c.failure_spans["reset"] == (M0 + 1.2, M0 + 1.2)
    assert "ok" not in c.failure_spans and "http_4xx" not in c.failure_spans


def test_per_second_buckets_by_outcome() -> None:
    s = summarize_requests(mixed())
    buckets = s.bucket_list(origin_m=M0)
    assert [b.offset_s for b in buckets] == [0.0, 1.0, 2.0]
    assert (buckets[0].counts.ok, buckets[0].counts.http_4xx) == (2, 1)
    assert (buckets[1].counts.http_5xx, buckets[1].counts.reset, buckets[1].counts.refused) == (1, 1, 1)
    assert (buckets[2].counts.timeout, buckets[2].counts.incomplete, buckets[2].counts.ok) == (1, 1, 1)
    assert sum(b.counts.total for b in buckets) == 9


def test_bucket_width_is_configurable() -> None:
    s = summarize_requests(mixed(), bucket_s=0.5)
    assert [b.offset_s for b in s.bucket_list(origin_m=M0)] == [0.0, 1.0, 2.5]
    with pytest.raises(ValueError, match="bucket_s"):
        summarize_requests(mixed(), bucket_s=0)


def test_first_failures_are_earliest_by_clock_with_ties_in_file_order() -> None:
    records = [rec(i, 10.0 - i * 0.5, status=500) for i in range(10)]  # file order is latest-first
    records.insert(0, rec(99, 5.5, status=502))  # same instant as r9, but earlier in the file
    s = summarize_requests(records, first_failures=3)
    assert [r.id for r in s.first_failures] == ["r99", "r9", "r8"]
    assert summarize_requests(records, first_failures=0).first_failures == []


def test_4xx_are_kept_apart_from_failures() -> None:
    s = summarize_requests(mixed())
    assert [r.id for r in s.first_client_errors] == ["r3"]
    assert "r3" not in {r.id for r in s.first_failures}


def test_latency_is_sampled_only_inside_disruption_windows() -> None:
    records = [rec(i, i * 0.1, latency=0.250 if 2.0 <= i * 0.1 < 3.0 else 0.002) for i in range(50)]
    s = summarize_requests(records, disruption_windows=[(M0 + 2.0, M0 + 2.95)])
    window = s.latency_during_disruption
    # Requests at 2.0 .. 2.9 s plus the one at 1.9 s whose 2 ms ... ends before 2.0: not in.
    assert window.count == 10
    assert window.percentile(99) == pytest.approx(250.0)
    assert s.latency.count == 50


def test_a_request_spanning_the_window_start_is_in_it() -> None:
    s = summarize_requests([rec(1, 1.0, latency=1.5)], disruption_windows=[(M0 + 2.0, M0 + 3.0)])
    assert s.latency_during_disruption.count == 1


def test_failed_requests_have_no_latency_sample() -> None:
    s = summarize_requests([rec(1, 1.0, error=ErrorKind.TIMEOUT, latency=30.0)],
                           disruption_windows=[(M0, M0 + 100.0)])
    assert s.latency_during_disruption.count == 0
    assert s.latency.count == 0


def test_latency_digest_is_exact_until_its_cap() -> None:
    digest = LatencyDigest(exact_cap=1000)
    for value in range(1, 101):
        digest.add(float(value))
    assert digest.exact
    stats = digest.stats()
    assert (stats.p50_ms, stats.p95_ms, stats.p99_ms, stats.max_ms) == (50.0, 95.0, 99.0, 100.0)


def test_latency_digest_folds_into_a_bounded_histogram_within_half_a_percent() -> None:
    rng = random.Random(5)
    values = [rng.lognormvariate(2.0, 1.0) for _ in range(20_000)]
    digest = LatencyDigest(exact_cap=1000)
    for v in values:
        digest.add(v)
    assert not digest.exact
    assert digest.samples is None
    assert len(digest.hist) < 2000  # bounded by the value range, not the number of samples
    ordered = sorted(values)
    for p in (50, 95, 99, 99.9):
        true = ordered[math.ceil(p / 100 * len(ordered)) - 1]
        assert digest.percentile(p) == pytest.approx(true, rel=0.006), p
    assert digest.percentile(100) == pytest.approx(max(values), rel=1e-9)
    assert digest.stats().exact is False


def test_latency_digests_merge_like_one() -> None:
    rng = random.Random(9)
    values = [rng.uniform(0.1, 500.0) for _ in range(3000)]
    whole, left, right = LatencyDigest(exact_cap=2000), LatencyDigest(exact_cap=2000), LatencyDigest(exact_cap=2000)
    for v in values:
        whole.add(v)
    for v in values[:1500]:
        left.add(v)
    for v in values[1500:]:
        right.add(v)
    left.merge(right)
    assert left.count == whole.count
    assert left.hist == whole.hist
    assert left.max_ms == whole.max_ms


def test_empty_input() -> None:
    s = summarize_requests([])
    assert s.counts.total == 0
    assert s.counts.first_m is None and s.counts.last_end_m is None
    assert s.latency.stats().count == 0 and s.latency.percentile(99) is None
    assert s.bucket_list() == []
    assert s.clock_offset_s is None


def test_clock_offset_maps_monotonic_to_wall() -> None:
    s = summarize_requests(mixed())
    assert s.clock_offset_s == pytest.approx(T0 - M0)


# --- reading requests.jsonl --------------------------------------------------------------------------------


def write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


BAD_LINES = [
    '{"id":"torn","user":"u","conn":"keep-al',  # the writer was killed mid-line
    "not json at all",
    "[1, 2, 3]",
    "42",
    '{"user":"u","conn":"new","t_start":1,"m_start":1}',  # no id
    '{"id":"x","conn":"new","t_start":1,"m_start":"soon"}',
    '{"id":"x","conn":"carrier-pigeon","t_start":1,"m_start":1}',
    '{"id":"x","conn":"new","t_start":1,"m_start":1,"error":"gremlins"}',
    '{"id":"x","conn":"new","t_start":1,"m_start":1,"m_end":2,"status":200,"bytes":"many"}',
    '{"id":"x","conn":"new","t_start":1,"m_start":NaN,"m_end":2,"status":200}',  # Python's json reads NaN
    '{"id":"x","conn":"new","t_start":Infinity,"m_start":1,"m_end":2,"status":200}',
    '{"id":"x","conn":"new","t_start":1,"m_start":1,"m_end":-Infinity,"status":200}',
    '{"id":"x","conn":"new","t_start":1,"t_end":NaN,"m_start":1,"m_end":2,"status":200}',
    '{"id":"x","conn":"new","t_start":1,"m_start":1,"m_end":1e999,"status":200}',  # a float that overflows
    '{"id":"x","conn":"new","t_start":1,"m_start":"nan","m_end":2,"status":200}',
    '{"id":"x","conn":"new","t_start":1,"m_start":5,"m_end":4.999,"status":200}',  # answered before sent
    '{"id":7,"conn":"new","t_start":1,"m_start":1,"m_end":2,"status":200}',  # an id that is no string
    '{"id":"x","conn":["new"],"t_start":1,"m_start":1,"m_end":2,"status":200}',
    '{"id":"x","conn":"new","t_start":1,"m_start":1,"error":{"kind":"reset"}}',
    '{"id":"x","conn":"new","t_start":1,"m_start":1,"m_end":2,"status":503,"detail":5}',
    '{"id":"x","conn":"new","t_start":1,"m_start":1,"m_end":2,"status":200,"pod":["p1"]}',
]


def test_unreadable_lines_are_counted_not_skipped_silently(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    good = [r.to_json() for r in mixed()]
    # An odd but readable line: times as strings, which RequestRecord.from_dict accepts; its status
    # is a string too, which is no HTTP status: the request counts, as a failure.
    odd = '{"id":"odd","user":"u","conn":"new","t_start":"1.5","m_start":"501.5","m_end":"501.6","status":"200"}'
    write_lines(path, [good[0], "", *BAD_LINES[:4], *good[1:], odd, *BAD_LINES[4:]])
    s = summarize_requests_file(path)
    assert s.counts.malformed_lines == len(BAD_LINES)
    assert s.counts.total == len(good) + 1
    assert s.counts.by_status["200"] == 2
    assert s.counts.by_status['"200"'] == 1
    assert s.counts.by_status_class["not an integer"] == 1
    assert s.counts.outcomes.bad_status == 1

    stats = ReadStats()
    records = list(read_requests(path, stats))
    assert stats.malformed == len(BAD_LINES)
    assert stats.lines == len(good) + 1 + len(BAD_LINES)
    # The file path and the record path agree on everything.
    assert summarize_requests(records, malformed=stats.malformed).counts == s.counts


def test_a_line_that_is_not_utf8_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    path.write_bytes(mixed()[0].to_json().encode() + b"\n" + b'{"id":"\xff\xfe"}\n')
    s = summarize_requests_file(path)
    assert (s.counts.total, s.counts.malformed_lines) == (1, 1)


def test_kept_failures_from_a_file_are_full_records(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    failing = rec(5, 1.2, error=ErrorKind.RESET)
    failing.detail = "connection reset by peer"
    failing.conn_pod = "p1"
    write_lines(path, [r.to_json() for r in [*mixed()[:4], failing]])
    s = summarize_requests_file(path)
    assert s.first_failures[-1] == failing


def many_records(n: int, seed: int) -> list[RequestRecord]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        at = i * 0.01
        roll = rng.random()
        if roll < 0.01:
            out.append(rec(i, at, status=503))
        elif roll < 0.02:
            out.append(rec(i, at, error=rng.choice(list(ErrorKind)), answered=False))
        elif roll < 0.03:
            out.append(rec(i, at, status=404))
        else:
            out.append(rec(i, at, latency=rng.uniform(0.001, 0.3), pod=f"p{i % 3}",
                           conn=rng.choice(list(ConnectionMode)), user=rng.choice(["A", "B"])))
    # The earliest failures share one instant and sit at both ends of the file, so they land in
    # different chunks and must still come out in file order.
    out.insert(0, rec(n + 10, -1.0, status=500))
    out.extend(rec(n + k, -1.0, status=500) for k in range(4))
    return out


def assert_same(a: RequestSummary, b: RequestSummary) -> None:
    assert a.counts == b.counts
    assert [r.id for r in a.first_failures] == [r.id for r in b.first_failures]
    assert [r.id for r in a.first_client_errors] == [r.id for r in b.first_client_errors]
    assert a.buckets == b.buckets
    assert (a.latency.count, a.latency.hist, a.latency.max_ms) == (b.latency.count, b.latency.hist, b.latency.max_ms)
    assert a.latency_during_disruption.stats() == b.latency_during_disruption.stats()
    assert a.clock_offset_s == b.clock_offset_s


@pytest.mark.parametrize("workers", [2, 3])
def test_judging_in_worker_processes_gives_the_same_summary(tmp_path: Path, workers: int) -> None:
    path = tmp_path / "requests.jsonl"
    records = many_records(4000, seed=workers)
    write_lines(path, [*(r.to_json() for r in records[:2000]), BAD_LINES[1], *(r.to_json() for r in records[2000:])])
    windows = [(M0 + 10.0, M0 + 20.0)]
    one = summarize_requests_file(path, disruption_windows=windows, first_failures=7, workers=1)
    split = summarize_requests_file(path, disruption_windows=windows, first_failures=7, workers=workers)
    assert one.counts.total == len(records)
    assert one.counts.malformed_lines == 1
    assert_same(one, split)
    assert [r.id for r in one.first_failures][:5] == ["r4010", "r4000", "r4001", "r4002", "r4003"]
    assert [r.m_start for r in one.first_failures] == sorted(r.m_start for r in one.first_failures)


def test_more_workers_than_lines(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    write_lines(path, [rec(1, 0.1).to_json()])
    assert summarize_requests_file(path, workers=4).counts.total == 1
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert summarize_requests_file(empty, workers=2).counts.total == 0


def test_a_file_of_records_round_trips_through_json(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    write_lines(path, [json.dumps(json.loads(r.to_json())) for r in mixed()])  # spaced JSON, same data
    assert summarize_requests_file(path).counts == summarize_requests(mixed()).counts


@pytest.mark.parametrize("workers", [2, 4])
def test_a_chunk_boundary_on_a_line_start_counts_that_line_once(tmp_path: Path, workers: int) -> None:
    path = tmp_path / "requests.jsonl"
    lines = [rec(i, 1.0).to_json() for i in range(1, 9)]  # same length: every split lands on a line start
    assert len({len(line) for line in lines}) == 1
    write_lines(path, lines)
    s = summarize_requests_file(path, workers=workers)
    assert s.counts.total == 8
    assert s.counts.malformed_lines == 0


def test_a_failing_worker_costs_time_not_evidence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    from harness.verdict import summary as summary_module

    path = tmp_path / "requests.jsonl"
    records = many_records(600, seed=1)
    write_lines(path, [r.to_json() for r in records])
    expected = summarize_requests_file(path, workers=1)
    assert_same(summarize_requests_file(path, workers=3), expected)  # real worker processes

    submitted: list[int] = []

    class DyingPool:
        """Every worker dies: its chunk must be scanned in the judging process instead."""

        def __init__(self, **_: object) -> None: ...
        def __enter__(self) -> DyingPool:
            return self
        def __exit__(self, *_: object) -> None: ...
        def submit(self, fn: object, *args: object) -> Future[object]:
            submitted.append(int(args[3]))  # type: ignore[call-overload]
            future: Future[object] = Future()
            future.set_exception(BrokenProcessPool("a worker died"))
            return future

    monkeypatch.setattr(summary_module, "ProcessPoolExecutor", DyingPool)
    assert_same(summarize_requests_file(path, workers=3), expected)
    assert submitted == [1, 2]

    def no_processes(**_: object) -> None:
        raise OSError("cannot fork")

    monkeypatch.setattr(summary_module, "ProcessPoolExecutor", no_processes)
    assert_same(summarize_requests_file(path, workers=2), expected)


def test_a_request_answered_in_no_time_is_readable(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    write_lines(path, ['{"id":"r-00000001","user":"u","conn":"new","t_start":1,"m_start":5,"m_end":5,"status":200}'])
    s = summarize_requests_file(path)
    assert (s.counts.total, s.counts.malformed_lines, s.counts.outcomes.ok) == (1, 0, 1)


def test_records_in_memory_with_impossible_times_are_malformed_not_judged() -> None:
    bad = [rec(1, 0.1), rec(2, 0.2), rec(3, 0.3)]
    bad[1].m_end = math.nan
    bad[2].m_end = bad[2].m_start - 0.001
    s = summarize_requests(bad)
    assert (s.counts.total, s.counts.malformed_lines) == (1, 2)


def test_requests_started_per_second_per_connection_mode(tmp_path: Path) -> None:
    s = summarize_requests(mixed())
    assert s.starts_by_conn == {"keep-alive": {500: 3, 501: 2, 502: 2}, "new": {501: 1, 502: 1}}
    path = tmp_path / "requests.jsonl"
    write_lines(path, [r.to_json() for r in mixed()])
    assert summarize_requests_file(path).starts_by_conn == s.starts_by_conn


def test_a_kept_record_with_a_status_that_is_no_integer_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    line = '{"id":"r-00000001","user":"u","conn":"new","t_start":1,"m_start":1,"m_end":1.5,"status":"200"}'
    write_lines(path, [line])
    [kept] = summarize_requests_file(path).first_failures
    assert (kept.status, kept.status_text) == (None, '"200"')
    assert json.loads(kept.to_json())["status"] == "200"
    assert not kept.ok


def test_ids_are_tallied_across_worker_processes(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    records = [rec(i, i * 0.01) for i in range(3000)]
    for seq, r in enumerate(records, start=1):
        r.id = f"run-{seq:08d}"
    lines = [r.to_json() for r in records]
    lines.append(lines[1234])  # one request written twice
    del lines[77]  # and one never written
    write_lines(path, lines)
    one = summarize_requests_file(path, workers=1)
    split = summarize_requests_file(path, workers=3)
    for s in (one, split):
        assert (s.ids.valid, s.ids.distinct, s.ids.extra, s.ids.odd) == (3000, 2999, 1, 0)
        assert s.ids.missing(3000) == 1
        assert [s.ids.name(n) for n in s.ids.first_missing(3000)] == ["run-00000078"]
        assert s.ids.first_duplicated() == [1235]
        assert s.lines == 3000
    assert one.ids.seen.rstrip(b"\0") == split.ids.seen.rstrip(b"\0")  # the same, up to spare room
    assert one.digest == split.digest


def test_the_digest_ignores_line_ends_and_blank_lines_but_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    lines = [r.to_json() for r in mixed()]
    write_lines(path, lines)
    plain = summarize_requests_file(path)
    assert plain.digest == summarize_requests(mixed()).digest
    path.write_bytes(("\r\n".join(lines) + "\r\n\n").encode())
    assert (summarize_requests_file(path).digest, summarize_requests_file(path).lines) == (plain.digest, 9)
    path.write_bytes("\n".join(lines).encode())  # no newline after the last line
    assert summarize_requests_file(path).digest == plain.digest
    path.write_bytes(("\n".join([*lines[:-1], lines[-1].replace("200", "201")]) + "\n").encode())
    assert summarize_requests_file(path).digest != plain.digest
    path.write_bytes(("\n".join([lines[1], lines[0], *lines[2:]]) + "\n").encode())  # reordered
    assert summarize_requests_file(path).digest != plain.digest
