"""The traffic process: Locust users at a fixed rate, one JSON line per request.

Two traffic models: ``open`` (the default; ``harness.traffic.open_loop``) sends each connection
mode's requests on a fixed schedule whatever is outstanding; ``closed`` (for comparison) has each
user wait for its answer before it sends again, paced at its share of the rate.

Run as ``python -m harness.traffic.worker CONFIG_JSON [--hold]``; with ``--hold`` nothing starts until
the line ``go`` arrives on stdin (the harness starts the process, and its imports, while it deploys).
Importing locust monkey-patches the whole process with gevent, which is why this module is never
imported by the harness process itself.

Protocol with the parent (see ``harness.traffic.protocol``): SIGTERM (or SIGINT) means "stop
sending, let in-flight requests finish, write everything, exit 0". Once a second a status line goes
to stdout; the last line is the final report: what was sent per user class and connection mode,
how many lines were written and the digest of exactly those lines, so that judging can prove the
records complete and unaltered.
"""

from __future__ import annotations

import gc
import resource
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

from harness.evidence import ConnectionMode, ErrorKind, RequestRecord
from harness.traffic import wire
from harness.traffic.choice import RequestChooser
from harness.traffic.classify import classify
from harness.traffic.config import PlannedRequest, TrafficConfig
from harness.traffic.open_loop import ModeTraffic, open_user_classes, start_modes
from harness.traffic.protocol import FIRST_ANSWERS, GO_LINE, HOLD_FLAG, TrafficStatus, done_line, status_line
from harness.traffic.recorder import Recorder, apply_answer

# geventhttpclient silently re-sends an idempotent request whose connection broke after it was
# sent. That retry would hide exactly the loss the harness exists to measure: every request sent
# is recorded with its own outcome, never replaced by a second attempt.
geventhttpclient.client._may_retry_after_send_error = lambda method: False


class _EveryStatus:
    """Locust's client turns any status outside its short list (a 404, a 503, a 999) into an
    exception and releases the connection before the body is read. Every status is accepted here
    and recorded as it came; judging alone decides which statuses are answers."""

    def __contains__(self, status: object) -> bool:
        return True


_EVERY_STATUS = _EveryStatus()

# --- shared state of this process ------------------------------------------------------------


_CONFIG: TrafficConfig | None = None
_RECORDER: Recorder | None = None
_CHOOSER: RequestChooser | None = None
_stopping = False


def _config() -> TrafficConfig:
    assert _CONFIG is not None
    return _CONFIG


def _chooser() -> RequestChooser:
    assert _CHOOSER is not None
    return _CHOOSER


def _recorder() -> Recorder:
    assert _RECORDER is not None
    return _RECORDER


