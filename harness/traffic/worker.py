"""The traffic process: Locust users at a fixed rate, one JSON line per request.

Run as ``python -m harness.traffic.worker CONFIG_JSON``. Importing locust monkey-patches the whole
process with gevent, which is why this module is never imported by the harness process itself.

Protocol with the parent: SIGTERM (or SIGINT) means "stop sending, let in-flight requests finish,
write everything, exit 0". Once a second a status line ``{"status": {...}}`` goes to stdout.
"""

from __future__ import annotations

import itertools
import json
import signal
import sys
import time
import types
from dataclasses import dataclass
from typing import Any

import gevent
import gevent.event
import geventhttpclient.client
from gevent.lock import Semaphore
from locust import FastHttpUser, constant_throughput, events, task
from locust.env import Environment

from harness.evidence import ConnectionMode, ErrorKind, RequestRecord
from harness.traffic.classify import classify
from harness.traffic.config import TrafficConfig

# geventhttpclient silently re-sends an idempotent request whose connection broke after it was
# sent. That retry would hide exactly the loss the harness exists to measure: every request sent
# is recorded with its own outcome, never replaced by a second attempt.
geventhttpclient.client._may_retry_after_send_error = lambda method: False

# --- shared state of this process ------------------------------------------------------------

_CONFIG: TrafficConfig | None = None
_ids = itertools.count(1)
_inflight: dict[str, RequestRecord] = {}
_pending_lines: list[str] = []
_write_lock = Semaphore()
_stopping = False
_counts = {"sent": 0, "ok": 0, "failed": 0}


def _config() -> TrafficConfig:
    assert _CONFIG is not None
    return _CONFIG


def _finish(rec: RequestRecord) -> None:
    _inflight.pop(rec.id, None)
    if rec.ok:
        _counts["ok"] += 1
    else:
        _counts["failed"] += 1
    _pending_lines.append(rec.to_json())


class _Recording:
    """Mixin: every request goes through ``send`` and becomes one record."""

    conn_mode = ConnectionMode.KEEP_ALIVE
    last_pod: str | None = None
    client: Any

    def send(self) -> None:
        if _stopping:
            return
        cfg = _config()
        if not cfg.record:
            # The benchmark's baseline: the same user and request, nothing accounted.
            _counts["sent"] += 1
            resp = self.client.get(cfg.paths[0], headers={"X-Request-ID": "bench"})
            _counts["ok" if getattr(resp, "status_code", 0) == 200 else "failed"] += 1
            return
        rid = f"{cfg.run_id}-{next(_ids):08d}"
        rec = RequestRecord(id=rid, user=type(self).__name__, conn=self.conn_mode,
                            t_start=time.time(), m_start=time.monotonic(),
                            conn_pod=self.last_pod if self.conn_mode is ConnectionMode.KEEP_ALIVE else None)
        _inflight[rid] = rec
        _counts["sent"] += 1
        headers = {"X-Request-ID": rid}
        if self.conn_mode is ConnectionMode.NEW:
            headers["Connection"] = "close"
        path = cfg.paths[_counts["sent"] % len(cfg.paths)]
        try:
            resp = self.client.get(path, headers=headers, name=path)
            rec.m_end, rec.t_end = time.monotonic(), time.time()
            error = getattr(resp, "error", None)
            status = int(getattr(resp, "status_code", 0) or 0)
            if status > 0:
                rec.status = status
                rec.pod = resp.headers.get("X-Pod")
                rec.version = resp.headers.get("X-Version")
                rec.bytes = len(resp.content or b"")
                if status >= 500:
                    rec.detail = (resp.text or "")[:120]
                if resp.headers.get("Connection", "").lower() == "close" or self.conn_mode is ConnectionMode.NEW:
                    self.last_pod = None
                else:
                    self.last_pod = rec.pod
            else:
                rec.error = classify(error) if isinstance(error, BaseException) else ErrorKind.OTHER
                rec.detail = f"{type(error).__name__}: {error}"[:200] if error else "no response"
                self.last_pod = None
        except Exception as exc:  # the record must be written whatever the client raised
            rec.m_end, rec.t_end = time.monotonic(), time.time()
            rec.error = classify(exc)
            rec.detail = f"{type(exc).__name__}: {exc}"[:200]
            self.last_pod = None
        _finish(rec)


