"""The closed-loop users' recording, and ``RecordedUser``: the base class of a locustfile's users.

A locustfile (``traffic.locustfile`` in a scenario) defines what the users ask; the harness decides
how fast and on which connections, and records every request exactly as it records its own::

    from locust import task

    from harness.traffic.user import RecordedUser


    class Shopper(RecordedUser):
        weight = 3  # Locust's own: the share of the users this class gets

        @task(5)
        def browse(self) -> None:
            self.request("GET", "/products", name="list products")

        @task
        def buy(self) -> None:
            self.request("POST", "/cart", headers={"Content-Type": "application/json"},
                         body=b'{"sku": 42}', expect_status=[201], name="add to cart")

Each ``self.request`` call is one request and one record (``requests.jsonl``), with the same
accounting as the built-in users: counted when sent, ended with its answer or its error, never sent
again. The harness runs every class once per connection mode of the scenario (kept-alive connections,
or a new connection per request) and paces each user at its share of ``traffic.rate`` per task run,
whatever ``wait_time`` the class names: one request per task keeps the scenario's rate. Users are
closed-loop (each waits for its answer): a locustfile runs with ``traffic.model: closed``.

Imported by the traffic process only (Locust, gevent).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from locust import FastHttpUser

from harness.evidence import ConnectionMode, ErrorKind, RequestRecord
from harness.traffic.choice import RequestChooser
from harness.traffic.classify import classify
from harness.traffic.config import PlannedRequest, TrafficConfig
from harness.traffic.recorder import Recorder, apply_answer

__all__ = ["RecordedUser", "configure", "stop_sending"]

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class _EveryStatus:
    """Locust's client turns any status outside its short list (a 404, a 503, a 999) into an
    exception and releases the connection before the body is read. Every status is accepted here
    and recorded as it came; judging alone decides which statuses are answers."""

    def __contains__(self, status: object) -> bool:
        return True


_EVERY_STATUS = _EveryStatus()


@dataclass
class _Process:
    """What every user of this traffic process shares."""

    config: TrafficConfig | None = None
    recorder: Recorder | None = None
    chooser: RequestChooser | None = None
    stopping: bool = False


_PROCESS = _Process()


def configure(config: TrafficConfig, recorder: Recorder, chooser: RequestChooser) -> None:
    """Set up the process's users; called once by the traffic process before any user starts."""
    _PROCESS.config, _PROCESS.recorder, _PROCESS.chooser = config, recorder, chooser
    _PROCESS.stopping = False


def stop_sending() -> None:
    """From now on no user sends (a task's ``request`` returns None): traffic is stopping."""
    _PROCESS.stopping = True


def _state() -> tuple[TrafficConfig, Recorder, RequestChooser]:
    config, recorder, chooser = _PROCESS.config, _PROCESS.recorder, _PROCESS.chooser
    if config is None or recorder is None or chooser is None:
        raise RuntimeError("RecordedUser runs inside the harness's traffic process only (harness run)")
    return config, recorder, chooser


def _planned(method: str, path: str, headers: Mapping[str, str] | None, body: bytes | str | None,
             name: str | None, expect_status: Sequence[int] | None) -> PlannedRequest:
    verb = method.upper()
    if verb not in _METHODS:
        raise ValueError(f"method {method!r} is not one of {', '.join(sorted(_METHODS))}")
    if not path.startswith("/"):
        raise ValueError(f"path {path!r} does not start with '/'")
    data = body.encode("utf-8") if isinstance(body, str) else body
    return PlannedRequest(name=name or f"{verb} {path}", method=verb, path=path, headers=dict(headers or {}),
                          body=data or b"", expect=list(expect_status) if expect_status is not None else None)


class RecordedUser(FastHttpUser):  # type: ignore[misc]  # Locust ships no type information
    """A Locust user whose requests the harness records. Call ``request`` in its tasks."""

    abstract = True
    conn_mode: ClassVar[ConnectionMode] = ConnectionMode.KEEP_ALIVE
    last_pod: str | None = None
    head = False  # the request being recorded is a HEAD
    client: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client.client.valid_response_codes = _EVERY_STATUS

    def request(self, method: str, path: str, *, headers: Mapping[str, str] | None = None,
                body: bytes | str | None = None, name: str | None = None,
                expect_status: Sequence[int] | None = None) -> RequestRecord | None:
        """Send one request on this user's connection and record it. ``name`` groups it in the
        report (default "METHOD path"); ``expect_status`` lists the statuses that count as its
        answer (default: any 2xx or 3xx). Returns its record, or None once traffic is stopping."""
        return self._record(_planned(method, path, headers, body, name, expect_status))

    def send(self) -> None:
        """The built-in users' task: the scenario's next request (target.paths or traffic.requests)."""
        if _PROCESS.stopping:
            return
        config, recorder, chooser = _state()
        if not config.record:
            # The benchmark's baseline: the same user and request, nothing recorded.
            tally = recorder.tally
            tally.count_sent(type(self).__name__, self.conn_mode)
            resp = self._send(chooser.requests[0], {"X-Request-ID": "bench"})
            ok = getattr(resp, "error", None) is None and 200 <= getattr(resp, "status_code", 0) < 400
            if ok:
                tally.ok += 1
            else:
                tally.failed += 1
            return
        self._record(chooser.for_seq(recorder.tally.max_seq))

    def _record(self, req: PlannedRequest) -> RequestRecord | None:
        if _PROCESS.stopping:
            return None
        _, recorder, _ = _state()
        rec = recorder.begin(type(self).__name__, self.conn_mode, t_start=time.time(), m_start=time.monotonic(),
                             conn_pod=self.last_pod if self.conn_mode is ConnectionMode.KEEP_ALIVE else None)
        rec.req, rec.expect = req.name, req.expect
        self.head = req.method == "HEAD"
        headers = {"X-Request-ID": rec.id}
        if self.conn_mode is ConnectionMode.NEW:
            headers["Connection"] = "close"
        try:
            resp = self._send(req, headers)
            self._record_response(rec, resp)
        except Exception as exc:  # the record must be written whatever the client raised
            rec.m_end, rec.t_end = time.monotonic(), time.time()
            rec.status = None
            rec.error = classify(exc)
            rec.detail = f"{type(exc).__name__}: {exc}"[:200]
            self.last_pod = None
        recorder.finish(rec)
        return rec

    def _send(self, req: PlannedRequest, headers: dict[str, str]) -> Any:
        config, _, _ = _state()
        sent = {**req.headers, **headers}
        if config.host is not None:
            sent["Host"] = config.host
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
