"""What the workload's containers said while the run went: their logs, on the harness's clock.

A failed request is explained by what the server did at that instant (a shutdown begun, a listener
closed, a panic), and only the container's own log says so. Every container of every pod the run's
timeline names is followed from the moment it runs, with the kubelet's timestamps, so each line can
be placed on the same monotonic clock as the requests and the timeline.

One JSON object per line in ``pod-logs.jsonl``:

- a log line: ``t``/``m`` (arrival, wall and monotonic), ``pod``, ``container``, ``ts`` (the kubelet's
  RFC3339Nano timestamp, None when the line had none), ``ts_m`` (``ts`` on the monotonic clock, taken as
  ``ts_epoch - (t - m)``; ``t - m`` is held within a stream while it moves by less than a
  millisecond, so lines of equal ``ts`` get equal ``ts_m``), ``line`` (the text without the
  timestamp, at most 2000 characters, invalid UTF-8 replaced).
- a note (``kind`` "note"; ``pod``, ``container``, ``restart``, ``m``, ``t``, ``what``):
  ``skipped`` (``count`` lines beyond the first ``head_lines`` that were dropped; the last
  ``tail_lines`` follow it), ``error`` (the stream failed: ``detail``, ``attempt``; it is reopened
  while the container runs, from just before the last line seen, and lines already written are
  dropped), ``ended`` (the stream ended: the container exited, or it could not be reopened:
  ``detail``), ``stopped`` (the harness stopped following it).

Each run of a container (its restart count) is a stream of its own, bounded on its own: the first
``head_lines`` are written as they come, and the last ``tail_lines`` when the stream ends.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Protocol

from kubernetes import client
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, stop_when_event_set, wait_exponential

from harness.errors import HarnessError
from harness.evidence import ReadStats, TimelineEvent, TimelineKind
from harness.k8s import api_reason, call
from harness.log import get_logger
from harness.timeline_follow import TimelineFollower

__all__ = ["POD_LOGS_FILE", "PodLogLine", "PodLogSource", "PodLogs", "read_pod_logs", "split_timestamp"]

log = get_logger(__name__)

POD_LOGS_FILE = "pod-logs.jsonl"
POLL_S = 0.25
MAX_LINE_CHARS = 2000
# Per attempt, and the stream is reopened a few times while its container runs: together they outlast
# an API server restart.
OPEN_RETRY_S = 30.0
STREAM_ATTEMPTS = 4
RETRY_WAIT_S = 0.5  # the first pause before a reopen; it doubles, up to 4 s
# Connect, then read: a quiet container may say nothing for long, and stop() ends the read anyway.
REQUEST_TIMEOUT_S = (10.0, 3600.0)
# Reading two clocks one after the other differs by microseconds; a larger change is the wall clock
# being stepped, and then the new offset is taken.
CLOCK_JITTER_S = 0.001

_TIMESTAMP = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})")


def split_timestamp(text: str) -> tuple[str | None, int | None, str]:
    """The kubelet's timestamp prefix, as written and in epoch nanoseconds, and the rest of the line.

    Nanoseconds, not a float: RFC3339Nano drops trailing zeros, so neither the text nor a float of
    epoch seconds orders two lines of the same microsecond reliably."""
    head, _, rest = text.partition(" ")
    match = _TIMESTAMP.fullmatch(head)
    if match is None:
        return None, None, text
    zone = "+00:00" if match[3] == "Z" else match[3]
    try:
        whole = datetime.fromisoformat(match[1] + zone)
    except ValueError:
        return None, None, text
    return head, int(whole.timestamp()) * 1_000_000_000 + int((match[2] or "").ljust(9, "0")), rest


@dataclass(frozen=True, slots=True)
class PodLogLine:
    """One line a container wrote; ``ts_m`` is when it wrote it on the harness's monotonic clock."""

    pod: str
    container: str
    m: float
    t: float
    ts: str | None
    ts_m: float | None
    line: str


