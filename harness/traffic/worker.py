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
import importlib.util
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
from locust import constant_throughput, events, task
from locust.env import Environment

from harness.evidence import ConnectionMode
from harness.traffic import user, wire
from harness.traffic.choice import RequestChooser
from harness.traffic.config import TrafficConfig
from harness.traffic.open_loop import ModeTraffic, open_user_classes, start_modes
from harness.traffic.protocol import FIRST_ANSWERS, GO_LINE, HOLD_FLAG, TrafficStatus, done_line, status_line
from harness.traffic.recorder import Recorder
from harness.traffic.user import RecordedUser

# geventhttpclient silently re-sends an idempotent request whose connection broke after it was
# sent. That retry would hide exactly the loss the harness exists to measure: every request sent
# is recorded with its own outcome, never replaced by a second attempt.
geventhttpclient.client._may_retry_after_send_error = lambda method: False


def _user_class(name: str, mode: ConnectionMode, count: int, cfg: TrafficConfig,
                base: type[RecordedUser] = RecordedUser) -> type:
    """A Locust user class of one connection mode; each user runs at an equal share of the rate.
    With ``base`` a locustfile's class, its own tasks run; else the built-in one."""

    def hit(self: RecordedUser) -> None:
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
        "abstract": False,
    }
    if base is RecordedUser:
        namespace["hit"] = task(hit)
    # types.new_class lets Locust's metaclass collect the tasks, as a class statement would.
    return types.new_class(name, (base,), exec_body=lambda ns: ns.update(namespace))


_CLASS_NAMES = {ConnectionMode.KEEP_ALIVE: "KeepAliveUser", ConnectionMode.NEW: "NewConnectionUser"}


def _closed_user_classes(cfg: TrafficConfig) -> list[type]:
    if cfg.locustfile is not None:
        return _locustfile_user_classes(cfg)
    return [_user_class(_CLASS_NAMES[ConnectionMode(mode)], ConnectionMode(mode), count, cfg)
            for mode, count in cfg.users_by_mode.items()]


def _locustfile_user_classes(cfg: TrafficConfig) -> list[type]:
    """Every RecordedUser class of the locustfile, once per connection mode, the mode's users shared
    out by the classes' Locust weights (each class gets at least one)."""
    assert cfg.locustfile is not None
    spec = importlib.util.spec_from_file_location("rollout_harness_locustfile", cfg.locustfile)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"{cfg.locustfile} cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    found = [obj for obj in vars(module).values() if isinstance(obj, type) and issubclass(obj, RecordedUser)
             and obj is not RecordedUser and not obj.__dict__.get("abstract", False)]
    if not found:
        raise RuntimeError(f"{cfg.locustfile} defines no user class that subclasses harness.traffic.user.RecordedUser")
    classes: list[type] = []
    for mode, count in cfg.users_by_mode.items():
        for base, share in zip(found, _shares(count, [float(getattr(c, "weight", 1) or 1) for c in found]),
                               strict=True):
            suffix = "" if len(cfg.users_by_mode) == 1 else f"-{mode}"
            classes.append(_user_class(f"{base.__name__}{suffix}", ConnectionMode(mode), share, cfg, base))
    return classes


def _shares(count: int, weights: list[float]) -> list[int]:
    """``count`` users split by ``weights``, at least one each, largest remainders first."""
    total = sum(weights)
    exact = [count * w / total for w in weights]
    shares = [max(1, int(x)) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: exact[i] - int(exact[i]), reverse=True)
    for i in order:
        if sum(shares) >= count:
            break
        shares[i] += 1
    return shares


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
    with open(argv[1], encoding="utf-8") as fh:
        cfg = TrafficConfig.model_validate_json(fh.read())
    if HOLD_FLAG in argv[2:] and sys.stdin.buffer.readline().strip() != GO_LINE.strip():
        return 0  # released without "go": the run ended before its traffic began
    recorder = Recorder(cfg.run_id)
    user.configure(cfg, recorder, RequestChooser(cfg.plan(), cfg.seed, weighted=cfg.requests is not None))
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
    user.stop_sending()
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
