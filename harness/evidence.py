"""What a run records: one line per request (``requests.jsonl``) and one line per pod, endpoint,
event or harness action (``timeline.jsonl``).

These types are the contract between the traffic process, the observers, the verdict and the
reports. Request records are plain slotted dataclasses, not pydantic models, because a run can
hold millions of them and the verdict reads them in one streaming pass.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

__all__ = [
    "REQUESTS_FILE",
    "TIMELINE_FILE",
    "ConnectionMode",
    "ErrorKind",
    "ReadStats",
    "RequestRecord",
    "TimelineEvent",
    "TimelineKind",
    "read_requests",
    "read_timeline",
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


@dataclass(slots=True)
class RequestRecord:
    """One request. ``status`` is None exactly when ``error`` is set."""

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

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and self.status < 500

    def to_json(self) -> str:
        # Written once per request in the traffic process's hot path: plain attribute reads, no
        # dataclasses.asdict (which deep-copies), and only the fields that are set.
        data: dict[str, Any] = {"id": self.id, "user": self.user, "conn": self.conn.value,
                                "t_start": self.t_start, "m_start": self.m_start}
        for key in _OPTIONAL_FIELDS:
            value = getattr(self, key)
            if value is not None:
                data[key] = value.value if isinstance(value, ErrorKind) else value
        return _ENCODE(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RequestRecord:
        error = data.get("error")
        return cls(
            id=str(data["id"]),
            user=str(data.get("user", "")),
            conn=ConnectionMode(data.get("conn", ConnectionMode.KEEP_ALIVE)),
            t_start=float(data["t_start"]),
            m_start=float(data["m_start"]),
            t_end=_opt_float(data.get("t_end")),
            m_end=_opt_float(data.get("m_end")),
            status=None if data.get("status") is None else int(data["status"]),
            error=None if error is None else ErrorKind(error),
            detail=data.get("detail"),
            bytes=int(data.get("bytes", 0)),
            pod=data.get("pod"),
            version=data.get("version"),
            conn_pod=data.get("conn_pod"),
        )


_OPTIONAL_FIELDS = ("t_end", "m_end", "status", "error", "detail", "bytes", "pod", "version", "conn_pod")
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode


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
      pod:       name, phase, ready (bool), terminating (bool: deletionTimestamp set), node, ip,
                 version (label ``app.kubernetes.io/version``), revision (pod-template-hash)
      endpoints: name, service, endpoints: [{pod, ip, ready, serving, terminating}]
      event:     reason, message, object ("Kind/name"), type
      action:    step, phase ("start" | "end" | "error"), detail
      observer:  resource, what ("synced" | "expired" | "relisted" | "gap" | "stopped"), detail
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
            except (ValueError, KeyError, TypeError, AttributeError):
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