def read_pod_logs(path: Path, stats: ReadStats | None = None) -> dict[str, list[PodLogLine]]:
    """Pod -> its containers' lines, ordered by ``ts_m`` (``m`` when a line has no timestamp); {} when
    the file is missing. Notes are left out; an unreadable line is skipped and counted in ``stats``."""
    pods: dict[str, list[PodLogLine]] = {}
    if not path.exists():
        return pods
    with path.open(encoding="utf-8", errors="replace") as fh:
        for raw in fh:
            text = raw.strip()
            if not text:
                continue
            if stats is not None:
                stats.lines += 1
            try:
                data = json.loads(text)
                if data.get("kind") == "note":
                    continue
                line = PodLogLine(pod=str(data["pod"]), container=str(data["container"]), m=float(data["m"]),
                                  t=float(data["t"]), ts=None if data.get("ts") is None else str(data["ts"]),
                                  ts_m=None if data.get("ts_m") is None else float(data["ts_m"]),
                                  line=str(data["line"]))
            except (ValueError, KeyError, TypeError, AttributeError):
                if stats is not None:
                    stats.malformed += 1
                continue
            pods.setdefault(line.pod, []).append(line)
    for lines in pods.values():
        lines.sort(key=lambda ln: ln.ts_m if ln.ts_m is not None else ln.m)
    return pods


class PodLogSource(Protocol):
    """What is needed of ``CoreV1Api``: the response is urllib3's, unread (``_preload_content=False``)."""

    def read_namespaced_pod_log(self, name: str, namespace: str, **kwargs: Any) -> Any: ...