class _Recording:
    """Closed-loop mixin: every request goes through ``send`` and becomes one record."""

    conn_mode = ConnectionMode.KEEP_ALIVE
    last_pod: str | None = None
    head = False  # the request being recorded is a HEAD
    client: Any

    def on_start(self) -> None:
        self.client.client.valid_response_codes = _EVERY_STATUS

    def send(self) -> None:
        if _stopping:
            return
        cfg, recorder = _config(), _recorder()
        user = type(self).__name__
        tally = recorder.tally
        if not cfg.record:
            # The benchmark's baseline: the same user and request, nothing recorded.
            tally.count_sent(user, self.conn_mode)
            resp = self._request(_chooser().requests[0], {"X-Request-ID": "bench"})
            ok = getattr(resp, "error", None) is None and 200 <= getattr(resp, "status_code", 0) < 400
            if ok:
                tally.ok += 1
            else:
                tally.failed += 1
            return
        rec = recorder.begin(user, self.conn_mode, t_start=time.time(), m_start=time.monotonic(),
                             conn_pod=self.last_pod if self.conn_mode is ConnectionMode.KEEP_ALIVE else None)
        req = _chooser().for_seq(tally.max_seq)
        rec.req, rec.expect = req.name, req.expect
        self.head = req.method == "HEAD"
        headers = {"X-Request-ID": rec.id}
        if self.conn_mode is ConnectionMode.NEW:
            headers["Connection"] = "close"
        try:
            resp = self._request(req, headers)
            self._record_response(rec, resp)
        except Exception as exc:  # the record must be written whatever the client raised
            rec.m_end, rec.t_end = time.monotonic(), time.time()
            rec.status = None
            rec.error = classify(exc)
            rec.detail = f"{type(exc).__name__}: {exc}"[:200]
            self.last_pod = None
        recorder.finish(rec)

    def _request(self, req: PlannedRequest, headers: dict[str, str]) -> Any:
        cfg = _config()
        sent = {**req.headers, **headers}
        if cfg.host is not None:
            sent["Host"] = cfg.host
        # A body-carrying method gets its Content-Length even when the body is empty.
        body = req.body if req.body or req.method in ("POST", "PUT", "PATCH") else None
        return self.client.request(req.method, req.path, headers=sent, data=body, name=req.name or req.path)

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
        m_end, t_end = time.monotonic(), time.time()
        if type(status) is not int:
            rec.m_end, rec.t_end = m_end, t_end
            rec.error = ErrorKind.OTHER
            rec.detail = f"the client reported status {status!r}, not an integer"[:200]
            self.last_pod = None
            return
        # geventhttpclient's headers are looked up without regard to case, as apply_answer expects.
        headers = resp.headers
        if not apply_answer(rec, status, headers, body, complete=True, m_end=m_end, t_end=t_end, head=self.head):
            self.last_pod = None
            return
        if headers.get("Connection", "").lower() == "close" or self.conn_mode is ConnectionMode.NEW:
            self.last_pod = None
        else:
            self.last_pod = rec.pod


