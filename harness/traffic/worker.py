"""The traffic process: Locust users at a fixed rate, one JSON line per request.

Run as ``python -m harness.traffic.worker CONFIG_JSON``. Importing locust monkey-patches the whole
process with gevent, which is why this module is never imported by the harness process itself.

Protocol with the parent (see ``harness.traffic.protocol``): SIGTERM (or SIGINT) means "stop
sending, let in-flight requests finish, write everything, exit 0". Once a second a status line goes
to stdout; the last line is the final report: what was sent per user class and connection mode,
how many lines were written and the digest of exactly those lines, so that judging can prove the
records complete and unaltered.
"""

from __future__ import annotations

import itertools
import signal
import sys
import time
import types
from dataclasses import dataclass, field
from typing import Any, Literal

import gevent
import gevent.event
import geventhttpclient.client
from locust import FastHttpUser, constant_throughput, events, task
from locust.env import Environment

from harness.evidence import ConnectionMode, ErrorKind, LinesDigest, RequestRecord, TrafficReport
from harness.traffic.classify import classify
from harness.traffic.config import TrafficConfig
from harness.traffic.protocol import TrafficStatus, done_line, status_line

# geventhttpclient silently re-sends an idempotent request whose connection broke after it was
# sent. That retry would hide exactly the loss the harness exists to measure: every request sent
# is recorded with its own outcome, never replaced by a second attempt.
geventhttpclient.client._may_retry_after_send_error = lambda method: False

# --- shared state of this process ------------------------------------------------------------


@dataclass
class _Tally:
    """What this process sent and wrote; the final report is made from it."""

    sent: int = 0
    ok: int = 0
    failed: int = 0
    by_user: dict[str, int] = field(default_factory=dict)
    by_conn: dict[str, int] = field(default_factory=dict)
    max_seq: int = 0
    lines: int = 0
    digest: LinesDigest = field(default_factory=LinesDigest)

    def report(self, ended: Literal["stopped", "max_duration"]) -> TrafficReport:
        return TrafficReport(sent=self.sent, ok=self.ok, failed=self.failed, by_user=dict(self.by_user),
                             by_conn=dict(self.by_conn), lines=self.lines, digest=self.digest.hexdigest(),
                             max_seq=self.max_seq, ended=ended)


_CONFIG: TrafficConfig | None = None
_ids = itertools.count(1)
_inflight: dict[str, RequestRecord] = {}
_pending_lines: list[str] = []
_stopping = False
_tally = _Tally()


def _config() -> TrafficConfig:
    assert _CONFIG is not None
    return _CONFIG


def _finish(rec: RequestRecord) -> None:
    _inflight.pop(rec.id, None)
    if rec.ok:
        _tally.ok += 1
    else:
        _tally.failed += 1
    _pending_lines.append(rec.to_json())


def _count_sent(user: str, mode: ConnectionMode) -> None:
    _tally.sent += 1
    _tally.by_user[user] = _tally.by_user.get(user, 0) + 1
    _tally.by_conn[mode.value] = _tally.by_conn.get(mode.value, 0) + 1


class _Recording:
    """Mixin: every request goes through ``send`` and becomes one record."""

    conn_mode = ConnectionMode.KEEP_ALIVE
    last_pod: str | None = None
    client: Any

    def send(self) -> None:
        if _stopping:
            return
        cfg = _config()
        user = type(self).__name__
        if not cfg.record:
            # The benchmark's baseline: the same user and request, nothing recorded.
            _count_sent(user, self.conn_mode)
            resp = self.client.get(cfg.paths[0], headers={"X-Request-ID": "bench"})
            ok = getattr(resp, "error", None) is None and 200 <= getattr(resp, "status_code", 0) < 400
            if ok:
                _tally.ok += 1
            else:
                _tally.failed += 1
            return
        seq = next(_ids)
        _tally.max_seq = seq
        rid = f"{cfg.run_id}-{seq:08d}"
        rec = RequestRecord(id=rid, user=user, conn=self.conn_mode,
                            t_start=time.time(), m_start=time.monotonic(),
                            conn_pod=self.last_pod if self.conn_mode is ConnectionMode.KEEP_ALIVE else None)
        _inflight[rid] = rec
        _count_sent(user, self.conn_mode)
        headers = {"X-Request-ID": rid}
        if self.conn_mode is ConnectionMode.NEW:
            headers["Connection"] = "close"
        path = cfg.paths[seq % len(cfg.paths)]
        try:
            resp = self.client.get(path, headers=headers, name=path)
            self._record_response(rec, resp)
        except Exception as exc:  # the record must be written whatever the client raised
            rec.m_end, rec.t_end = time.monotonic(), time.time()
            rec.status = None
            rec.error = classify(exc)
            rec.detail = f"{type(exc).__name__}: {exc}"[:200]
            self.last_pod = None
        _finish(rec)

    def _record_response(self, rec: RequestRecord, resp: Any) -> None:
        error = getattr(resp, "error", None)
        if error is not None:
            # A failure on the connection is a failure even when a status line had arrived.
            rec.m_end, rec.t_end = time.monotonic(), time.time()
            code = getattr(resp, "status_code", 0)
            after = f"after status {code}: " if code else ""
            rec.error = classify(error) if isinstance(error, BaseException) else ErrorKind.OTHER
            rec.detail = f"{after}{type(error).__name__}: {error}"[:200]
            self.last_pod = None
            return
        status = resp.status_code
        body = resp.content or b""  # reading the body can fail too; the caller records that
        rec.m_end, rec.t_end = time.monotonic(), time.time()
        headers = resp.headers
        length = headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) != len(body) and status not in (204, 304):
            rec.error = ErrorKind.RESET
            rec.detail = f"status {status}, body cut short: {len(body)} of {length} bytes"
            self.last_pod = None
            return
        if type(status) is not int:
            rec.error = ErrorKind.OTHER
            rec.detail = f"the client reported status {status!r}, not an integer"[:200]
            self.last_pod = None
            return
        rec.status = status  # exactly as received: judging decides what counts as an answer
        rec.pod = headers.get("X-Pod")
        rec.version = headers.get("X-Version")
        rec.bytes = len(body)
        if not 200 <= status < 400:
            rec.detail = body[:120].decode("utf-8", errors="replace")
        if headers.get("Connection", "").lower() == "close" or self.conn_mode is ConnectionMode.NEW:
            self.last_pod = None
        else:
            self.last_pod = rec.pod


