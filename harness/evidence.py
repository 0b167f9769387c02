"""What a run records: one line per request (``requests.jsonl``) and one line per pod, endpoint,
event or harness action (``timeline.jsonl``).

These types are the contract between the traffic process, the observers, the verdict and the
reports. Request records are plain slotted dataclasses, not pydantic models, because a run can
hold millions of them and the verdict reads them in one streaming pass.

The traffic process also reports its own counts when it ends (``TrafficReport``): what it sent and
the digest of what it wrote. Judging compares them with the records, so a PASS rests on records that
are complete and unaltered.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "FAILURE_STAGES",
    "REQUESTS_FILE",
    "TIMELINE_FILE",
    "ConnectionMode",
    "ErrorKind",
    "LinesDigest",
    "ReadStats",
    "RequestRecord",
    "TimelineEvent",
    "TimelineKind",
    "TrafficReport",
    "bare_file_digest",
    "file_digest",
    "is_ok_status",
    "read_requests",
    "read_timeline",
    "request_seq",
]

REQUESTS_FILE = "requests.jsonl"
TIMELINE_FILE = "timeline.jsonl"


class ConnectionMode(StrEnum):
    KEEP_ALIVE = "keep-alive"
    NEW = "new"


class ErrorKind(StrEnum):
    """Why a request got no complete answer."""

    REFUSED = "refused"  # the TCP connection was refused
    RESET = "reset"  # the peer reset or closed the connection before a complete response
    TIMEOUT = "timeout"  # no complete response within the client's timeout
    INCOMPLETE = "incomplete"  # sent, but still unanswered when traffic stopped
    OTHER = "other"
    # Due on the schedule but never sent: the traffic process's cap on requests in flight was reached.
    NOT_SENT = "not_sent"


# Where a failed request broke: no connection was made; writing the request failed; the connection
# ended (or the timeout hit) before any byte of the answer; part of the answer came, then it broke.
FAILURE_STAGES = ("connect", "send", "wait", "read")


def is_ok_status(status: object) -> bool:
    """Only a 2xx or 3xx answer is a success; anything else, a non-integer included, is not."""
    return type(status) is int and 200 <= status < 400


def request_seq(request_id: str) -> int | None:
    """The sequence number of an id ``<run>-<seq>`` (the traffic process numbers its requests 1, 2,
    ...), or None when the id is not of that form."""
    tail = request_id[request_id.rfind("-") + 1:]
    return int(tail) if tail.isascii() and tail.isdigit() else None


@dataclass(slots=True)
class RequestRecord:
    """One request. ``status`` is None exactly when ``error`` is set, or when the recorded status was
    not an integer: then ``status_text`` holds it as JSON text and the request failed (bad status)."""

    id: str
    user: str  # Locust user class name
    conn: ConnectionMode
    t_start: float  # wall clock, epoch seconds
    m_start: float  # time.monotonic() of the sending process; comparable across processes on one host
    t_end: float | None = None
    m_end: float | None = None
    status: int | None = None
    error: ErrorKind | None = None
    detail: str | None = None  # the error's message, or a short reason for a bad status
    bytes: int = 0
    pod: str | None = None  # the pod that answered (X-Pod header)
    version: str | None = None  # the version that answered (X-Version header)
    # For keep-alive requests: the pod that answered the previous request on the same connection,
    # the best available guess of where a failed request was sent.
    conn_pod: str | None = None
    # On a failed request: how many answers its connection gave before it (0: opened for it; None:
    # not known, as for closed-loop users), and where it broke (FAILURE_STAGES). A failure on a reused
    # connection before any byte of the answer is one a retrying client would have resent.
    conn_served: int | None = None
    stage: str | None = None
    # Never written by the traffic process: set by the reader for a status that is not an integer.
    status_text: str | None = None
    # When the request was due on the open-loop schedule (wall clock, monotonic); t_start/m_start
    # are when it was sent, so m_start - m_sched is how late the generator was. None for closed-loop
    # traffic, which has no schedule.
    t_sched: float | None = None
    m_sched: float | None = None
    # Which of the scenario's traffic.requests this was (its name); None for the simple target.paths.
    req: str | None = None
    # The statuses that request's expect_status names; None: the default (any 2xx or 3xx). Written
    # into the record so that the evidence alone says what counted as an answer.
    expect: list[int] | None = None

    @property
    def ok(self) -> bool:
        if self.error is not None or self.m_end is None:
            return False
        if self.expect is not None:
            return type(self.status) is int and self.status in self.expect
        return is_ok_status(self.status)

    def to_json(self) -> str:
        """The record's line: only the fields that are set, in a fixed order, ASCII only.

        Written once per request in the traffic process's hot path, so the usual record (strings,
        finite floats and ints) is joined from its parts directly; anything else takes the json
        module's way, and both give the same text (the unit tests hold them to it)."""
        if self.status_text is not None or type(self.conn) is not ConnectionMode:
            return self._to_json_via_dict()
        t_start, m_start = self.t_start, self.m_start
        if type(t_start) is not float or type(m_start) is not float or (t_start - t_start) or (m_start - m_start):
            return self._to_json_via_dict()
        parts = ['{"id":', _STR(self.id), ',"user":', _STR(self.user), ',"conn":', _STR(self.conn.value),
                 ',"t_start":', float.__repr__(t_start), ',"m_start":', float.__repr__(m_start)]
        for key in _OPTIONAL_FIELDS:
            value = getattr(self, key)
            if value is None:
                continue
            kind = type(value)
            if kind is float:
                if value - value:  # NaN or an infinity: json's own spelling
                    return self._to_json_via_dict()
                text = float.__repr__(value)
            elif kind is int:
                text = int.__repr__(value)
            elif kind is str:
                text = _STR(value)
            elif kind is ErrorKind:
                text = _STR(value.value)
            elif kind is list and all(type(v) is int for v in value):
                text = "[" + ",".join(map(int.__repr__, value)) + "]"
            else:
                return self._to_json_via_dict()
            parts.append(f',"{key}":{text}')
        parts.append("}")
        return "".join(parts)

    def _to_json_via_dict(self) -> str:
        data: dict[str, Any] = {"id": self.id, "user": self.user, "conn": self.conn.value,
                                "t_start": self.t_start, "m_start": self.m_start}
        for key in _OPTIONAL_FIELDS:
            value = getattr(self, key)
            if value is not None:
                data[key] = value.value if isinstance(value, ErrorKind) else value
        if self.status_text is not None:
            data["status"] = json.loads(self.status_text)
        return _ENCODE(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RequestRecord:
        """A record from one parsed line. Raises ValueError for a line that cannot be a request: a
        time that is not a finite number, or an answer that ended before the request started."""
        error = data.get("error")
        raw_status = data.get("status")
        status = raw_status if raw_status is None or type(raw_status) is int else None
        m_start, m_end = float(data["m_start"]), _opt_float(data.get("m_end"))
        t_start, t_end = float(data["t_start"]), _opt_float(data.get("t_end"))
        t_sched, m_sched = _opt_float(data.get("t_sched")), _opt_float(data.get("m_sched"))
        optional = (v for v in (m_end, t_end, t_sched, m_sched) if v is not None)
        if not all(math.isfinite(v) for v in (m_start, t_start, *optional)):
            raise ValueError("a time is not a finite number")
        if m_end is not None and m_end < m_start:
            raise ValueError("the answer ended before the request started")
        if not isinstance(data["id"], str):
            raise TypeError("id is not a string")
        for key in ("pod", "version", "conn_pod", "detail"):
            if not isinstance(data.get(key), str | None):
                raise TypeError(f"{key} is not a string")
        req, expect = data.get("req"), data.get("expect")
        if not isinstance(req, str | None):
            raise TypeError("req is not a string")
        if expect is not None and (type(expect) is not list or not all(type(v) is int for v in expect)):
            raise ValueError("expect is not a list of statuses")
        served, stage = data.get("conn_served"), data.get("stage")
        if served is not None and (type(served) is not int or served < 0):
            raise ValueError("conn_served is not a count")
        if stage is not None and stage not in FAILURE_STAGES:
            raise ValueError(f"stage is not one of {', '.join(FAILURE_STAGES)}")
        return cls(
            id=data["id"],
            user=str(data.get("user", "")),
            conn=ConnectionMode(data.get("conn", ConnectionMode.KEEP_ALIVE)),
            t_start=t_start,
            m_start=m_start,
            t_end=t_end,
            m_end=m_end,
            status=status,
            status_text=None if raw_status is None or status is not None else json.dumps(raw_status),
            error=None if error is None else ErrorKind(error),
            detail=data.get("detail"),
            bytes=int(data.get("bytes", 0)),
            pod=data.get("pod"),
            version=data.get("version"),
            conn_pod=data.get("conn_pod"),
            conn_served=served,
            stage=stage,
            t_sched=t_sched,
            m_sched=m_sched,
            req=req,
            expect=expect,
        )


_OPTIONAL_FIELDS = ("t_sched", "m_sched", "t_end", "m_end", "status", "error", "detail", "bytes", "pod", "version",
                    "conn_pod", "conn_served", "stage", "req", "expect")
# Only ASCII goes into a line (the encoder escapes the rest), so a line's text and bytes agree.
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode
_STR = encode_basestring_ascii


class TrafficReport(BaseModel):
    """The traffic process's own account of what it did, from its final message. Judging checks the
    records against it: the same number of requests per user class and connection mode, ids
    ``<run>-<seq>`` with seq 1..max_seq each exactly once, and the same digest of the lines."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    sent: int = Field(ge=0)
    ok: int = Field(ge=0)  # answered 2xx or 3xx
    failed: int = Field(ge=0)
    by_user: dict[str, int] = Field(default_factory=dict)  # requests sent per Locust user class
    by_conn: dict[str, int] = Field(default_factory=dict)  # requests sent per connection mode
    lines: int = Field(ge=0)  # request lines written
    digest: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")  # see LinesDigest
    max_seq: int = Field(ge=0)  # the last sequence number given to a request
    ended: Literal["stopped", "max_duration"]  # told to stop, or its own deadline ended it


class LinesDigest:
    """sha256 over request lines, each normalised: its content without the trailing "\n" or
    "\r\n", then "\n"; empty lines are left out. A CRLF conversion or a trailing blank line is then
    harmless, and any other change to what the traffic process wrote is not.

    Fed with bytes in any pieces; a block free of "\r" and empty lines, the usual case, is hashed
    as it is."""

    __slots__ = ("_carry", "_sha", "lines")

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self._carry = b""
        self.lines = 0

    def update(self, data: bytes) -> None:
        if self._carry:
            data = self._carry + data
        cut = data.rfind(b"\n") + 1
        self._carry = data[cut:]
        if cut:
            self._complete(data if cut == len(data) else data[:cut])

    def _complete(self, block: bytes) -> None:
        """Hash whole lines: ``block`` ends in "\n"."""
        if b"\r" not in block and b"\n\n" not in block and block[:1] != b"\n":
            self._sha.update(block)
            self.lines += block.count(b"\n")
            return
        for raw in block.split(b"\n")[:-1]:
            line = raw[:-1] if raw.endswith(b"\r") else raw
            if line:
                self._sha.update(line + b"\n")
                self.lines += 1

    def hexdigest(self) -> str:
        """``sha256:<hex>`` of everything fed so far; an unterminated last line counts as a line."""
        sha = self._sha.copy()
        tail = self._carry[:-1] if self._carry.endswith(b"\r") else self._carry
        if tail:
            sha.update(tail + b"\n")
        return "sha256:" + sha.hexdigest()

    @property
    def total_lines(self) -> int:
        tail = self._carry[:-1] if self._carry.endswith(b"\r") else self._carry
        return self.lines + (1 if tail else 0)


def file_digest(path: Path, block_size: int = 1 << 20) -> tuple[str, int]:
    """The LinesDigest of a file and its number of (non-empty) lines, in one sequential read."""
    digest = LinesDigest()
    with path.open("rb") as fh:
        while block := fh.read(block_size):
            digest.update(block)
    return digest.hexdigest(), digest.total_lines


def bare_file_digest(path: Path, block_size: int = 1 << 22) -> str | None:
    """The LinesDigest of a file in which no line is empty, or None when the file holds a "\r".

    Such a file's lines are already normalised, so its bytes are hashed as they are, and little but
    reading and hashing runs, which hold no interpreter lock: a thread can take it beside a busy one.
    Checking that no line is empty is left to the caller, which reads the lines anyway
    (``file_digest`` gives the digest of any file)."""
    sha = hashlib.sha256()
    # One buffer, read into again and again: large blocks (few hand-overs of the interpreter lock)
    # without a new allocation for each.
    buffer = bytearray(block_size)
    view = memoryview(buffer)
    last = -1
    with path.open("rb", buffering=0) as fh:
        while n := fh.readinto(buffer):
            if buffer.find(b"\r", 0, n) >= 0:
                return None
            sha.update(view[:n])
            last = buffer[n - 1]
    if last not in (-1, ord("\n")):
        sha.update(b"\n")  # an unterminated last line counts as a line
    return "sha256:" + sha.hexdigest()


class TimelineKind(StrEnum):
    POD = "pod"
    ENDPOINTS = "endpoints"  # an EndpointSlice of the target service
    EVENT = "event"  # a Kubernetes Event
    ACTION = "action"  # something the harness did (disruption step start/end, traffic on/off)
    OBSERVER = "observer"  # the observers' own state: synced, watch expired and re-listed, gap


@dataclass(slots=True)
class TimelineEvent:
    """One line of ``timeline.jsonl``.

    ``data`` by kind:
      pod:       name, uid, phase, ready (bool), ready_since (the Ready condition's lastTransitionTime),
                 terminating (bool: deletionTimestamp set), deletion_timestamp, deletion_grace_period_s,
                 grace_period_s (spec.terminationGracePeriodSeconds), node, ip,
                 version (label ``app.kubernetes.io/version``), revision (pod-template-hash),
                 restarts, containers: [{name, ready, restart_count,
                 state ("waiting" | "running" | "terminated"), started_at, finished_at, exit_code, signal,
                 reason, last_state: {exit_code, signal, reason, finished_at} (when it ran before)}]
      endpoints: name, service, endpoints: [{pod, ip, node, ready, serving, terminating}]
      event:     reason, message, object ("Kind/name"), type, count, first_timestamp, last_timestamp,
                 event_time, source (the reporting component)
      action:    step, phase ("start" | "end" | "error"), detail
      observer:  resource, what, detail, and by what:
                 "synced" (failures), "error" (failures since the last note, status, current_until_m),
                 "resumed" (failures, outage_s, resource_version), "expired" (current_until_m),
                 "relisted" (uncovered_from_m: from then on changes may be missing, failures),
                 "gap" (object), "stopped" (healthy: the watch was current at the end; failures,
                 resumes, relists, gaps). Times ending in ``_m`` are time.monotonic().
    ``type`` is the watch event type (ADDED, MODIFIED, DELETED), LIST for re-listed state, or a
    free word for actions and observer notes.
    """

    t: float  # wall clock, epoch seconds
    m: float  # time.monotonic()
    kind: TimelineKind
    type: str
    name: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {"t": self.t, "m": self.m, "kind": self.kind.value, "type": self.type, "name": self.name,
             "data": self.data},
            separators=(",", ":"),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TimelineEvent:
        return cls(
            t=float(data["t"]),
            m=float(data["m"]),
            kind=TimelineKind(data["kind"]),
            type=str(data.get("type", "")),
            name=str(data.get("name", "")),
            data=dict(data.get("data") or {}),
        )


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(slots=True)
class ReadStats:
    """What a reader met on its way through a file: a line it could not read is a request (or an event)
    the run cannot account for, so it is counted rather than silently dropped."""

    lines: int = 0
    malformed: int = 0


def read_requests(path: Path, stats: ReadStats | None = None) -> Iterator[RequestRecord]:
    """Stream request records; a torn line (the writer was killed) is skipped, not fatal, and counted
    in ``stats`` when given."""
    with path.open(encoding="utf-8") as fh:
        for raw in fh:
            line = raw.strip()
            if not line:
                continue
            if stats is not None:
                stats.lines += 1
            try:
                yield RequestRecord.from_dict(json.loads(line))
            # OverflowError: an integer time too large for a float, which is no finite time either.
            except (ValueError, KeyError, TypeError, AttributeError, OverflowError):
                if stats is not None:
                    stats.malformed += 1
                continue


def read_timeline(path: Path, stats: ReadStats | None = None) -> list[TimelineEvent]:
    """All timeline events, sorted by monotonic time: observers write them as they arrive, and
    events from different watches can land in the file out of clock order."""
    events: list[TimelineEvent] = []
    if not path.exists():
        return events
    with path.open(encoding="utf-8") as fh:
        for raw in fh:
            line = raw.strip()
            if line:
                if stats is not None:
                    stats.lines += 1
                try:
                    events.append(TimelineEvent.from_dict(json.loads(line)))
                except (ValueError, KeyError, TypeError, AttributeError):
                    if stats is not None:
                        stats.malformed += 1
                    continue
    events.sort(key=lambda e: e.m)
    return events