class _Sink:
    """The one file every stream writes to; a lock keeps each line whole and in one piece."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._fh: IO[str] | None = path.open("a", encoding="utf-8")

    def write(self, *records: dict[str, Any]) -> None:
        text = "".join(json.dumps(r, separators=(",", ":"), ensure_ascii=False) + "\n" for r in records)
        with self._lock:
            if self._fh is not None and text:
                self._fh.write(text)
                self._fh.flush()

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None


@dataclass(frozen=True, slots=True)
class _Key:
    uid: str
    pod: str
    container: str
    restart: int


class _TryAgainError(Exception):
    """The stream failed while its container still runs."""


def _describe(exc: BaseException) -> str:
    return exc.problem if isinstance(exc, HarnessError) else api_reason(exc)


def _close(response: Any) -> None:
    # shutdown() ends a read blocked in another thread; close() alone may not.
    for name in ("shutdown", "close"):
        method = getattr(response, name, None)
        if callable(method):
            try:
                method()
            except Exception:  # closing a broken stream may fail in its own ways
                log.debug("closing a pod log stream failed", exc_info=True)


def _release(response: Any) -> None:
    release = getattr(response, "release_conn", None)
    if callable(release):
        try:
            release()
        except Exception:  # the connection is dropped instead of reused
            log.debug("releasing a pod log connection failed", exc_info=True)


def _lines(response: Any) -> Iterator[bytes]:
    """Whole lines as they arrive (urllib3 hands out chunks, not lines); a last line without its
    newline still counts."""
    buffer = bytearray()
    for segment in response.stream(amt=None, decode_content=True):
        buffer.extend(segment if isinstance(segment, bytes) else str(segment).encode("utf-8"))
        end = buffer.find(b"\n")
        while end != -1:
            yield bytes(buffer[:end])
            del buffer[: end + 1]
            end = buffer.find(b"\n")
    if buffer:
        yield bytes(buffer)


class _Stream(threading.Thread):
    """One run of one container: follow its log, bounded, reopened a few times while it runs."""

    def __init__(self, owner: PodLogs, key: _Key) -> None:
        super().__init__(name=f"pod-log-{key.pod}-{key.container}-{key.restart}", daemon=True)
        self.owner = owner
        self.key = key
        self._lock = threading.Lock()
        self._response: Any = None
        self._finished = False
        self._head = 0
        self._beyond_head = 0
        self._tail: deque[dict[str, Any]] = deque(maxlen=owner.tail_lines)
        # The newest timestamp seen, and how many lines carried it: a reopened stream starts a little
        # before it, and what was already written is dropped.
        self._max_ns: int | None = None
        self._at_max = 0
        self._replay: tuple[int, int] | None = None
        self._attempt = 0
        self._offset: float | None = None  # wall minus monotonic, as last used

    # --- writing ----------------------------------------------------------------------------------

    def _note(self, what: str, **extra: Any) -> dict[str, Any]:
        return {"kind": "note", "pod": self.key.pod, "container": self.key.container, "restart": self.key.restart,
                "what": what, "m": time.monotonic(), "t": time.time(), **extra}

    def note(self, what: str, **extra: Any) -> None:
        with self._lock:
            if not self._finished:
                self.owner.sink.write(self._note(what, **extra))

    def finish(self, what: str, **extra: Any) -> None:
        """The buffered tail (after a ``skipped`` note when lines were dropped), then the last note.
        Safe from any thread and more than once: only the first call writes, later lines are dropped."""
        with self._lock:
            if self._finished:
                return
            self._finished = True
            records: list[dict[str, Any]] = []
            skipped = self._beyond_head - len(self._tail)
            if skipped > 0:
                records.append(self._note("skipped", count=skipped))
            records.extend(self._tail)
            self._tail.clear()
            records.append(self._note(what, **extra))
            self.owner.sink.write(*records)

    def _seen(self, ns: int) -> bool:
        """Whether a line with this timestamp was written before the stream was reopened."""
        if self._replay is not None:
            since_ns, count = self._replay
            if ns < since_ns:
                return True
            if ns == since_ns and count > 0:
                self._replay = (since_ns, count - 1)
                return True
            self._replay = None
        if self._max_ns is None or ns > self._max_ns:
            self._max_ns, self._at_max = ns, 1
        elif ns == self._max_ns:
            self._at_max += 1
        return False

    def _line(self, raw: bytes) -> None:
        t, m = time.time(), time.monotonic()
        ts, ns, text = split_timestamp(raw.decode("utf-8", errors="replace").removesuffix("\r"))
        if ns is not None and self._seen(ns):
            return
        offset = t - m
        if self._offset is not None and abs(offset - self._offset) < CLOCK_JITTER_S:
            # The same offset for every line while the clocks agree: equal timestamps give equal ts_m,
            # so a stable sort keeps them in the order the container wrote them.
            offset = self._offset
        self._offset = offset
        record = {"t": t, "m": m, "pod": self.key.pod, "container": self.key.container, "ts": ts,
                  "ts_m": None if ns is None else ns / 1e9 - offset, "line": text[:MAX_LINE_CHARS]}
        with self._lock:
            if self._finished:
                return
            if self._head < self.owner.head_lines:
                self._head += 1
                self.owner.sink.write(record)
            else:
                self._beyond_head += 1
                self._tail.append(record)

    # --- streaming --------------------------------------------------------------------------------

    def interrupt(self) -> None:
        with self._lock:
            response = self._response
        if response is not None:
            _close(response)

    def _open(self) -> Any:
        kwargs: dict[str, Any] = {"container": self.key.container, "follow": True, "timestamps": True,
                                  "_preload_content": False, "_request_timeout": REQUEST_TIMEOUT_S}
        if self._max_ns is not None:
            # The API takes whole seconds: start a little early; _seen drops the overlap.
            kwargs["since_seconds"] = max(1, math.ceil(time.time() - self._max_ns / 1e9) + 1)
            self._replay = (self._max_ns, self._at_max)
        return call(self.owner.core.read_namespaced_pod_log, self.key.pod, self.owner.namespace,
                    what=f"log of {self.key.pod}/{self.key.container}", retry_s=OPEN_RETRY_S, **kwargs)

    def _once(self) -> None:
        self._attempt += 1
        stop = self.owner.stop_event
        try:
            response = self._open()
            with self._lock:
                self._response = response
            if stop.is_set():
                _close(response)
                return
            try:
                for raw in _lines(response):
                    self._line(raw)
            finally:
                with self._lock:
                    self._response = None
                _release(response)
        except Exception as exc:
            if stop.is_set():
                return  # the stop itself closed the stream
            self.note("error", detail=_describe(exc), attempt=self._attempt)
            if self.owner.still_running(self.key):
                raise _TryAgainError from exc
            raise

    def _pause(self, seconds: float) -> None:
        self.owner.stop_event.wait(seconds)  # a stop cuts the backoff short

    def run(self) -> None:
        stop = self.owner.stop_event
        retrying = Retrying(retry=retry_if_exception_type(_TryAgainError),
                            stop=stop_after_attempt(STREAM_ATTEMPTS) | stop_when_event_set(stop),
                            wait=wait_exponential(multiplier=RETRY_WAIT_S, max=4), sleep=self._pause, reraise=True)
        try:
            retrying(self._once)
        except Exception as exc:  # the error is noted; whatever broke, the run goes on without this stream
            if not isinstance(exc, _TryAgainError | HarnessError) and not stop.is_set():
                log.warning("pod log %s/%s: %s", self.key.pod, self.key.container, _describe(exc))
            self.finish("ended", detail=f"not reopened after {self._attempt} attempt(s)")
            return
        if stop.is_set():
            self.finish("stopped")
        else:
            self.finish("ended")


class PodLogs:
    """Follows the container logs of every pod the run's timeline names, into ``out_path``."""

    def __init__(self, api: client.ApiClient | PodLogSource, namespace: str, out_path: Path, timeline_path: Path,
                 *, head_lines: int = 1000, tail_lines: int = 200) -> None:
        self.core: PodLogSource = api if hasattr(api, "read_namespaced_pod_log") else client.CoreV1Api(api)
        self.namespace = namespace
        self.out_path = out_path
        self.head_lines = max(0, head_lines)
        self.tail_lines = max(0, tail_lines)
        self.stop_event = threading.Event()
        self.sink: _Sink
        self._follower = TimelineFollower(timeline_path)
        self._lock = threading.Lock()
        self._streams: dict[_Key, _Stream] = {}
        # (uid, pod, container) -> (restart count, state) as the timeline last showed it
        self._latest: dict[tuple[str, str, str], tuple[int, str | None]] = {}
        self._deleted: set[str] = set()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.sink = _Sink(self.out_path)
        self._thread = threading.Thread(target=self._run, name="pod-logs", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.poll()
            except Exception:  # the timeline could not be read now; the next poll reads it again
                log.debug("pod log poll failed", exc_info=True)
            self.stop_event.wait(POLL_S)

    def poll(self) -> None:
        """Read the new timeline lines; start a stream for every container run not yet followed."""
        for event in self._follower.new_events():
            if event.kind is TimelineKind.POD:
                try:
                    self._pod_event(event)
                except Exception:  # one odd event must not cost the pods after it their logs
                    log.warning("pod log: cannot follow the containers of %s", event.name, exc_info=True)

    def _pod_event(self, event: TimelineEvent) -> None:
        data = event.data
        uid = str(data.get("uid") or "")
        pod = str(data.get("name") or event.name)
        starts: list[_Stream] = []
        with self._lock:
            if event.type == "DELETED":
                self._deleted.add(uid)
            for container in data.get("containers") or []:
                if not isinstance(container, dict) or not container.get("name"):
                    continue
                name = str(container["name"])
                restart = int(container.get("restart_count") or 0)
                state = container.get("state")
                self._latest[(uid, pod, name)] = (restart, state)
                key = _Key(uid, pod, name, restart)
                if (state == "running" and event.type != "DELETED" and key not in self._streams
                        and not self.stop_event.is_set()):
                    self._streams[key] = stream = _Stream(self, key)
                    starts.append(stream)
        for stream in starts:
            stream.start()

    def still_running(self, key: _Key) -> bool:
        """Whether the timeline still shows this run of the container running (a restart is a new run)."""
        with self._lock:
            latest = self._latest.get((key.uid, key.pod, key.container))
            return key.uid not in self._deleted and latest == (key.restart, "running")

    def stop(self, wait_s: float = 2.0) -> None:
        """Close every stream, wait up to ``wait_s`` for their threads, write every tail, close the file.

        A thread still blocked after ``wait_s`` gets its tail written for it; what it reads later is dropped."""
        self.stop_event.set()
        deadline = time.monotonic() + wait_s
        if self._thread is not None:
            self._thread.join(timeout=max(0.0, deadline - time.monotonic()))
        with self._lock:
            streams = list(self._streams.values())
        for stream in streams:
            stream.interrupt()
        for stream in streams:
            stream.join(timeout=max(0.0, deadline - time.monotonic()))
        for stream in streams:
            stream.finish("stopped")
        if self._thread is not None:
            self.sink.close()

    @property
    def streams(self) -> int:
        """How many container runs were followed."""
        with self._lock:
            return len(self._streams)
