"""Observers: list-then-watch of pods, EndpointSlices and events into ``timeline.jsonl``.

Each resource has its own thread. A watch that expires (410 Gone) or drops is closed by a
re-list: the re-listed state is recorded (type LIST), objects that vanished meanwhile get a
synthetic DELETED, and the timeline notes the re-list. A gap that cannot be closed is recorded as
an observer "gap", which makes the run ERROR, never PASS.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from harness.errors import ObserverError
from harness.evidence import TimelineEvent, TimelineKind
from harness.log import get_logger

__all__ = ["Observers", "TimelineWriter", "endpointslice_data", "pod_data"]

log = get_logger(__name__)

VERSION_LABEL = "app.kubernetes.io/version"


def _ts(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def pod_data(pod: Any) -> dict[str, Any]:
    conditions = {c.type: c.status == "True" for c in (pod.status.conditions or [])}
    labels = pod.metadata.labels or {}
    return {
        "name": pod.metadata.name,
        "phase": pod.status.phase,
        "ready": conditions.get("Ready", False),
        "terminating": pod.metadata.deletion_timestamp is not None,
        "deletion_timestamp": _ts(pod.metadata.deletion_timestamp),
        "node": pod.spec.node_name,
        "ip": pod.status.pod_ip,
        "version": labels.get(VERSION_LABEL),
        "revision": labels.get("pod-template-hash"),
        "restarts": sum(cs.restart_count for cs in (pod.status.container_statuses or [])),
    }


def endpointslice_data(eps: Any) -> dict[str, Any]:
    endpoints = []
    for ep in eps.endpoints or []:
        cond = ep.conditions
        endpoints.append({
            "pod": ep.target_ref.name if ep.target_ref is not None else None,
            "ip": (ep.addresses or [None])[0],
            "ready": bool(cond.ready) if cond is not None and cond.ready is not None else False,
            "serving": bool(cond.serving) if cond is not None and cond.serving is not None else False,
            "terminating": bool(cond.terminating) if cond is not None and cond.terminating is not None else False,
        })
    return {
        "name": eps.metadata.name,
        "service": (eps.metadata.labels or {}).get("kubernetes.io/service-name"),
        "endpoints": endpoints,
    }


def event_data(ev: Any) -> dict[str, Any]:
    obj = ev.involved_object
    return {
        "reason": ev.reason,
        "message": (ev.message or "")[:300],
        "object": f"{obj.kind}/{obj.name}" if obj is not None else "",
        "type": ev.type,
    }


class TimelineWriter:
    """Serialises timeline events from every thread into one file, in arrival order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._queue: queue.Queue[TimelineEvent | None] = queue.Queue()
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


class _Observer(threading.Thread):
    """List-then-watch of one resource kind in one namespace."""

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
        max_relist_failures: int = 5,
    ) -> None:
        super().__init__(name=f"observe-{resource}", daemon=True)
        self.resource = resource
        self.kind = kind
        # The bound API method itself: the watch reads its docstring to know what to deserialise.
        self.list_fn = list_fn
        self.namespace = namespace
        self.to_data = to_data
        self.writer = writer
        self.stop_event = stop
        self.label_selector = label_selector
        self.max_relist_failures = max_relist_failures
        self.known: dict[str, Any] = {}
        self.synced = threading.Event()
        self.gaps = 0
        self.relists = 0

    def _selector(self) -> dict[str, Any]:
        return {"label_selector": self.label_selector} if self.label_selector else {}

    def _note(self, what: str, detail: str = "") -> None:
        self.writer.emit(TimelineKind.OBSERVER, what, self.resource,
                         {"resource": self.resource, "what": what, "detail": detail})

    def _relist(self) -> str:
        result = self.list_fn(self.namespace, **self._selector(), _request_timeout=15)
        seen: dict[str, Any] = {}
        for obj in result.items:
            name = obj.metadata.name
            seen[name] = obj
            data = self.to_data(obj)
            if self.known.get(name) != data:
                self.writer.emit(self.kind, "LIST", name, data)
            self.known[name] = data
        for gone in set(self.known) - set(seen):
            data = {**self.known.pop(gone), "vanished": True}
            self.writer.emit(self.kind, "DELETED", gone, data)
        return str(result.metadata.resource_version)

    def run(self) -> None:
        resource_version = ""
        failures = 0
        while not self.stop_event.is_set():
            try:
                if not resource_version:
                    resource_version = self._relist()
                    if self.synced.is_set():
                        self.relists += 1
                        self._note("relisted")
                    else:
                        self._note("synced")
                        self.synced.set()
                    failures = 0
                w = watch.Watch()
                for item in w.stream(self.list_fn, self.namespace, resource_version=resource_version, timeout_seconds=5,
                                     allow_watch_bookmarks=True, _request_timeout=20, **self._selector()):
                    if self.stop_event.is_set():
                        w.stop()
                        break
                    obj = item["object"]
                    etype = item["type"]
                    if etype == "ERROR":
                        raise ApiException(status=getattr(obj, "code", 500) or 500, reason=str(obj))
                    resource_version = obj.metadata.resource_version
                    if etype == "BOOKMARK":
                        continue
                    name = obj.metadata.name
                    data = self.to_data(obj)
                    if etype == "DELETED":
                        self.known.pop(name, None)
                    else:
                        self.known[name] = data
                    self.writer.emit(self.kind, etype, name, data)
                failures = 0
            except ApiException as exc:
                if exc.status == 410:
                    self._note("expired", "watch resourceVersion too old; re-listing")
                else:
                    failures += 1
                    self._note("error", f"API error {exc.status}: {exc.reason}")
                resource_version = ""
            except Exception as exc:  # any failure of one watch is closed by a re-list, never fatal
                failures += 1
                self._note("error", f"{type(exc).__name__}: {str(exc)[:200]}")
                resource_version = ""
            if failures >= self.max_relist_failures:
                # Events between the last good watch and now are lost for good.
                self.gaps += 1
                self._note("gap", f"{failures} consecutive failures; events may be missing")
                failures = 0
            if failures:
                self.stop_event.wait(min(2.0 * failures, 5.0))
        self._note("stopped")


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

    def stop(self, wait_s: float = 1.0) -> None:
        # A watch notices the stop only at its next event or its 5 s server timeout. Changes after
        # the traffic stopped do not matter, so the run does not wait for that; the threads are
        # daemons and anything they still emit after the writer closed is dropped.
        self.stop_event.set()
        deadline = time.monotonic() + wait_s
        for thread in self.threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def pods(self) -> dict[str, dict[str, Any]]:
        return dict(self.threads[0].known)
