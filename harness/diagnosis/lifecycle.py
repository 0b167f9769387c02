"""Each pod's way in and out of the run, read from the timeline, the pod logs and the run's facts.

Every instant is on the harness's monotonic clock. The cluster's own timestamps (deletion,
container finish, Ready transition: whole seconds) are moved onto it with the offset between wall
clock and monotonic clock the timeline's events carry; they are kept apart from the instants the
watches saw, which are precise to the watch's delay but never early.
"""

from __future__ import annotations

import bisect
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from harness.evidence import TimelineEvent, TimelineKind
from harness.verdict.timeline import apply_slice_event, pod_name

if TYPE_CHECKING:
    from harness.verdict.model import RunFacts

__all__ = [
    "EndpointHistory",
    "LogLine",
    "PodLife",
    "build_lives",
    "clock_offset",
]


class LogLine(Protocol):
    """A line a pod logged (``harness.podlogs.PodLogLine``)."""

    @property
    def m(self) -> float: ...
    @property
    def ts_m(self) -> float | None: ...
    @property
    def line(self) -> str: ...


# A line that shows the process reacting to its stop signal. Matched on any service's logs, so it is
# deliberately plain: the words servers use when they log a stop (Go, nginx, Envoy, Caddy, Node...).
_STOP_WORDS = re.compile(r"sigterm|signal|terminat|shutting down|shutdown|graceful|stopping|exiting", re.I)


# The kubelet gives a container at least this long between the end of its preStop hook and SIGKILL,
# whatever is left of the grace period.
MIN_GRACE_AFTER_PRE_STOP_S = 2.0


def clock_offset(timeline: Sequence[TimelineEvent]) -> float | None:
    """Wall clock minus monotonic clock of the harness, from its own timeline events."""
    offsets = [e.t - e.m for e in timeline[:200]]
    return statistics.median(offsets) if offsets else None


