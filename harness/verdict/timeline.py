"""Reading the timeline: where the disruption was, what a pod and the endpoint set looked like at
any instant, and which stretches each observer did not cover.

Observers append events as watches deliver them, so the file is not in clock order; every function
here orders events by their monotonic time first and, at an instant, trusts the last event with
``m <= instant`` (an event at exactly the instant has already happened).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.evidence import TimelineEvent, TimelineKind
from harness.verdict.model import PodState

__all__ = [
    "NON_DISRUPTION_STEPS",
    "OBSERVED_RESOURCES",
    "ObserverCoverage",
    "PodChange",
    "UncoveredWindow",
    "action_phase",
    "action_step",
    "disruption_windows",
    "first_disruption_start",
    "is_disruption_action",
    "observer_coverage",
    "pod_changes_after",
    "pod_name",
    "pod_uid",
    "state_at",
]

# Action steps the orchestrator records that are not themselves a disruption. An action can also
# say so explicitly with data["disruption"] = true/false, which wins over its step name.
NON_DISRUPTION_STEPS = frozenset({
    "cluster", "deploy", "observe", "observers", "setup", "steady", "settle", "teardown", "traffic",
})
_SETTLE_STEP = "settle"
_DELETED = "DELETED"


def _ordered(timeline: Iterable[TimelineEvent]) -> list[TimelineEvent]:
    # Stable: events with equal m keep their file order.
    return sorted(timeline, key=lambda e: e.m)


def data_text(event: TimelineEvent, key: str, fallback: str) -> str:
    """``event.data[key]`` when it is a non-empty string, else ``fallback``."""
    value = event.data.get(key)
    return value if isinstance(value, str) and value else fallback


def pod_name(event: TimelineEvent) -> str:
    return data_text(event, "name", event.name)


def pod_uid(event: TimelineEvent) -> str:
    """The pod's UID, else its name (timelines recorded before pods carried one)."""
    return data_text(event, "uid", pod_name(event))


def action_step(event: TimelineEvent) -> str:
    return data_text(event, "step", event.name)


def action_phase(event: TimelineEvent) -> str:
    return data_text(event, "phase", event.type)


def is_disruption_action(event: TimelineEvent) -> bool:
    if event.kind is not TimelineKind.ACTION:
        return False
    flag = event.data.get("disruption")
    if isinstance(flag, bool):
        return flag
    return action_step(event) not in NON_DISRUPTION_STEPS


def first_disruption_start(timeline: Iterable[TimelineEvent]) -> float | None:
    for event in _ordered(timeline):
        if is_disruption_action(event) and action_phase(event) == "start":
            return event.m
    return None


def disruption_windows(timeline: Iterable[TimelineEvent], *, until: float | None = None
                       ) -> list[tuple[float, float]]:
    """Monotonic intervals during which the target was being disrupted, merged where they overlap.

    A window runs from a disruption step's start to its end (or error). A step that only triggers
    work (``kubectl rollout restart`` returns at once) is followed by a ``settle`` step that waits
    for the rollout; the window then runs to the end of that settle step. A step that never ended
    runs to ``until`` (the end of traffic), or to the last event.
    """
    events = _ordered(timeline)
    if not events:
        return []
    open_steps: dict[str, float] = {}
    windows: list[list[float]] = []
    unsettled = 0  # windows from here on have not yet been extended by a settle step
    for event in events:
        if event.kind is not TimelineKind.ACTION:
            continue
        step, phase = action_step(event), action_phase(event)
        if is_disruption_action(event):
            if phase == "start":
                open_steps.setdefault(step, event.m)
            elif phase in ("end", "error") and step in open_steps:
                windows.append([open_steps.pop(step), event.m])
        elif step == _SETTLE_STEP and phase in ("end", "error"):
            for window in windows[unsettled:]:
                window[1] = max(window[1], event.m)
            unsettled = len(windows)
    last = until if until is not None else events[-1].m
    windows.extend([start, max(start, last)] for start in open_steps.values())
    merged: list[tuple[float, float]] = []
    for start, end in sorted(windows):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


