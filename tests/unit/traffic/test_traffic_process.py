"""The real traffic process (its own interpreter, Locust and gevent) against a small local HTTP server:
its final report accounts for exactly the file it wrote, and traffic that ends on its own is an error."""

from __future__ import annotations

import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from harness.errors import TrafficError
from harness.evidence import REQUESTS_FILE, read_requests
from harness.traffic.config import TrafficConfig
from harness.traffic.runner import TrafficProcess
from harness.verdict import summarize_requests_file
from tests.unit.local_server import serving


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive users keep their connection

    def do_GET(self) -> None:
        # "/odd" answers with a status that is no HTTP answer: the record must hold it as received.
        status, body = {"/odd": (999, b"odd"), "/busy": (503, b"draining")}.get(self.path, (200, b'{"ok":true}'))
        self.send_response(status)
        self.send_header("X-Pod", "local-1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    with serving(_Handler) as url:
        yield url


def _config(url: str, tmp_path: Path, **extra: float) -> TrafficConfig:
    return TrafficConfig(url=url, out=str(tmp_path / REQUESTS_FILE), run_id="t1", rate=40, users=4,
                         paths=["/", "/odd", "/busy"], timeout_s=2.0, **extra)


def test_the_final_report_accounts_for_exactly_what_was_written(server: str, tmp_path: Path) -> None:
    with TrafficProcess(_config(server, tmp_path), tmp_path) as traffic:
        traffic.wait_first_answers(10, 30)
        time.sleep(1.0)
        traffic.check_alive()
        assert traffic.status.sent > 0 and set(traffic.status.by_conn) <= {"keep-alive", "new"}
        report = traffic.stop()
    summary = summarize_requests_file(tmp_path / REQUESTS_FILE)
    assert report.ended == "stopped"
    assert (summary.digest, summary.lines) == (report.digest, report.lines)
    assert summary.counts.total == report.sent == report.lines == report.max_seq
    assert summary.ids.missing(report.max_seq) == 0 and summary.ids.extra == 0
    assert {u: c.total for u, c in summary.counts.by_user.items()} == report.by_user
    assert {m: c.total for m, c in summary.counts.by_conn.items()} == report.by_conn == {
        "keep-alive": report.by_conn["keep-alive"], "new": report.by_conn["new"]}
    records = list(read_requests(tmp_path / REQUESTS_FILE))
    assert {r.status for r in records} == {200, 503, 999}  # recorded exactly as received
    assert {r.detail for r in records if r.status == 503} == {"draining"}
    assert all(r.error is None and r.bytes > 0 for r in records)
    outcomes = summary.counts.outcomes
    assert report.ok == outcomes.ok  # only a 2xx or 3xx is ok
    assert report.failed == outcomes.bad_status + outcomes.http_5xx
    assert outcomes.bad_status > 0 and outcomes.http_5xx > 0


def test_traffic_that_ends_by_its_own_deadline_is_an_error(server: str, tmp_path: Path) -> None:
    # Long enough for the first answers to come on a loaded machine, before the deadline ends it.
    with TrafficProcess(_config(server, tmp_path, max_duration_s=3.0), tmp_path) as traffic:
        traffic.wait_first_answers(5, 30)
        deadline = time.monotonic() + 30
        with pytest.raises(TrafficError, match="max_duration_s of 3 s ran out") as raised:
            while time.monotonic() < deadline:
                traffic.check_alive()
                time.sleep(0.1)
        assert "before the run's steps ended" in raised.value.problem
        with pytest.raises(TrafficError, match="max_duration_s"):
            traffic.stop()
        assert traffic.report is not None and traffic.report.ended == "max_duration"


def test_a_held_process_sends_nothing_until_it_is_let_go(server: str, tmp_path: Path) -> None:
    traffic = TrafficProcess(_config(server, tmp_path), tmp_path)
    traffic.start(hold=True)
    try:
        time.sleep(3.0)  # long past its start-up: a process that was not held would have sent by now
        traffic.check_alive()
        assert traffic.status.sent == 0 and (tmp_path / REQUESTS_FILE).read_bytes() == b""
        with traffic:
            traffic.wait_first_answers(5, 30)
            report = traffic.stop()
    finally:
        traffic.__exit__(None, None, None)
    assert report.ended == "stopped" and report.sent == report.lines > 0


def test_a_held_process_never_let_go_ends_at_once_having_sent_nothing(server: str, tmp_path: Path) -> None:
    traffic = TrafficProcess(_config(server, tmp_path), tmp_path)
    traffic.start(hold=True)
    time.sleep(2.0)
    started = time.monotonic()
    traffic.__exit__(None, None, None)
    assert time.monotonic() - started < 5.0  # at once, not after the wait that ends in a kill
    assert traffic.report is None and (tmp_path / REQUESTS_FILE).read_bytes() == b""