def _user_class(name: str, mode: ConnectionMode, count: int, cfg: TrafficConfig) -> type:
    """A Locust user class of one connection mode; each user runs at an equal share of the rate."""

    def hit(self: _Recording) -> None:
        self.send()

    namespace = {
        "conn_mode": mode,
        "wait_time": constant_throughput(cfg.rate / max(1, cfg.users)),
        "network_timeout": cfg.timeout_s,
        "connection_timeout": cfg.connect_timeout_s,
        "concurrency": 1,
        "fixed_count": count,
        "hit": task(hit),
    }
    # types.new_class lets Locust's metaclass collect the task, as a class statement would.
    return types.new_class(name, (_Recording, FastHttpUser), exec_body=lambda ns: ns.update(namespace))


_CLASS_NAMES = {ConnectionMode.KEEP_ALIVE: "KeepAliveUser", ConnectionMode.NEW: "NewConnectionUser"}


def _user_classes(cfg: TrafficConfig) -> list[type]:
    return [_user_class(_CLASS_NAMES[ConnectionMode(mode)], ConnectionMode(mode), count, cfg)
            for mode, count in cfg.users_by_mode.items()]


@dataclass
class _Writer:
    """Appends the finished records to the file, and feeds exactly those bytes to the digest."""

    path: str
    stop: gevent.event.Event = field(default_factory=gevent.event.Event)

    def run(self) -> None:
        with open(self.path, "ab") as fh:
            while not self.stop.wait(0.25):
                self.flush(fh)
            self.flush(fh)

    @staticmethod
    def flush(fh: Any) -> None:
        if not _pending_lines:
            return
        # No switch to another greenlet can happen between these two statements.
        lines = _pending_lines[:]
        del _pending_lines[: len(lines)]
        data = ("\n".join(lines) + "\n").encode("utf-8")
        fh.write(data)
        fh.flush()
        _tally.digest.update(data)
        _tally.lines += len(lines)


def _status(rps: float) -> None:
    status = TrafficStatus(sent=_tally.sent, ok=_tally.ok, failed=_tally.failed, inflight=len(_inflight),
                           rps=round(rps, 1), m=time.monotonic(), by_conn=dict(_tally.by_conn))
    sys.stdout.write(status_line(status))
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    global _CONFIG, _stopping
    with open(argv[1], encoding="utf-8") as fh:
        cfg = TrafficConfig.model_validate_json(fh.read())
    _CONFIG = cfg
    env = Environment(user_classes=_user_classes(cfg), host=cfg.url, events=events,
                      stop_timeout=cfg.timeout_s + 2, catch_exceptions=True)
    runner = env.create_local_runner()
    writer = _Writer(cfg.out)
    writer_greenlet = gevent.spawn(writer.run)
    stop_requested = gevent.event.Event()

    def request_stop(*_: Any) -> None:
        stop_requested.set()

    gevent.signal_handler(signal.SIGTERM, request_stop)
    gevent.signal_handler(signal.SIGINT, request_stop)
    runner.start(cfg.users, spawn_rate=cfg.spawn_rate)
    last_sent, last_m = 0, time.monotonic()
    deadline = time.monotonic() + cfg.max_duration_s
    ended: Literal["stopped", "max_duration"] = "stopped"
    while not stop_requested.wait(min(1.0, max(0.0, deadline - time.monotonic()))):
        now = time.monotonic()
        _status((_tally.sent - last_sent) / max(now - last_m, 1e-6))
        last_sent, last_m = _tally.sent, now
        if now >= deadline:
            ended = "max_duration"
            break
    # Stop sending; requests already sent finish (or time out) before the users are stopped.
    _stopping = True
    drain_deadline = time.monotonic() + cfg.timeout_s + 2
    while _inflight and time.monotonic() < drain_deadline:
        gevent.sleep(0.05)
    runner.quit()
    # Anything still in flight now was sent and never answered: it is recorded, not dropped.
    for rec in list(_inflight.values()):
        rec.error = ErrorKind.INCOMPLETE
        rec.detail = "no response when traffic stopped"
        _finish(rec)
    writer.stop.set()
    writer_greenlet.join()
    if not writer_greenlet.successful():
        raise RuntimeError(f"writing {cfg.out} failed: {writer_greenlet.exception}")
    _status(0.0)
    sys.stdout.write(done_line(_tally.report(ended)))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
