"""Open-loop traffic users: each connection mode sends on its schedule whatever is still outstanding.

Locust stays the engine: it spawns, runs and stops the users. The users of one connection mode
share that mode's ``DueTimes``; each takes the next due time, sleeps until it, and starts the request
in a greenlet of its own, so a request that hangs holds up nothing after it. A request that finds
the mode's in-flight cap reached is recorded as ``not_sent`` instead of being sent.

Connections are as real clients keep them: the new-connection users open one TCP connection per
request and ask the server to close it; each keep-alive user keeps a ``KeepAlivePool``. Every request
runs under one deadline of ``timeout_s`` (connect, send, answer), so the number in flight stays near
rate x timeout even when nothing answers. Imported by the traffic process only (gevent, Locust).
"""

from __future__ import annotations

import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

import gevent
import gevent.event
import gevent.pool
from locust import User, constant

from harness.evidence import ConnectionMode
from harness.traffic import wire
from harness.traffic.choice import RequestChooser
from harness.traffic.classify import classify
from harness.traffic.config import TrafficConfig
from harness.traffic.pool import KeepAlivePool, PooledConnection
from harness.traffic.recorder import Recorder, apply_answer
from harness.traffic.schedule import DueTimes, InFlight, arrival_offsets, mode_rng

__all__ = ["ModeTraffic", "open_user_classes", "start_modes"]

# The schedule starts this long after the users are started, so that spawning them is not lateness.
START_LEAD_S = 0.25


@dataclass
class ModeTraffic:
    """What the users of one connection mode share."""

    mode: ConnectionMode
    due: DueTimes
    in_flight: InFlight
    group: gevent.pool.Group = field(default_factory=gevent.pool.Group)
    stop_m: float | None = None  # due times from here on are not sent: traffic is stopping


def start_modes(cfg: TrafficConfig) -> dict[ConnectionMode, ModeTraffic]:
    """Each mode's schedule, starting ``START_LEAD_S`` from now on both clocks."""
    origin_t, origin_m = time.time() + START_LEAD_S, time.monotonic() + START_LEAD_S
    modes: dict[ConnectionMode, ModeTraffic] = {}
    for name, rate in cfg.mode_rates.items():
        rng = mode_rng(cfg.seed, name) if cfg.arrivals == "poisson" else None
        modes[ConnectionMode(name)] = ModeTraffic(
            mode=ConnectionMode(name),
            due=DueTimes(arrival_offsets(rate, cfg.arrivals, rng), origin_m, origin_t),
            in_flight=InFlight(cfg.in_flight_cap(name)),
        )
    return modes