# What the observers watch (harness/observe.py); each must cover the whole traffic window.
OBSERVED_RESOURCES = ("pods", "endpointslices", "events")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class UncoveredWindow:
    """A stretch in which changes of ``resource`` may be missing from the timeline."""

    resource: str
    cause: str  # "relisted" (the watch expired), "gap" (a change not recorded), "error" (never repaired)
    start_m: float
    end_m: float | None  # None: not repaired by the end of the timeline
    detail: str = ""


@dataclass(slots=True)
class ObserverCoverage:
    """One observer's notes folded into what it covered."""

    resource: str
    synced_m: float | None = None
    stopped_m: float | None = None
    stopped_healthy: bool | None = None  # None: no stopped note, or one that does not say
    windows: list[UncoveredWindow] = field(default_factory=list)
    relists: int = 0
    # Outages closed by a watch resumed from its resourceVersion: the server replayed every change
    # since, so they cost delay, not changes.
    resumed_errors: int = 0
    longest_resumed_outage_s: float = 0.0


def _note_what(event: TimelineEvent) -> str:
    return data_text(event, "what", event.type)


def _note_resource(event: TimelineEvent) -> str:
    return data_text(event, "resource", event.name)


def _fold_notes(resource: str, notes: list[TimelineEvent]) -> ObserverCoverage:
    cover = ObserverCoverage(resource)
    outage: tuple[float, str] | None = None  # (last moment known current, what broke)
    for note in notes:
        what, data, m = _note_what(note), note.data, note.m
        detail = str(data.get("detail") or "")
        if what == "synced":
            cover.synced_m = m if cover.synced_m is None else cover.synced_m
            outage = None  # failures of the first list: coverage had not begun
        elif what in ("error", "expired"):
            if outage is None:
                since = _number(data.get("current_until_m"))
                outage = (m if since is None else min(since, m), detail)
        elif what == "resumed":
            if outage is not None:
                cover.resumed_errors += 1
                took = _number(data.get("outage_s"))
                cover.longest_resumed_outage_s = max(cover.longest_resumed_outage_s,
                                                     m - outage[0] if took is None else took)
            outage = None
        elif what == "relisted":
            cover.relists += 1
            since = _number(data.get("uncovered_from_m"))
            if since is None:
                since = outage[0] if outage is not None else m
            cover.windows.append(UncoveredWindow(resource, "relisted", min(since, m), m,
                                                 outage[1] if outage is not None else detail))
            outage = None
        elif what == "gap":
            cover.windows.append(UncoveredWindow(resource, "gap", m, m, detail))
        elif what == "stopped":
            cover.stopped_m = m
            healthy = data.get("healthy")
            cover.stopped_healthy = healthy if isinstance(healthy, bool) else None
            break  # the observer's last word
    if outage is not None:
        cover.windows.append(UncoveredWindow(resource, "error", outage[0], cover.stopped_m, outage[1]))
    return cover


def observer_coverage(timeline: Iterable[TimelineEvent]) -> dict[str, ObserverCoverage]:
    """Per observed resource (every one of OBSERVED_RESOURCES, and any other that left notes): when it
    synced and stopped, and the windows its notes leave uncovered.

    An ``error`` opens an outage at the last moment the watch was known current; ``resumed`` closes it
    at no cost; ``relisted`` closes it with an uncovered window (from ``uncovered_from_m``); a
    ``stopped`` that comes first leaves it as a window unrepaired until the stop.
    """
    notes: dict[str, list[TimelineEvent]] = {r: [] for r in OBSERVED_RESOURCES}
    for event in _ordered(timeline):
        if event.kind is TimelineKind.OBSERVER:
            notes.setdefault(_note_resource(event), []).append(event)
    return {resource: _fold_notes(resource, events) for resource, events in notes.items()}


@dataclass(frozen=True, slots=True)
class PodChange:
    pod: str
    m: float
    event: TimelineEvent