def _wall(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass
class PodLife:
    """One pod. Instants are monotonic; None when the evidence does not show it.

    ``name`` is the pod's own name, except for a name several pods held in turn (a StatefulSet's):
    the second of them is ``NAME#2``, and so on; ``pod`` is always the pod's own name."""

    name: str
    pod: str = ""
    uid: str | None = None
    node: str | None = None
    ip: str | None = None
    first_seen_m: float | None = None
    listed: bool = False  # present when the observers first listed (before the run's traffic)
    ready_m: float | None = None  # first seen ready and not terminating
    endpoint_ready_m: float | None = None  # first ready in the Service's EndpointSlices
    deleted_m: float | None = None  # first seen terminating (or deleted)
    deletion_api_m: float | None = None  # deletionTimestamp - grace: the API's instant, whole seconds
    grace_s: float | None = None
    pre_stop: dict[str, Any] | None = None  # the first container's preStop ({"sleep_s": n}, {"exec": ...})
    readiness: dict[str, Any] | None = None
    killing_m: float | None = None  # the kubelet's "Killing" event seen
    failed_pre_stop: bool = False
    unhealthy: int = 0  # "Unhealthy" events (probe failures)
    sigterm_m: float | None = None
    sigterm_source: str | None = None
    endpoint_not_ready_m: float | None = None  # after deletion: first seen not ready in a slice
    endpoint_removed_m: float | None = None  # after deletion: first absent from every slice
    terminated_seen_m: float | None = None  # first pod event with a terminated container
    finished_m: float | None = None  # the container's finishedAt, whole seconds
    exit_code: int | None = None
    exit_signal: int | None = None
    exit_reason: str | None = None
    restarts: list[tuple[float, int | None, str | None]] = field(default_factory=list)  # (seen m, exit, reason)
    containers_gone_m: float | None = None  # the container runtime's word (RunFacts.disrupted_pods)
    gone_m: float | None = None  # DELETED
    stop_log: str | None = None  # the first log line showing the stop, when there is one
    answers: int = 0
    first_answer_m: float | None = None
    first_ok_m: float | None = None
    last_answer_m: float | None = None
    last_answer_end_m: float | None = None
    longest_s: float = 0.0

    def __post_init__(self) -> None:
        self.pod = self.pod or self.name

    @property
    def pre_stop_sleep_s(self) -> float | None:
        """The preStop sleep; 0 without a preStop; None for a hook of unknown length (exec, HTTP)."""
        if self.pre_stop is None:
            return 0.0
        sleep = self.pre_stop.get("sleep_s")
        return float(sleep) if isinstance(sleep, int | float) and not isinstance(sleep, bool) else None

    @property
    def kill_due_m(self) -> float | None:
        """When the kubelet's SIGKILL was due: deletion + grace period, but never sooner than
        MIN_GRACE_AFTER_PRE_STOP_S after a preStop hook ended (the kubelet's own floor)."""
        if self.deleted_m is None or self.grace_s is None:
            return None
        start = self.deleted_m if self.deletion_api_m is None else min(self.deleted_m, self.deletion_api_m + 1.0)
        due = start + self.grace_s
        if self.pre_stop is not None and self.sigterm_m is not None:
            due = max(due, self.sigterm_m + MIN_GRACE_AFTER_PRE_STOP_S)
        return due

    @property
    def killed(self) -> bool:
        """The container ended by SIGKILL (exit 137, or signal 9)."""
        return self.exit_code == 137 or self.exit_signal == 9

    def ended_by(self) -> float | None:
        """The latest the process can have ended: the first report of its end."""
        seen = [m for m in (self.terminated_seen_m, self.containers_gone_m, self.gone_m) if m is not None]
        return min(seen) if seen else None

    def ended_after(self) -> float | None:
        """The earliest the process can have ended (finishedAt is truncated to the second)."""
        return self.finished_m

    def terminating_at(self, m: float, slack_s: float = 0.0) -> bool:
        return self.deleted_m is not None and self.deleted_m <= m + slack_s


class EndpointHistory:
    """The Service's endpoint set after each EndpointSlice event: who was in it, and how."""

    def __init__(self, timeline: Iterable[TimelineEvent], service: str | None) -> None:
        slices: dict[str, list[dict[str, Any]]] = {}
        self.instants: list[float] = []
        self.states: list[dict[str, tuple[bool, bool, bool]]] = []
        for event in timeline:
            if event.kind is not TimelineKind.ENDPOINTS or not apply_slice_event(slices, event, service):
                continue
            state: dict[str, tuple[bool, bool, bool]] = {}
            for entries in slices.values():
                for entry in entries:
                    pod = entry.get("pod")
                    if not isinstance(pod, str):
                        continue
                    ready = entry.get("ready") is not False
                    serving = entry.get("serving", ready) is not False
                    state[pod] = (ready, serving, entry.get("terminating") is True)
            self.instants.append(event.m)
            self.states.append(state)

    @property
    def known(self) -> bool:
        return bool(self.instants)

    def at(self, m: float) -> dict[str, tuple[bool, bool, bool]] | None:
        """Pod -> (ready, serving, terminating) at ``m``; None before the first slice was seen."""
        i = bisect.bisect_right(self.instants, m) - 1
        return self.states[i] if i >= 0 else None

    def ready_count(self, m: float) -> int | None:
        state = self.at(m)
        return None if state is None else sum(1 for ready, _, _ in state.values() if ready)

    def changes(self) -> Iterable[tuple[float, dict[str, tuple[bool, bool, bool]]]]:
        return zip(self.instants, self.states, strict=True)


def _fold_pod(life: PodLife, event: TimelineEvent, to_m: Any) -> None:
    data = event.data
    if life.first_seen_m is None:
        life.first_seen_m = event.m
        life.listed = event.type == "LIST"
    life.node = data.get("node") if isinstance(data.get("node"), str) else life.node
    life.ip = data.get("ip") if isinstance(data.get("ip"), str) else life.ip
    specs = data.get("spec_containers")
    if isinstance(specs, list) and specs and isinstance(specs[0], dict):
        pre = specs[0].get("pre_stop")
        life.pre_stop = pre if isinstance(pre, dict) else None
        probe = specs[0].get("readiness")
        life.readiness = probe if isinstance(probe, dict) else None
    terminating = data.get("terminating") is True or event.type == "DELETED"
    if terminating and life.deleted_m is None:
        life.deleted_m = event.m
        grace = _int(data.get("deletion_grace_period_s"))
        life.grace_s = float(grace) if grace is not None else None
        stamp = _wall(data.get("deletion_timestamp"))
        if stamp is not None and grace is not None:
            life.deletion_api_m = to_m(stamp - grace)
    if not terminating and data.get("ready") is True and life.ready_m is None:
        life.ready_m = event.m
    if event.type == "DELETED" and life.gone_m is None:
        life.gone_m = event.m
    for container in data.get("containers") or []:
        if not isinstance(container, dict):
            continue
        if container.get("state") == "terminated" and life.terminated_seen_m is None and life.deleted_m is not None:
            life.terminated_seen_m = event.m
            life.exit_code = _int(container.get("exit_code"))
            life.exit_signal = _int(container.get("signal"))
            reason = container.get("reason")
            life.exit_reason = reason if isinstance(reason, str) else None
            finished = _wall(container.get("finished_at"))
            life.finished_m = to_m(finished) if finished is not None else None
        last = container.get("last_state")
        restarts = _int(container.get("restart_count")) or 0
        if isinstance(last, dict) and restarts > len(life.restarts):
            life.restarts.append((event.m, _int(last.get("exit_code")),
                                  last.get("reason") if isinstance(last.get("reason"), str) else None))
        break  # the first container is the service's


def life_at(held: Sequence[PodLife], m: float) -> PodLife | None:
    """Of the pods that held one name in turn, the one that held it at ``m``: the last seen by then
    (the watches may see a pod a little after it exists), else the first."""
    if not held:
        return None
    chosen = held[0]
    for life in held[1:]:
        if life.first_seen_m is not None and life.first_seen_m <= m + 0.5:
            chosen = life
    return chosen


def _fold_event(held: Mapping[str, Sequence[PodLife]], event: TimelineEvent) -> None:
    obj = event.data.get("object")
    if not isinstance(obj, str) or not obj.startswith("Pod/"):
        return
    life = life_at(held.get(obj.removeprefix("Pod/"), ()), event.m)
    if life is None:
        return
    reason = event.data.get("reason")
    if reason == "Killing" and life.killing_m is None and event.type != "LIST":
        life.killing_m = event.m
    elif reason == "FailedPreStopHook":
        life.failed_pre_stop = True
    elif reason == "Unhealthy":
        life.unhealthy += 1


def _fold_endpoints(held: Mapping[str, Sequence[PodLife]], endpoints: EndpointHistory) -> None:
    present: set[str] = set()
    for m, state in endpoints.changes():
        for pod, (ready, _, _) in state.items():
            life = life_at(held.get(pod, ()), m)
            if life is None:
                continue
            if ready and life.endpoint_ready_m is None:
                life.endpoint_ready_m = m
            if (not ready and life.deleted_m is not None and m >= life.deleted_m - 0.5
                    and life.endpoint_not_ready_m is None):
                life.endpoint_not_ready_m = m
        for pod in present - state.keys():
            life = life_at(held.get(pod, ()), m)
            if life is not None and life.deleted_m is not None and life.endpoint_removed_m is None \
                    and m >= life.deleted_m - 0.5:
                life.endpoint_removed_m = m
                if life.endpoint_not_ready_m is None:
                    life.endpoint_not_ready_m = m
        present = set(state)


def _sigterm(life: PodLife, logs: Sequence[LogLine]) -> None:
    if life.deleted_m is None:
        return
    for line in logs:
        at = line.ts_m if line.ts_m is not None else line.m
        if at >= life.deleted_m - 0.5 and _STOP_WORDS.search(line.line):
            life.sigterm_m, life.sigterm_source, life.stop_log = at, "log", line.line[:300]
            return
    sleep = life.pre_stop_sleep_s
    if sleep is None:
        return  # a hook of unknown length: SIGTERM's instant is not known
    if life.killing_m is not None:
        life.sigterm_m = life.killing_m + sleep
        life.sigterm_source = "Killing event + preStop sleep" if sleep else "Killing event (no preStop)"
    else:
        # The kubelet starts stopping the container as soon as it sees the deletion.
        life.sigterm_m = life.deleted_m + sleep
        life.sigterm_source = "deletion + preStop sleep" if sleep else "deletion (no preStop)"


def pods_by_name(timeline: Sequence[TimelineEvent], lives: dict[str, PodLife], to_m: Any
                 ) -> dict[str, list[PodLife]]:
    """Fold the pod events into ``lives``, one per pod (by UID), and return each name's pods in the
    order they held it."""
    held: dict[str, list[PodLife]] = {}
    by_uid: dict[str, PodLife] = {}
    for event in timeline:
        if event.kind is not TimelineKind.POD:
            continue
        name = pod_name(event)
        uid = event.data.get("uid") if isinstance(event.data.get("uid"), str) else None
        life = by_uid.get(uid) if uid else None
        if life is None:
            pods = held.setdefault(name, [])
            latest = pods[-1] if pods else None
            if latest is None or (uid and latest.uid and latest.uid != uid):
                key = name if latest is None else f"{name}#{len(pods) + 1}"
                latest = lives[key] = PodLife(key, pod=name, uid=uid)
                pods.append(latest)
            life = latest
            if uid:
                life.uid = uid
                by_uid[uid] = life
        _fold_pod(life, event, to_m)
    return held


def build_lives(timeline: Sequence[TimelineEvent], facts: RunFacts, *,
                pod_logs: Mapping[str, Sequence[LogLine]] | None = None,
                pod_answers: Mapping[str, Sequence[float]] | None = None,
                endpoints: EndpointHistory | None = None) -> dict[str, PodLife]:
    """Every pod the timeline shows, in the order they appeared. ``timeline`` is in clock order."""
    offset = clock_offset(timeline)

    def to_m(wall: float) -> float | None:
        return None if offset is None else wall - offset

    lives: dict[str, PodLife] = {}
    held = pods_by_name(timeline, lives, to_m)
    for event in timeline:
        if event.kind is TimelineKind.EVENT:
            _fold_event(held, event)
    _fold_endpoints(held, endpoints if endpoints is not None else EndpointHistory(timeline, facts.service))
    for name, gone in facts.disrupted_pods.items():
        deleted = [life for life in held.get(name, ()) if life.deleted_m is not None
                   and (gone.containers_gone_m is None or life.deleted_m <= gone.containers_gone_m)]
        if deleted:
            deleted[-1].containers_gone_m = gone.containers_gone_m
    for life in lives.values():
        _sigterm(life, (pod_logs or {}).get(life.pod, ()))
        # Answers are counted by the name in X-Pod: a name several pods held mixes their answers.
        answers = (pod_answers or {}).get(life.pod) if len(held[life.pod]) == 1 else None
        if answers:
            life.answers = int(answers[0])
            life.first_answer_m, life.last_answer_m, life.last_answer_end_m = answers[1], answers[2], answers[3]
            life.longest_s = float(answers[4])
            life.first_ok_m = answers[5] if len(answers) > 5 and answers[5] != float("inf") else None
    return lives