def _user_class(name: str, mode: ConnectionMode, share: float, cfg: TrafficConfig) -> type:
    """A Locust user class of one connection mode; each user runs at an equal share of the rate."""

    def hit(self: _Recording) -> None:
        self.send()

    namespace = {
        "conn_mode": mode,
        "wait_time": constant_throughput(cfg.rate / max(1, cfg.users)),
        "network_timeout": cfg.timeout_s,
        "connection_timeout": cfg.connect_timeout_s,
        "concurrency": 1,
        "weight": max(1, round(share * 100)),
        "hit": task(hit),
    }
    # types.new_class lets Locust's metaclass collect the task, as a class statement would.
    return types.new_class(name, (_Recording, FastHttpUser), exec_body=lambda ns: ns.update(namespace))


def _user_classes(cfg: TrafficConfig) -> list[type]:
    classes: list[type] = []
    if cfg.keepalive_share > 0:
        classes.append(_user_class("KeepAliveUser", ConnectionMode.KEEP_ALIVE, cfg.keepalive_share, cfg))
    if cfg.keepalive_share < 1:
        classes.append(_user_class("NewConnectionUser", ConnectionMode.NEW, 1 - cfg.keepalive_share, cfg))
    return classes


@dataclass
class _Writer:
    path: str

    def run(self) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            while True:
                gevent.sleep(0.25)
                self.flush(fh)

    @staticmethod
    def flush(fh: Any) -> None:
        if not _pending_lines:
            return
        with _write_lock:
            lines = _pending_lines[:]
            del _pending_lines[: len(lines)]
        fh.write("\n".join(lines) + "\n")
        fh.flush()


def _status(rps: float) -> None:
    line = {"status": {**_counts, "inflight": len(_inflight), "rps": round(rps, 1), "m": time.monotonic()}}
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    global _CONFIG, _stopping
    with open(argv[1], encoding="utf-8") as fh:
        cfg = TrafficConfig.model_validate_json(fh.read())
    _CONFIG = cfg
    env = Environment(user_classes=_user_classes(cfg), host=cfg.url, events=events,
                      stop_timeout=cfg.timeout_s + 2, catch_exceptions=True)
    runner = env.create_local_runner()
    writer_greenlet = gevent.spawn(_Writer(cfg.out).run)
    stop_requested = gevent.event.Event()

    def request_stop(*_: Any) -> None:
        stop_requested.set()

    gevent.signal_handler(signal.SIGTERM, request_stop)
    gevent.signal_handler(signal.SIGINT, request_stop)
    runner.start(cfg.users, spawn_rate=cfg.spawn_rate)
    last_sent, last_m = 0, time.monotonic()
    deadline = time.monotonic() + cfg.max_duration_s
    while not stop_requested.wait(1.0):
        now = time.monotonic()
        _status((_counts["sent"] - last_sent) / max(now - last_m, 1e-6))
        last_sent, last_m = _counts["sent"], now
        if now >= deadline:
            break
    # Stop sending; requests already sent finish (or time out) before the users are stopped.
    _stopping = True
    drain_deadline = time.monotonic() + cfg.timeout_s + 2
    while _inflight and time.monotonic() < drain_deadline:
        gevent.sleep(0.05)
    runner.quit()
    writer_greenlet.kill()
    # Anything still in flight now was sent and never answered: it is recorded, not dropped.
    for rec in list(_inflight.values()):
        rec.error = ErrorKind.INCOMPLETE
        rec.detail = "no response when traffic stopped"
        _finish(rec)
    with open(cfg.out, "a", encoding="utf-8") as fh:
        _Writer.flush(fh)
    _status(0.0)
    sys.stdout.write(json.dumps({"done": _counts}) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
