"""When the containers of a disrupted pod were really gone.

A pod object says little about its process: after a force kill the object vanishes at once while
its container runs on for seconds, and after a graceful delete it lingers until the kubelet reports.
Traffic has to keep flowing until the process is gone, so the run asks the node's container
runtime (on the harness's own kind cluster, where every node is a container it can exec into).
Elsewhere the deletion grace period bounds it: the kubelet kills what is left at deletion + grace.

Which pods went away is read from the run's own timeline as it grows, so this needs no watch of
its own and sees exactly the pods the observers saw.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from harness.evidence import TimelineEvent, TimelineKind
from harness.log import get_logger
from harness.timeline_follow import TimelineFollower

__all__ = ["ContainerWatch", "GoneFact", "running_pods_on"]

log = get_logger(__name__)

POLL_S = 0.5
UID_PREFIX = "uid:"
GoneHow = Literal["runtime", "grace-bound", "unknown"]


@dataclass
class GoneFact:
    """One disrupted pod: when it was deleted and when its containers were gone (monotonic)."""

    node: str | None
    deleted_m: float
    grace_s: float | None
    containers_gone_m: float | None = None
    how: GoneHow = "unknown"
    uid: str | None = None  # the pod's UID: a StatefulSet's new pod reuses the name


def running_pods_on(node: str, namespace: str, timeout_s: float = 10.0) -> set[str] | None:
    """Pods of ``namespace`` with a running container on kind node ``node``, by name and as
    ``uid:<UID>``; None if the runtime cannot be asked (then nothing is concluded)."""
    try:
        proc = subprocess.run(["docker", "exec", node, "crictl", "ps", "--state", "running", "-o", "json"],
                              capture_output=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    try:
        containers = json.loads(proc.stdout).get("containers") or []
    except ValueError:
        return None
    pods: set[str] = set()
    for container in containers:
        labels = container.get("labels") or {}
        if labels.get("io.kubernetes.pod.namespace") == namespace:
            pods.add(str(labels.get("io.kubernetes.pod.name")))
            if labels.get("io.kubernetes.pod.uid"):
                pods.add(f"{UID_PREFIX}{labels['io.kubernetes.pod.uid']}")
    return pods


def _grace(data: dict[str, Any]) -> float | None:
    """The longest the kubelet may take: a force delete sets a deletion grace of 0 while the kubelet
    still stops the container within the pod's own grace period, so the larger of the two bounds it."""
    values = [float(v) for v in (data.get("deletion_grace_period_s"), data.get("grace_period_s"))
              if isinstance(v, int | float) and not isinstance(v, bool)]
    return max(values) if values else None


class ContainerWatch:
    """Follows the timeline file; for every pod seen terminating or deleted, finds when its
    containers were gone. ``kind_nodes`` true: ask each node's runtime; false: grace-bound."""

    def __init__(self, timeline: Path, namespace: str, *, kind_nodes: bool,
                 ask: Callable[[str, str], set[str] | None] = running_pods_on) -> None:
        self.timeline = timeline
        self.namespace = namespace
        self.kind_nodes = kind_nodes
        self._ask = ask
        self._follower = TimelineFollower(timeline)
        self._nodes: dict[str, str | None] = {}
        self.pods: dict[str, GoneFact] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="container-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def _run(self) -> None:
        while not self._stop.wait(POLL_S):
            try:
                self.poll()
            except Exception:  # a failed poll concludes nothing; the next one tries again
                log.debug("container watch poll failed", exc_info=True)

    def _follow(self) -> None:
        for event in self._follower.new_events():
            if event.kind is TimelineKind.POD:
                self._pod_event(event)

    def _pod_event(self, event: TimelineEvent) -> None:
        data = event.data
        if data.get("node"):
            self._nodes[event.name] = str(data["node"])
        going = event.type == "DELETED" or bool(data.get("terminating"))
        if not going:
            return
        with self._lock:
            fact = self.pods.get(event.name)
            if fact is None:
                uid = data.get("uid")
                self.pods[event.name] = GoneFact(node=self._nodes.get(event.name), deleted_m=event.m,
                                                 grace_s=_grace(data), uid=uid if isinstance(uid, str) else None)
            else:
                fact.node = fact.node or self._nodes.get(event.name)
                fact.grace_s = fact.grace_s if fact.grace_s is not None else _grace(data)

    def poll(self) -> None:
        """One round: read new timeline lines, then settle every pending pod that can be settled."""
        self._follow()
        now = time.monotonic()
        with self._lock:
            pending = {name: fact for name, fact in self.pods.items() if fact.containers_gone_m is None}
        if not pending:
            return
        if not self.kind_nodes:
            for fact in pending.values():
                if fact.grace_s is not None:
                    fact.containers_gone_m, fact.how = fact.deleted_m + fact.grace_s, "grace-bound"
            return
        by_node: dict[str, list[str]] = {}
        for name, fact in pending.items():
            if fact.node:
                by_node.setdefault(fact.node, []).append(name)
        for node, names in by_node.items():
            running = self._ask(node, self.namespace)
            if running is None:
                continue
            by_uid = any(entry.startswith(UID_PREFIX) for entry in running)
            for name in names:
                uid = pending[name].uid
                # By UID when the runtime names them: a new pod of the same name is not the old one.
                if (f"{UID_PREFIX}{uid}" not in running) if by_uid and uid else name not in running:
                    # Gone at some instant since the previous poll: this poll's time bounds it above.
                    pending[name].containers_gone_m, pending[name].how = now, "runtime"

    def all_gone(self) -> bool:
        return not self.pending()

    def pending(self) -> list[str]:
        """Pods whose containers may still run; a grace bound lies in the future until it has passed."""
        now = time.monotonic()
        with self._lock:
            return sorted(n for n, f in self.pods.items() if f.containers_gone_m is None or f.containers_gone_m > now)

    def facts(self) -> dict[str, GoneFact]:
        with self._lock:
            return {name: GoneFact(**vars(fact)) for name, fact in self.pods.items()}
