"""The real traffic process in the open model against a small local HTTP server: requests leave on
their schedule, connections behave as real clients' do, and a request the in-flight cap stops is one
record, accounted for like any other."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from harness.evidence import REQUESTS_FILE, ErrorKind, read_requests
from harness.traffic.config import TrafficConfig
from harness.traffic.runner import TrafficProcess
from harness.verdict import summarize_requests_file
from tests.unit.local_server import serving


@dataclass
class _Seen:
    """What the server saw: per request id, the connection (client port) and its Connection header."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: dict[str, tuple[int, str]] = field(default_factory=dict)
    delay_s: float = 0.0


def _handler(seen: _Seen) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            with seen.lock:
                seen.requests[self.headers.get("X-Request-ID", "")] = (
                    self.client_address[1], self.headers.get("Connection", ""))
            if seen.delay_s:
                time.sleep(seen.delay_s)
            body = b'{"ok":true}'
            self.send_response(200)
            self.send_header("X-Pod", "local-1")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    return Handler


@pytest.fixture
def seen() -> _Seen:
    return _Seen()


@pytest.fixture
def server(seen: _Seen) -> Iterator[str]:
    with serving(_handler(seen)) as url:
        yield url


def _run(cfg: TrafficConfig, tmp_path: Path, seconds: float) -> None:
    with TrafficProcess(cfg, tmp_path) as traffic:
        traffic.wait_first_answers(5, 30)
        time.sleep(seconds)
        report = traffic.stop()
    summary = summarize_requests_file(tmp_path / REQUESTS_FILE)
    assert (summary.digest, summary.lines) == (report.digest, report.lines)
    assert summary.counts.total == report.sent == report.max_seq
    assert {m: c.total for m, c in summary.counts.by_conn.items()} == report.by_conn


def test_requests_leave_on_schedule_with_one_connection_each_or_a_kept_pool(
        server: str, seen: _Seen, tmp_path: Path) -> None:
    cfg = TrafficConfig(url=server, out=str(tmp_path / REQUESTS_FILE), run_id="o1", rate=100, users=4,
                        timeout_s=2.0)
    _run(cfg, tmp_path, 2.0)
    records = list(read_requests(tmp_path / REQUESTS_FILE))
    assert all(r.ok and r.m_sched is not None and r.t_sched is not None for r in records)
    for mode in ("keep-alive", "new"):
        of_mode = [(r.m_sched, r.m_start) for r in records if r.conn.value == mode and r.m_sched is not None]
        due = sorted(m_sched for m_sched, _ in of_mode)
        # 50 req/s per mode on a uniform schedule: every due time 20 ms after the one before.
        gaps = {round(b - a, 6) for a, b in itertools.pairwise(due)}
        assert gaps == {0.02}, mode
        late_ms = sorted((m_start - m_sched) * 1000 for m_sched, m_start in of_mode)
        assert late_ms[0] >= 0 and late_ms[len(late_ms) // 2] < 20, late_ms[-5:]
    new = [r for r in records if r.conn.value == "new"]
    kept = [r for r in records if r.conn.value == "keep-alive"]
    # A new connection per request, each asking the server to close it.
    assert {seen.requests[r.id][1].lower() for r in new} == {"close"}
    assert len({seen.requests[r.id][0] for r in new}) == len(new)
    # Keep-alive requests share a few connections; a reused one names the pod of its last answer.
    assert len({seen.requests[r.id][0] for r in kept}) <= len(kept) // 5
    assert {r.conn_pod for r in kept} == {None, "local-1"}
    assert sum(r.conn_pod is None for r in kept) == len({seen.requests[r.id][0] for r in kept})


def test_requests_the_cap_stops_are_recorded_as_not_sent_and_accounted(
        server: str, seen: _Seen, tmp_path: Path) -> None:
    seen.delay_s = 0.6
    cfg = TrafficConfig(url=server, out=str(tmp_path / REQUESTS_FILE), run_id="o2", rate=40, users=2,
                        keepalive_share=0.0, timeout_s=2.0, max_in_flight=6)
    _run(cfg, tmp_path, 1.5)
    records = list(read_requests(tmp_path / REQUESTS_FILE))
    not_sent = [r for r in records if r.error is ErrorKind.NOT_SENT]
    answered = [r for r in records if r.ok]
    # 40 req/s with answers after 0.6 s hold 24 in flight; 6 may be: most are never sent.
    assert len(not_sent) > len(answered) > 0
    assert {r.detail for r in not_sent} == {"not sent: in-flight cap"}
    assert all(r.m_sched is not None and r.m_end is None for r in not_sent)
    assert not {r.id for r in not_sent} & set(seen.requests)  # the server never saw them


def test_the_closed_model_stays_available_and_writes_no_schedule(server: str, seen: _Seen, tmp_path: Path) -> None:
    cfg = TrafficConfig(url=server, out=str(tmp_path / REQUESTS_FILE), run_id="o3", rate=40, users=4,
                        timeout_s=2.0, model="closed")
    _run(cfg, tmp_path, 1.0)
    records = list(read_requests(tmp_path / REQUESTS_FILE))
    assert records and all(r.ok for r in records)
    # Each user waits for its answer: there is no schedule, so no due time is claimed.
    assert all(r.m_sched is None and r.t_sched is None for r in records)
    assert {r.conn.value for r in records} == {"keep-alive", "new"}