def _user_class(name: str, mode: ConnectionMode, count: int, cfg: TrafficConfig) -> type:
    """A Locust user class of one connection mode; each user runs at an equal share of the rate."""

    def hit(self: _Recording) -> None:
        self.send()

    tls = wire.tls_context(verify=cfg.tls.verify, ca_file=cfg.tls.ca_file, server_name=cfg.server_name)

    def context(**_: Any) -> Any:
        return tls

    namespace = {
        "conn_mode": mode,
        # geventhttpclient turns hostname checks back on unless insecure; the context says the rest.
        "insecure": not cfg.tls.verify,
        "ssl_context_factory": staticmethod(context),
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


def _closed_user_classes(cfg: TrafficConfig) -> list[type]:
    return [_user_class(_CLASS_NAMES[ConnectionMode(mode)], ConnectionMode(mode), count, cfg)
            for mode, count in cfg.users_by_mode.items()]


@dataclass
class _Writer:
    """Appends the finished records to the file, and feeds exactly those bytes to the digest."""

    path: str
    recorder: Recorder
    stop: gevent.event.Event = field(default_factory=gevent.event.Event)

    def run(self) -> None:
        with open(self.path, "ab") as fh:
            while not self.stop.wait(0.25):
                self.flush(fh)
            self.flush(fh)

    def flush(self, fh: Any) -> None:
        # take_lines hands over the lines without a switch to another greenlet in between.
        lines = self.recorder.take_lines()
        if not lines:
            return
        data = ("\n".join(lines) + "\n").encode("utf-8")
        fh.write(data)
        fh.flush()
        tally = self.recorder.tally
        tally.digest.update(data)
        tally.lines += len(lines)


def _status(recorder: Recorder, rps: float) -> None:
    tally = recorder.tally
    status = TrafficStatus(sent=tally.sent, ok=tally.ok, failed=tally.failed, unexpected=tally.unexpected,
                           inflight=len(recorder.inflight),
                           rps=round(rps, 1), m=time.monotonic(), by_conn=dict(tally.by_conn))
    sys.stdout.write(status_line(status))
    sys.stdout.flush()


def _raise_open_files_limit() -> None:
    """Open-loop traffic holds a connection per request in flight: up to the in-flight cap of every
    mode, far above a shell's usual soft limit of 1,024 descriptors when nothing answers."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _drain(recorder: Recorder, modes: dict[ConnectionMode, ModeTraffic], deadline: float) -> None:
    """Wait until every request sent has ended (or the deadline passed). An open-loop user that was
    late may still start a request due before the stop, so the check waits a beat first."""
    while time.monotonic() < deadline:
        gevent.sleep(0.05)
        if not recorder.inflight and not any(len(t.group) for t in modes.values()):
            return


def main(argv: list[str]) -> int:
    global _CONFIG, _RECORDER, _CHOOSER, _stopping
    with open(argv[1], encoding="utf-8") as fh:
        cfg = TrafficConfig.model_validate_json(fh.read())
    _CONFIG = cfg
    if HOLD_FLAG in argv[2:] and sys.stdin.buffer.readline().strip() != GO_LINE.strip():
        return 0  # released without "go": the run ended before its traffic began
    _CHOOSER = RequestChooser(cfg.plan(), cfg.seed, weighted=cfg.requests is not None)
    recorder = _RECORDER = Recorder(cfg.run_id)
    modes: dict[ConnectionMode, ModeTraffic] = {}
    if cfg.model == "open":
        _raise_open_files_limit()
        modes = start_modes(cfg)
        user_classes = open_user_classes(cfg, recorder, modes)
        # Every user starts at once: the schedule, not the spawn rate, says when requests go.
        spawn_rate = 100.0  # Locust warns above this; one user alone could carry the schedule
    else:
        user_classes = _closed_user_classes(cfg)
        spawn_rate = cfg.spawn_rate
    env = Environment(user_classes=user_classes, host=cfg.url, events=events,
                      stop_timeout=cfg.timeout_s + 2, catch_exceptions=True)
    runner = env.create_local_runner()
    writer = _Writer(cfg.out, recorder)
    writer_greenlet = gevent.spawn(writer.run)
    stop_requested = gevent.event.Event()

    def request_stop(*_: Any) -> None:
        stop_requested.set()

    gevent.signal_handler(signal.SIGTERM, request_stop)
    gevent.signal_handler(signal.SIGINT, request_stop)
    # Everything imported and built so far lives as long as the process: out of the collector's way,
    # so that the full collections the records trigger do not walk Locust's and pydantic's objects.
    gc.freeze()
    runner.start(cfg.users, spawn_rate=spawn_rate)
    tally = recorder.tally
    last_sent, last_m = 0, time.monotonic()
    deadline = time.monotonic() + cfg.max_duration_s
    ended: Literal["stopped", "max_duration"] = "stopped"
    # A status line a second; until the first answers came, ten a second: the harness starts its
    # clock on them, and a second of waiting for the next line would be a second of every run.
    while not stop_requested.wait(min(1.0 if tally.ok + tally.failed >= FIRST_ANSWERS else 0.1,
                                      max(0.0, deadline - time.monotonic()))):
        now = time.monotonic()
        _status(recorder, (tally.sent - last_sent) / max(now - last_m, 1e-6))
        last_sent, last_m = tally.sent, now
        if now >= deadline:
            ended = "max_duration"
            break
    # Stop sending; requests already sent finish (or time out) before the users are stopped.
    _stopping = True
    stop_m = time.monotonic()
    for traffic in modes.values():
        traffic.stop_m = stop_m
    _drain(recorder, modes, time.monotonic() + cfg.timeout_s + 2)
    if modes:
        # The open-loop users hold nothing now (their requests ran in the groups just drained): they
        # are stopped at once instead of being waited for over Locust's stop timeout for nothing.
        env.stop_timeout = 0.0
    runner.quit()
    for traffic in modes.values():
        # A request still running now is recorded below as sent and never answered.
        traffic.group.kill(block=True, timeout=2.0)
    # Anything still in flight now was sent and never answered: it is recorded, not dropped.
    recorder.abandon_inflight()
    writer.stop.set()
    writer_greenlet.join()
    if not writer_greenlet.successful():
        raise RuntimeError(f"writing {cfg.out} failed: {writer_greenlet.exception}")
    _status(recorder, 0.0)
    sys.stdout.write(done_line(tally.report(ended)))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
