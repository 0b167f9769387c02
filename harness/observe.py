"""Observers: list-then-watch of pods, EndpointSlices and events into ``timeline.jsonl``.

Each resource has its own thread, and the timeline says at every moment whether that thread's view
was current, so the verdict can tell a complete record from a partial one
(``harness.verdict.coverage``). The thread's notes (kind "observer", ``data.what``):

- ``synced``: the first list is recorded; from here on every change is.
- ``error``: the watch (or a list) failed: connection refused, a reset, a 5xx, a timeout. The thread
  keeps retrying with bounded backoff for as long as the run lasts, because the API server may be
  restarting. Notes are rate-limited per resource; ``failures`` counts the failures each one stands for.
- ``resumed``: a new watch is established from the last resourceVersion. The API server replays
  every change since that version, so nothing was lost.
- ``expired``: the server no longer holds that version (410 Gone). Only this leads to a re-list.
- ``relisted``: the re-listed state is recorded (type LIST); objects that vanished meanwhile get a
  synthetic DELETED. Changes between ``uncovered_from_m`` (the last moment the watch was known
  current) and the re-list may have been missed.
- ``gap``: a change that could not be recorded at all.
- ``stopped``: the thread's last note; ``healthy`` says whether its watch was current at the end.

Watch BOOKMARK and ERROR events carry plain dicts, not client models; they are handled before
anything reads the object as a model.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from queue import Queue
from typing import Any, Protocol

from kubernetes import client, watch
from tenacity import Retrying, retry_if_exception_type, stop_when_event_set, wait_exponential

from harness.errors import ObserverError
from harness.evidence import TimelineEvent, TimelineKind
from harness.k8s import api_reason, api_status, watch_error
from harness.log import get_logger

__all__ = [
    "Observers",
    "TimelineWriter",
    "WatchLike",
    "container_data",
    "endpointslice_data",
    "event_data",
    "pod_data",
    "spec_containers_data",
]

log = get_logger(__name__)

VERSION_LABEL = "app.kubernetes.io/version"
GONE = 410


def _ts(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _terminated_data(term: Any) -> dict[str, Any]:
    return {"exit_code": term.exit_code, "signal": term.signal, "reason": term.reason,
            "started_at": _ts(term.started_at), "finished_at": _ts(term.finished_at)}


def container_data(cs: Any) -> dict[str, Any]:
    """One V1ContainerStatus: where the container stands, and how its last run ended."""
    state = cs.state
    data: dict[str, Any] = {
        "name": cs.name, "ready": bool(cs.ready), "restart_count": cs.restart_count or 0, "state": None,
        "started_at": None, "finished_at": None, "exit_code": None, "signal": None, "reason": None,
    }
    if state is not None and state.terminated is not None:
        data.update(state="terminated", **_terminated_data(state.terminated))
    elif state is not None and state.running is not None:
        data.update(state="running", started_at=_ts(state.running.started_at))
    elif state is not None and state.waiting is not None:
        data.update(state="waiting", reason=state.waiting.reason)
    last = cs.last_state.terminated if cs.last_state is not None else None
    if last is not None:
        data["last_state"] = {"exit_code": last.exit_code, "signal": last.signal, "reason": last.reason,
                              "finished_at": _ts(last.finished_at)}
    return data


def _port_text(port: Any) -> str:
    return "" if port is None else str(port)


def _exec_action(handler: Any) -> Any:
    # ``exec`` is a Python word: the client names the field ``var_exec`` (``_exec`` in older versions).
    return getattr(handler, "var_exec", None) or getattr(handler, "_exec", None)


def _probe_text(probe: Any) -> str:
    """What a probe asks, in a few words: "http_get /ready:8080", "exec cat /tmp/ok", "tcp 8080", "grpc 9000"."""
    http = getattr(probe, "http_get", None)
    if http is not None:
        return f"http_get {getattr(http, 'path', None) or '/'}:{_port_text(getattr(http, 'port', None))}"
    action = _exec_action(probe)
    if action is not None:
        return f"exec {' '.join(getattr(action, 'command', None) or [])}"[:200]
    tcp = getattr(probe, "tcp_socket", None)
    if tcp is not None:
        return f"tcp {_port_text(getattr(tcp, 'port', None))}"
    grpc = getattr(probe, "grpc", None)
    if grpc is not None:
        return f"grpc {_port_text(getattr(grpc, 'port', None))}"
    return ""


def _or(value: Any, default: int) -> int:
    return int(value) if value is not None else default


def _readiness_data(probe: Any) -> dict[str, Any] | None:
    if probe is None:
        return None
    # The API server fills these in; the defaults apply when a client-side object leaves them out.
    return {"period_s": _or(getattr(probe, "period_seconds", None), 10),
            "failure_threshold": _or(getattr(probe, "failure_threshold", None), 3),
            "initial_delay_s": _or(getattr(probe, "initial_delay_seconds", None), 0),
            "timeout_s": _or(getattr(probe, "timeout_seconds", None), 1),
            "success_threshold": _or(getattr(probe, "success_threshold", None), 1),
            "probe": _probe_text(probe)}


def _pre_stop_data(container: Any) -> dict[str, Any] | None:
    handler = getattr(getattr(container, "lifecycle", None), "pre_stop", None)
    if handler is None:
        return None
    sleep = getattr(handler, "sleep", None)
    if sleep is not None and getattr(sleep, "seconds", None) is not None:
        return {"sleep_s": int(sleep.seconds)}
    action = _exec_action(handler)
    if action is not None:
        return {"exec": " ".join(getattr(action, "command", None) or [])[:200]}
    http = getattr(handler, "http_get", None)
    if http is not None:
        return {"http_get": f"{getattr(http, 'path', None) or '/'}:{_port_text(getattr(http, 'port', None))}"}
    return None


def spec_containers_data(spec: Any) -> list[dict[str, Any]]:
    """What each container of the pod spec does before it stops, and how its readiness is probed."""
    return [{"name": getattr(c, "name", None), "pre_stop": _pre_stop_data(c),
             "readiness": _readiness_data(getattr(c, "readiness_probe", None))}
            for c in (getattr(spec, "containers", None) or [])]


def pod_data(pod: Any) -> dict[str, Any]:
    meta, spec, status = pod.metadata, pod.spec, pod.status
    ready_condition = next((c for c in (status.conditions or []) if c.type == "Ready"), None)
    labels = meta.labels or {}
    statuses = status.container_statuses or []
    return {
        "name": meta.name,
        "uid": meta.uid,
        "phase": status.phase,
        "ready": ready_condition is not None and ready_condition.status == "True",
        "ready_since": _ts(ready_condition.last_transition_time) if ready_condition is not None else None,
        "terminating": meta.deletion_timestamp is not None,
        "deletion_timestamp": _ts(meta.deletion_timestamp),
        "deletion_grace_period_s": meta.deletion_grace_period_seconds,
        "grace_period_s": spec.termination_grace_period_seconds if spec is not None else None,
        "node": spec.node_name if spec is not None else None,
        "ip": status.pod_ip,
        "version": labels.get(VERSION_LABEL),
        # A Deployment's ReplicaSet hash, or a StatefulSet's ControllerRevision.
        "revision": labels.get("pod-template-hash") or labels.get("controller-revision-hash"),
        "restarts": sum(cs.restart_count or 0 for cs in statuses),
        "containers": [container_data(cs) for cs in statuses],
        "spec_containers": spec_containers_data(spec),
    }


def _flag(value: bool | None) -> bool:
    return bool(value) if value is not None else False


def endpointslice_data(eps: Any) -> dict[str, Any]:
    endpoints = []
    for ep in eps.endpoints or []:
        cond = ep.conditions
        endpoints.append({
            "pod": ep.target_ref.name if ep.target_ref is not None else None,
            "ip": (ep.addresses or [None])[0],
            "node": ep.node_name,
            "ready": _flag(cond.ready) if cond is not None else False,
            "serving": _flag(cond.serving) if cond is not None else False,
            "terminating": _flag(cond.terminating) if cond is not None else False,
        })
    return {
        "name": eps.metadata.name,
        "service": (eps.metadata.labels or {}).get("kubernetes.io/service-name"),
        "endpoints": endpoints,
    }


def event_data(ev: Any) -> dict[str, Any]:
    obj = ev.involved_object
    series = ev.series
    source = ev.source.component if ev.source is not None else None
    return {
        "reason": ev.reason,
        "message": (ev.message or "")[:300],
        "object": f"{obj.kind}/{obj.name}" if obj is not None else "",
        "type": ev.type,
        # Events recorded through events.k8s.io count repeats in ``series`` instead of ``count``.
        "count": ev.count if ev.count is not None else (series.count if series is not None else None),
        "first_timestamp": _ts(ev.first_timestamp),
        "last_timestamp": _ts(ev.last_timestamp),
        "event_time": _ts(ev.event_time),
        "source": source or ev.reporting_component,
    }


class TimelineWriter:
    """Serialises timeline events from every thread into one file, in arrival order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._queue: Queue[TimelineEvent | None] = Queue()
        self._thread = threading.Thread(target=self._run, name="timeline-writer", daemon=True)
        self.count = 0

    def start(self) -> None:
        self._thread.start()

    def emit(self, kind: TimelineKind, type_: str, name: str, data: dict[str, Any]) -> TimelineEvent:
        event = TimelineEvent(t=time.time(), m=time.monotonic(), kind=kind, type=type_, name=name, data=data)
        self._queue.put(event)
        return event

    def action(self, step: str, phase: str, detail: str = "", **extra: Any) -> TimelineEvent:
        return self.emit(TimelineKind.ACTION, phase, step, {"step": step, "phase": phase, "detail": detail, **extra})

    def _run(self) -> None:
        with self.path.open("a", encoding="utf-8") as fh:
            while True:
                event = self._queue.get()
                if event is None:
                    fh.flush()
                    return
                fh.write(event.to_json() + "\n")
                self.count += 1
                if self._queue.empty():
                    fh.flush()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)