def _is_gone_or_going(event: TimelineEvent) -> bool:
    return event.type == _DELETED or event.data.get("terminating") is True


def pod_changes_after(timeline: Iterable[TimelineEvent], since: float, *,
                      key: Callable[[TimelineEvent], str] = pod_name
                      ) -> tuple[dict[str, PodChange], dict[str, PodChange]]:
    """From ``since`` on: the first instant each pod was seen terminating or deleted, and the first
    instant each pod was seen ready (and not terminating), keyed by ``key`` (``pod_uid`` tells a
    StatefulSet's new pod from the old one of the same name)."""
    going: dict[str, PodChange] = {}
    ready: dict[str, PodChange] = {}
    for event in _ordered(timeline):
        if event.kind is not TimelineKind.POD or event.m < since:
            continue
        name = key(event)
        if _is_gone_or_going(event):
            going.setdefault(name, PodChange(name, event.m, event))
        elif event.data.get("ready") is True:
            ready.setdefault(name, PodChange(name, event.m, event))
    return going, ready


def _opt_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _endpoint_flag(entry: dict[str, Any], key: str, default: bool | None) -> bool | None:
    # EndpointConditions: ready and serving are "unknown, treat as true" when absent; terminating
    # absent means false.
    value = entry.get(key)
    return value if isinstance(value, bool) else default


def apply_slice_event(slices: dict[str, list[dict[str, Any]]], event: TimelineEvent, service: str | None) -> bool:
    """Fold one EndpointSlice event into ``slices`` (name -> endpoints); False when it is another
    service's slice and was ignored."""
    if service is not None and event.data.get("service") not in (None, service):
        return False
    key = str(event.data.get("name") or event.name)
    if event.type == _DELETED:
        slices.pop(key, None)
    else:
        slices[key] = [e for e in (event.data.get("endpoints") or []) if isinstance(e, dict)]
    return True


def state_at(timeline: Sequence[TimelineEvent], pod: str, m: float, *, service: str | None = None
             ) -> PodState:
    """``pod`` and the endpoint set as the timeline knew them at monotonic instant ``m``."""
    last_pod: TimelineEvent | None = None
    first_terminating: float | None = None
    slices: dict[str, list[dict[str, Any]]] = {}
    for event in _ordered(timeline):
        if event.m > m:
            break
        if event.kind is TimelineKind.POD and pod_name(event) == pod:
            last_pod = event
            if event.data.get("terminating") is True:
                if first_terminating is None:
                    first_terminating = event.m
            elif event.type != _DELETED:
                first_terminating = None  # a pod name reused by a new pod
        elif event.kind is TimelineKind.ENDPOINTS:
            apply_slice_event(slices, event, service)

    state = PodState(pod=pod, m=m)
    if last_pod is not None:
        data = last_pod.data
        state.known = True
        state.exists = last_pod.type != _DELETED
        state.phase = data.get("phase") if isinstance(data.get("phase"), str) else None
        state.ready = _opt_bool(data.get("ready"))
        state.terminating = _opt_bool(data.get("terminating"))
        if state.terminating and first_terminating is not None:
            state.terminating_for_s = round(m - first_terminating, 6)
        state.node = data.get("node") if isinstance(data.get("node"), str) else None
        state.version = data.get("version") if isinstance(data.get("version"), str) else None
    pod_ip = last_pod.data.get("ip") if last_pod is not None else None

    for entries in slices.values():
        for entry in entries:
            ready = _endpoint_flag(entry, "ready", True)
            state.endpoints_total += 1
            if ready:
                state.endpoints_ready += 1
            named = entry.get("pod")
            if named == pod or (named is None and pod_ip is not None and entry.get("ip") == pod_ip):
                state.in_endpoints = True
                state.endpoint_ready = ready
                state.endpoint_serving = _endpoint_flag(entry, "serving", ready)
                state.endpoint_terminating = _endpoint_flag(entry, "terminating", False)
    return state