class _OpenUser(User):  # type: ignore[misc]  # Locust ships no type information
    """One user's share of a mode's schedule; the request greenlets it starts do the sending."""

    abstract = True
    wait_time = constant(0)
    # The one task never returns: it follows the schedule until the user is stopped.
    tasks: ClassVar[list[Callable[[_OpenUser], None]]] = []
    traffic: ModeTraffic
    recorder: Recorder
    cfg: TrafficConfig
    chooser: RequestChooser  # which request each id sends
    target: tuple[str, int, str]  # host, port, Host header
    prefix: str  # the target URL's own path, before each request path
    tls: Any  # an SSL context for https targets, else None
    timeout_text: str  # what a request that ran out of time says

    def on_start(self) -> None:
        self.pool: KeepAlivePool[Any] = KeepAlivePool(alive=wire.alive, close=wire.close)
        self.name = type(self).__name__

    def on_stop(self) -> None:
        self.pool.close_all()

    def follow_schedule(self) -> None:
        traffic, recorder = self.traffic, self.recorder
        monotonic, sleep = time.monotonic, gevent.sleep
        while True:
            m_due, t_due = traffic.due.next()
            delay = m_due - monotonic()
            if delay > 0:
                sleep(delay)
            if traffic.stop_m is not None and m_due >= traffic.stop_m:
                gevent.event.Event().wait()  # the schedule is over; Locust stops this user
            if traffic.in_flight.try_start():
                traffic.group.spawn(self._request, m_due, t_due)
            else:
                recorder.not_sent(self.name, traffic.mode, t_sched=t_due, m_sched=m_due, t_now=time.time(),
                                  m_now=monotonic())

    def _request(self, m_due: float, t_due: float) -> None:
        try:
            if self.cfg.record:
                self._recorded(m_due, t_due)
            else:
                self._bare()
        finally:
            self.traffic.in_flight.done()

    def _recorded(self, m_due: float, t_due: float) -> None:
        cfg, recorder = self.cfg, self.recorder
        keep_alive = self.traffic.mode is ConnectionMode.KEEP_ALIVE
        rec = recorder.begin(self.name, self.traffic.mode, t_start=time.time(), m_start=time.monotonic(),
                             t_sched=t_due, m_sched=m_due)
        req = self.chooser.for_seq(recorder.tally.max_seq)
        rec.req, rec.expect = req.name, req.expect
        host, port, host_header = self.target
        head = wire.request_head(host_header, self.prefix + req.path, rec.id, close_after=not keep_alive,
                                 method=req.method, headers=req.headers, body=req.body)
        conn: PooledConnection[Any] | None = None
        sock: Any = None
        served = 0
        stage = "connect"  # where the request stands, for the record of a failure
        try:
            # One deadline for the whole request, the connect included, as a client's timeout.
            with gevent.Timeout(cfg.timeout_s, TimeoutError(self.timeout_text)):
                if keep_alive:
                    conn = self.pool.take()
                    if conn is None:
                        conn = self.pool.opened_one(wire.connect(host, port, cfg.connect_timeout_s, cfg.timeout_s,
                                                                 self.tls))
                    rec.conn_pod = conn.last_pod
                    served = conn.served
                    sock = conn.handle
                else:
                    sock = wire.connect(host, port, cfg.connect_timeout_s, cfg.timeout_s, self.tls)
                stage = "send"
                sock.sendall(head)
                stage = "wait"
                if wire.first_byte(sock):
                    stage = "read"
                answer = wire.read_answer(sock, req.method)
            whole = apply_answer(rec, answer.status, answer.headers, answer.body, complete=answer.complete,
                                 m_end=time.monotonic(), t_end=time.time(), head=req.method == "HEAD")
            if not rec.ok:
                rec.conn_served = served
                if not answer.complete:
                    rec.stage = stage
            if conn is not None and whole and answer.keep:
                self.pool.give_back(conn, rec.pod)
            elif conn is not None:
                self.pool.drop(conn)
            else:
                wire.close(sock)
        except Exception as exc:  # the record must be written whatever the client raised
            rec.m_end, rec.t_end = time.monotonic(), time.time()
            rec.error = classify(exc)
            rec.detail = f"{type(exc).__name__}: {exc}"[:200]
            rec.conn_served, rec.stage = served, stage
            if conn is not None:
                self.pool.drop(conn)
            elif sock is not None:
                wire.close(sock)
        recorder.finish(rec)

    def _bare(self) -> None:
        """The benchmark's baseline: the same schedule and connections, nothing recorded."""
        tally = self.recorder.tally
        tally.count_sent(self.name, self.traffic.mode)
        host, port, host_header = self.target
        keep_alive = self.traffic.mode is ConnectionMode.KEEP_ALIVE
        conn = self.pool.take() if keep_alive else None
        try:
            with gevent.Timeout(self.cfg.timeout_s, TimeoutError("timeout")):
                if conn is None:
                    sock = wire.connect(host, port, self.cfg.connect_timeout_s, self.cfg.timeout_s, self.tls)
                    conn = self.pool.opened_one(sock)
                req = self.chooser.requests[0]
                head = wire.request_head(host_header, self.prefix + req.path, "bench", close_after=not keep_alive,
                                         method=req.method, headers=req.headers, body=req.body)
                answer = wire.exchange(conn.handle, head, req.method)
        except Exception:
            tally.failed += 1
            if conn is not None:
                self.pool.drop(conn)
            return
        if 200 <= answer.status < 400:
            tally.ok += 1
        else:
            tally.failed += 1
        if keep_alive and answer.keep:
            self.pool.give_back(conn, None)
        else:
            self.pool.drop(conn)


_OpenUser.tasks = [_OpenUser.follow_schedule]

_CLASS_NAMES = {ConnectionMode.KEEP_ALIVE: "KeepAliveUser", ConnectionMode.NEW: "NewConnectionUser"}


def _target(url: str, host: str | None = None) -> tuple[str, int, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"open-loop traffic speaks HTTP or HTTPS to a host; got {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname, port, host if host is not None else parts.netloc


def open_user_classes(cfg: TrafficConfig, recorder: Recorder, modes: dict[ConnectionMode, ModeTraffic]
                      ) -> list[type]:
    """One Locust user class per connection mode, with the mode's configured number of users."""
    target = _target(cfg.url, cfg.host)
    parts = urlsplit(cfg.url)
    tls = (wire.tls_context(verify=cfg.tls.verify, ca_file=cfg.tls.ca_file, server_name=cfg.server_name)
           if parts.scheme == "https" else None)
    chooser = RequestChooser(cfg.plan(), cfg.seed, weighted=cfg.requests is not None)
    classes: list[type] = []
    for name, count in cfg.users_by_mode.items():
        mode = ConnectionMode(name)
        classes.append(_user_class(_CLASS_NAMES[mode], {
            "traffic": modes[mode], "recorder": recorder, "cfg": cfg, "chooser": chooser, "target": target, "tls": tls,
            "prefix": parts.path.rstrip("/"), "timeout_text": f"no complete answer within {cfg.timeout_s:g} s",
            "fixed_count": count}))
    return classes


def _user_class(name: str, namespace: dict[str, Any]) -> type:
    # types.new_class lets Locust's metaclass see the attributes, as a class statement would.
    return types.new_class(name, (_OpenUser,), exec_body=lambda ns: ns.update(namespace))