class WatchLike(Protocol):
    """What the observer needs of ``kubernetes.watch.Watch`` (tests pass a scripted one)."""

    def stream(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Iterable[dict[str, Any]]: ...

    def stop(self) -> None: ...


class _ExpiredError(Exception):
    """The watch's resourceVersion is older than the server keeps (410 Gone)."""


class _TryAgainError(Exception):
    """A failure already noted: wait (bounded backoff), then try again."""


@dataclass(slots=True)
class _Outage:
    """Consecutive failures since the watch was last current."""

    since_m: float
    current_until_m: float | None
    failures: int = 0
    unnoted: int = 0
    noted_m: float = float("-inf")


def _describe(exc: BaseException) -> str:
    if api_status(exc) is not None:
        return api_reason(exc)
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def _status_of(obj: Any) -> tuple[int | None, str]:
    """The code and message of a watch ERROR object (a Status dict, or a model in older clients)."""
    if isinstance(obj, dict):
        code = obj.get("code")
        message = f"{obj.get('reason') or ''}: {obj.get('message') or ''}".strip(": ")
    else:
        code = getattr(obj, "code", None)
        message = f"{getattr(obj, 'reason', '') or ''}: {getattr(obj, 'message', '') or ''}".strip(": ")
    return (code if isinstance(code, int) else None), message


def _bookmark_version(obj: Any) -> str | None:
    metadata = obj.get("metadata") if isinstance(obj, dict) else None
    version = metadata.get("resourceVersion") if isinstance(metadata, dict) else None
    return version if isinstance(version, str) and version else None


class _Observer(threading.Thread):
    """List-then-watch of one resource kind in one namespace; see the module docstring for its notes."""

    def __init__(
        self,
        resource: str,
        kind: TimelineKind,
        list_fn: Callable[..., Any],
        namespace: str,
        to_data: Callable[[Any], dict[str, Any]],
        writer: TimelineWriter,
        stop: threading.Event,
        *,
        label_selector: str | None = None,
        watch_factory: Callable[[], WatchLike] = watch.Watch,
        watch_timeout_s: int = 10,
        backoff_s: tuple[float, float] = (0.1, 2.0),
        note_every_s: float = 5.0,
    ) -> None:
        super().__init__(name=f"observe-{resource}", daemon=True)
        self.resource = resource
        self.kind = kind
        # The bound API method itself: the watch reads its signature to know what to deserialise.
        self.list_fn = list_fn
        self.namespace = namespace
        self.to_data = to_data
        self.writer = writer
        self.stop_event = stop
        self.label_selector = label_selector
        self.watch_factory = watch_factory
        self.watch_timeout_s = watch_timeout_s
        self.backoff_s = backoff_s
        self.note_every_s = note_every_s
        self.known: dict[str, Any] = {}
        self.synced = threading.Event()
        self.gaps = 0
        self.relists = 0
        self.resumes = 0
        self.failures = 0
        self._lock = threading.RLock()
        self._version = ""
        self._current = False
        self._current_until_m: float | None = None
        self._outage: _Outage | None = None
        self._uncovered_from_m: float | None = None
        # Set while a watch resumed after an outage has delivered nothing yet: the server may still
        # answer that the version is too old, and then the outage was never covered after all.
        self._unconfirmed_since_m: float | None = None
        self._watch: WatchLike | None = None
        self._healthy_at_stop: bool | None = None
        self._finished = False

    # --- notes ------------------------------------------------------------------------------------

    def _emit(self, kind: TimelineKind, type_: str, name: str, data: dict[str, Any]) -> None:
        with self._lock:
            # Once ``stopped`` is noted (maybe on this thread's behalf), it stays the last word.
            if not self._finished:
                self.writer.emit(kind, type_, name, data)

    def _note(self, what: str, detail: str = "", **extra: Any) -> None:
        self._emit(TimelineKind.OBSERVER, what, self.resource,
                   {"resource": self.resource, "what": what, "detail": detail, **extra})

    def _mark_current(self) -> None:
        with self._lock:
            self._current = True
            self._current_until_m = time.monotonic()
            self._unconfirmed_since_m = None

    def _established(self) -> None:
        with self._lock:
            self._mark_current()
            outage, self._outage = self._outage, None
            if outage is not None:
                self._unconfirmed_since_m = outage.current_until_m
                self.resumes += 1
                self._note("resumed", f"watching again from resourceVersion {self._version}",
                           failures=outage.failures, outage_s=round(time.monotonic() - outage.since_m, 3),
                           resource_version=self._version)

    def _failed(self, exc: BaseException, during: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._current = False
            self.failures += 1
            if self._outage is None:
                self._outage = _Outage(since_m=now, current_until_m=self._current_until_m)
            outage = self._outage
            outage.failures += 1
            outage.unnoted += 1
            if now - outage.noted_m >= self.note_every_s:
                self._note("error", f"{during}: {_describe(exc)}", failures=outage.unnoted,
                           status=api_status(exc),
                           current_until_m=outage.current_until_m)
                outage.unnoted = 0
                outage.noted_m = now

    def _expired(self, detail: str) -> None:
        with self._lock:
            self._current = False
            if self._outage is not None:
                since = self._outage.current_until_m
            elif self._unconfirmed_since_m is not None:
                since = self._unconfirmed_since_m  # the resumed watch was refused at once
            else:
                since = self._current_until_m
            self._unconfirmed_since_m = None
            if self._uncovered_from_m is None:
                self._uncovered_from_m = since
            self._version = ""
            self._note("expired", f"resourceVersion too old; re-listing: {detail}".rstrip(": "),
                       current_until_m=self._uncovered_from_m)

    def note_stopped(self) -> None:
        """The last note of this thread; safe to call from any thread, and more than once."""
        with self._lock:
            if self._finished:
                return
            healthy = self._healthy_at_stop
            if healthy is None:
                healthy = self._current and self.synced.is_set()
            self._note("stopped", "" if healthy else "the watch was not current when the observers stopped",
                       healthy=healthy, failures=self.failures, resumes=self.resumes, relists=self.relists,
                       gaps=self.gaps)
            self._finished = True

    def interrupt(self) -> None:
        """After the stop event is set: judge health as of now, and close the open watch stream."""
        with self._lock:
            if self._healthy_at_stop is None:
                self._healthy_at_stop = self._current and self.synced.is_set()
            current_watch = self._watch
        if current_watch is not None:
            current_watch.stop()

    # --- list and watch ---------------------------------------------------------------------------

    def _selector(self) -> dict[str, Any]:
        return {"label_selector": self.label_selector} if self.label_selector else {}

    def _relist(self) -> None:
        result = self.list_fn(self.namespace, **self._selector(), _request_timeout=(5, 15))
        with self._lock:
            seen: set[str] = set()
            for obj in result.items:
                name = obj.metadata.name
                seen.add(name)
                data = self.to_data(obj)
                earlier = self.known.get(name)
                if earlier is not None and earlier.get("uid") not in (None, data.get("uid")):
                    # The name now belongs to a new pod (a StatefulSet's): the old one went unseen.
                    self._emit(self.kind, "DELETED", name, {**earlier, "vanished": True})
                if self.known.get(name) != data:
                    self._emit(self.kind, "LIST", name, data)
                self.known[name] = data
            for gone in set(self.known) - seen:
                self._emit(self.kind, "DELETED", gone, {**self.known.pop(gone), "vanished": True})
            self._version = str(result.metadata.resource_version)
            outage, self._outage = self._outage, None
            failures = outage.failures if outage is not None else 0
            if not self.synced.is_set():
                self._note("synced", failures=failures)
                self.synced.set()
            else:
                self.relists += 1
                self._note("relisted", f"re-listed at resourceVersion {self._version}",
                           uncovered_from_m=self._uncovered_from_m, failures=failures)
            self._uncovered_from_m = None
            self._mark_current()

    def _record(self, item: dict[str, Any]) -> None:
        etype = item.get("type")
        obj = item.get("object")
        if etype == "BOOKMARK":
            version = _bookmark_version(obj) or _bookmark_version(item.get("raw_object"))
            if version is not None:
                self._version = version
            self._mark_current()
            return
        if etype == "ERROR":
            code, message = _status_of(obj)
            if code == GONE:
                raise _ExpiredError(message)
            raise watch_error(code, message)
        metadata = getattr(obj, "metadata", None)
        name = getattr(metadata, "name", None)
        try:
            if etype not in ("ADDED", "MODIFIED", "DELETED") or not isinstance(name, str):
                raise TypeError(f"unexpected watch event {etype!r} carrying {type(obj).__name__}")
            data = self.to_data(obj)
        except Exception as exc:  # a change that cannot be read is lost, never hidden
            with self._lock:
                self.gaps += 1
                self._version = getattr(metadata, "resource_version", None) or self._version
                self._note("gap", f"{etype} {name}: {_describe(exc)}", object=name)
            return
        with self._lock:
            if etype == "DELETED":
                self.known.pop(name, None)
            else:
                self.known[name] = data
            self._version = getattr(metadata, "resource_version", None) or self._version
            self._emit(self.kind, etype, name, data)
        self._mark_current()

    def _stream(self, current_watch: WatchLike) -> Iterator[dict[str, Any]]:
        @functools.wraps(self.list_fn)
        def opened(*args: Any, **kwargs: Any) -> Any:
            # The watch request returns once the server accepted it: the watch is established.
            response = self.list_fn(*args, **kwargs)
            self._established()
            return response

        yield from current_watch.stream(
            opened, self.namespace, resource_version=self._version, timeout_seconds=self.watch_timeout_s,
            allow_watch_bookmarks=True, _request_timeout=(5, self.watch_timeout_s + 10), **self._selector())

    def _cycle(self) -> None:
        """Re-list if needed, then watch until the stream ends. Raises _TryAgainError after a failure."""
        if not self._version:
            try:
                self._relist()
            except Exception as exc:
                self._failed(exc, "list")
                raise _TryAgainError from exc
        current_watch = self.watch_factory()
        with self._lock:
            self._watch = current_watch
        try:
            if self.stop_event.is_set():
                return
            for item in self._stream(current_watch):
                self._record(item)
                if self.stop_event.is_set():
                    return
            # The server closed the watch at its timeout: resume from the same version.
            self._mark_current()
        except _ExpiredError as exc:
            self._expired(str(exc))
        except Exception as exc:
            if self.stop_event.is_set():
                return  # the stream was closed by the stop itself
            if api_status(exc) == GONE:
                self._expired(api_reason(exc))
                return
            self._failed(exc, "watch")
            raise _TryAgainError from exc
        finally:
            with self._lock:
                self._watch = None

    def _pause(self, seconds: float) -> None:
        self.stop_event.wait(seconds)  # a stop cuts the backoff short

    def run(self) -> None:
        first, most = self.backoff_s
        try:
            while not self.stop_event.is_set():
                # A fresh Retrying after each clean cycle: the backoff grows only over consecutive failures.
                retrying = Retrying(retry=retry_if_exception_type(_TryAgainError),
                                    wait=wait_exponential(multiplier=first, max=most),
                                    stop=stop_when_event_set(self.stop_event), sleep=self._pause,
                                    reraise=True)
                try:
                    retrying(self._cycle)
                except _TryAgainError:
                    break  # the stop event ended the retries
        except Exception as exc:  # a defect here must still leave the run's evidence marked partial
            log.exception("observer %s failed", self.resource)
            self.gaps += 1
            self._note("gap", f"observer thread failed: {_describe(exc)}")
        finally:
            self.note_stopped()


class Observers:
    """Pods, the target service's EndpointSlices, and events of one namespace."""

    def __init__(self, api: client.ApiClient, namespace: str, service: str, writer: TimelineWriter) -> None:
        core = client.CoreV1Api(api)
        discovery = client.DiscoveryV1Api(api)
        self.stop_event = threading.Event()

        self.threads = [
            _Observer("pods", TimelineKind.POD, core.list_namespaced_pod, namespace, pod_data, writer,
                      self.stop_event),
            _Observer("endpointslices", TimelineKind.ENDPOINTS, discovery.list_namespaced_endpoint_slice, namespace,
                      endpointslice_data, writer, self.stop_event,
                      label_selector=f"kubernetes.io/service-name={service}"),
            _Observer("events", TimelineKind.EVENT, core.list_namespaced_event, namespace, event_data, writer,
                      self.stop_event),
        ]

    def start(self, sync_timeout_s: float = 30.0) -> None:
        for thread in self.threads:
            thread.start()
        deadline = time.monotonic() + sync_timeout_s
        for thread in self.threads:
            if not thread.synced.wait(max(0.0, deadline - time.monotonic())):
                raise ObserverError(f"observer {thread.resource} did not sync within {sync_timeout_s:.0f} s",
                                    "check that the API server answers (harness cluster status)")

    @property
    def gaps(self) -> int:
        return sum(t.gaps for t in self.threads)

    def stop(self, wait_s: float = 1.5) -> None:
        """Stop every observer; when this returns, each has noted ``stopped`` (call before the writer closes).

        Closing the streams ends the watches at once; a thread still blocked in a request after
        ``wait_s`` gets its ``stopped`` note written for it, and anything it emits later is dropped.
        """
        self.stop_event.set()
        started = [t for t in self.threads if t.ident is not None]
        for thread in started:
            thread.interrupt()
        deadline = time.monotonic() + wait_s
        for thread in started:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        for thread in started:
            thread.note_stopped()

    def pods(self) -> dict[str, dict[str, Any]]:
        pods = self.threads[0]
        with pods._lock:
            return dict(pods.known)
