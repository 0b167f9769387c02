"""The timeline chart: requests per second by outcome, the failed requests by the mechanism that lost
them, the pods and the endpoint set, and the disruption steps, all on one time axis (seconds since
``verdict.origin_m``).

``chart_data`` is a pure function of a verdict and its timeline, so what the chart shows is unit-tested
without drawing; ``render_chart_svg`` draws it with matplotlib into a standalone SVG (text kept as
text), which the HTML report inlines and the Markdown report links, so neither needs a network or
any script to show it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.diagnosis import Mechanism
from harness.evidence import TimelineEvent, TimelineKind
from harness.verdict import OUTCOMES, Verdict
from harness.verdict.timeline import action_phase, action_step, apply_slice_event, is_disruption_action, pod_name

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "ENDPOINT_STATES",
    "MECHANISM_COLORS",
    "OUTCOME_COLORS",
    "OUTCOME_LABELS",
    "POD_STATES",
    "ActionMark",
    "ChartData",
    "MechanismMark",
    "Note",
    "PodLane",
    "Segment",
    "chart_data",
    "chart_figure",
    "chart_origin",
    "failing_outcomes",
    "render_chart_svg",
]

OUTCOME_LABELS: dict[str, str] = {
    "ok": "ok", "http_4xx": "4xx", "http_5xx": "5xx", "refused": "refused", "reset": "reset",
    "timeout": "timeout", "incomplete": "incomplete", "other": "other error", "bad_status": "bad status",
    "not_sent": "not sent", "unexpected_status": "unexpected status",
}
OUTCOME_COLORS: dict[str, str] = {
    "ok": "#59a14f", "http_4xx": "#edc948", "http_5xx": "#e15759", "refused": "#b07aa1",
    "reset": "#f28e2b", "timeout": "#4e79a7", "incomplete": "#9c755f", "other": "#79706e",
    "bad_status": "#ff9da7", "not_sent": "#bab0ac", "unexpected_status": "#d37295",
}
POD_STATES: dict[str, str] = {
    "pending": "#d9d9d9", "running, not ready": "#a0cbe8", "ready": "#59a14f", "terminating": "#f28e2b",
}
ENDPOINT_STATES: dict[str, str] = {
    "endpoint ready": "#1f4e79", "endpoint serving, terminating": "#e15759", "endpoint not ready": "#8c8c8c",
}
# One colour per mechanism, apart from the outcome colours; unexplained stays grey.
MECHANISM_COLORS: dict[str, str] = {
    Mechanism.SHUTDOWN_BEFORE_ENDPOINT_REMOVAL.value: "#d62728",
    Mechanism.KEEPALIVE_CLOSED_AT_SHUTDOWN.value: "#ff7f0e",
    Mechanism.KILLED_AT_GRACE_END.value: "#8c564b",
    Mechanism.READY_BEFORE_SERVING.value: "#17becf",
    Mechanism.NO_READY_ENDPOINT.value: "#9467bd",
    Mechanism.APPLICATION_ERROR.value: "#e377c2",
    Mechanism.TEST_BED.value: "#bcbd22",
    Mechanism.UNEXPLAINED.value: "#7f7f7f",
}
DISRUPTION_COLOR = "#b07aa1"
MAX_LANES = 40
_DELETED = "DELETED"
# Observer notes worth a mark: the watch lost or re-read state. "synced" and "stopped" are routine.
_OBSERVER_NOTES = frozenset({"gap", "error", "expired", "relisted"})


@dataclass(frozen=True, slots=True)
class Segment:
    start: float
    end: float
    state: str


@dataclass(slots=True)
class PodLane:
    pod: str
    first_seen: float
    old: bool  # existed before the first disruption
    states: list[Segment] = field(default_factory=list)
    endpoint: list[Segment] = field(default_factory=list)
    deleted_at: float | None = None


@dataclass(frozen=True, slots=True)
class ActionMark:
    number: int
    x: float
    step: str
    phase: str
    detail: str
    disruption: bool


@dataclass(frozen=True, slots=True)
class Note:
    x: float
    kind: str  # "observer" or "event"
    label: str
    severity: str  # "info", "warning" or "error"


@dataclass(frozen=True, slots=True)
class MechanismMark:
    """A mechanism of the diagnosis on the time axis: the span of its failed requests (all of them) and
    the times of those among the verdict's first failures."""

    mechanism: str
    count: int
    color: str
    span: tuple[float, float] | None
    xs: tuple[float, ...]

    @property
    def label(self) -> str:
        return f"{self.mechanism} x{self.count}"


@dataclass(slots=True)
class ChartData:
    origin_m: float
    origin_label: str
    x_min: float
    x_max: float
    bucket_s: float
    bucket_start: float  # offset of the first bucket's left edge
    rates: dict[str, list[float]]  # outcome -> requests/s per bucket, buckets contiguous from bucket_start
    failing: tuple[str, ...]  # outcomes that count as failures for this verdict
    windows: list[tuple[float, float]]
    lanes: list[PodLane]
    lanes_dropped: int
    endpoints: list[tuple[float, int, int]]  # (x, ready, total) after each endpoint change
    actions: list[ActionMark]
    notes: list[Note]
    mechanisms: list[MechanismMark] = field(default_factory=list)

    @property
    def edges(self) -> list[float]:
        n = len(next(iter(self.rates.values()), []))
        return [self.bucket_start + i * self.bucket_s for i in range(n + 1)]

    @property
    def has_failures(self) -> bool:
        return any(any(v > 0 for v in self.rates[o]) for o in self.failing)


def failing_outcomes(verdict: Verdict) -> tuple[str, ...]:
    return tuple(o for o in OUTCOMES if o != "ok" and (o != "http_4xx" or not verdict.config.allow_4xx))


def chart_origin(verdict: Verdict, timeline: Sequence[TimelineEvent]) -> tuple[float, str]:
    """The instant x = 0 stands for, and how to name it on the axis."""
    if verdict.origin_m is not None:
        if verdict.facts.traffic_started_m is not None and verdict.origin_m == verdict.facts.traffic_started_m:
            return verdict.origin_m, "seconds since traffic started"
        return verdict.origin_m, "seconds since the first request"
    if verdict.facts.traffic_started_m is not None:
        return verdict.facts.traffic_started_m, "seconds since traffic started"
    if timeline:
        return min(e.m for e in timeline), "seconds since the first recorded event"
    return 0.0, "seconds"


def _rates(verdict: Verdict, origin: float) -> tuple[float, dict[str, list[float]]]:
    step = verdict.bucket_s
    if not verdict.buckets or step <= 0:
        return 0.0, {o: [] for o in OUTCOMES}
    index = {round(b.m / step): b for b in verdict.buckets}
    first, last = min(index), max(index)
    rates: dict[str, list[float]] = {o: [0.0] * (last - first + 1) for o in OUTCOMES}
    for i, bucket in index.items():
        counts = bucket.counts
        for outcome in OUTCOMES:
            rates[outcome][i - first] = getattr(counts, outcome) / step
    return round(first * step - origin, 6), rates


def _pod_state(event: TimelineEvent) -> str:
    data = event.data
    if data.get("terminating") is True:
        return "terminating"
    if data.get("ready") is True:
        return "ready"
    if data.get("phase") == "Running":
        return "running, not ready"
    return "pending"


class _Track:
    """Contiguous state segments, with the last one still open."""

    __slots__ = ("closed", "open_since", "open_state")

    def __init__(self) -> None:
        self.closed: list[Segment] = []
        self.open_state: str | None = None
        self.open_since = 0.0

    def set(self, x: float, state: str | None) -> None:
        if state == self.open_state:
            return
        if self.open_state is not None and x > self.open_since:
            self.closed.append(Segment(self.open_since, x, self.open_state))
        self.open_state, self.open_since = state, x

    def segments(self, end: float) -> list[Segment]:
        tail = [Segment(self.open_since, end, self.open_state)] if self.open_state is not None else []
        return [s for s in self.closed + tail if s.end > s.start]


def _endpoint_state(entry: dict[str, Any]) -> str:
    # EndpointConditions: ready and serving absent mean true; terminating absent means false.
    ready = entry.get("ready") is not False
    serving = entry.get("serving", ready) is not False
    terminating = entry.get("terminating") is True
    if ready:
        return "endpoint ready"
    if serving and terminating:
        return "endpoint serving, terminating"
    return "endpoint not ready"


def _lanes_and_endpoints(events: Sequence[TimelineEvent], origin: float, service: str | None,
                         old_pods: Iterable[str], x_max: float
                         ) -> tuple[list[PodLane], list[tuple[float, int, int]]]:
    old = set(old_pods)
    lanes: dict[str, PodLane] = {}
    tracks: dict[str, tuple[_Track, _Track]] = {}
    ips: dict[str, str] = {}
    slices: dict[str, list[dict[str, Any]]] = {}
    endpoint_state: dict[str, str] = {}
    counts: list[tuple[float, int, int]] = []

    def lane(name: str, x: float) -> PodLane:
        if name not in lanes:
            lanes[name] = PodLane(pod=name, first_seen=x, old=name in old)
            tracks[name] = (_Track(), _Track())
        return lanes[name]

    for event in events:
        x = round(event.m - origin, 6)
        if event.kind is TimelineKind.POD:
            name = pod_name(event)
            current = lane(name, x)
            ip = event.data.get("ip")
            if isinstance(ip, str) and ip:
                ips[ip] = name
            if event.type == _DELETED:
                tracks[name][0].set(x, None)
                current.deleted_at = x
            else:
                current.deleted_at = None  # a name reused by a new pod
                tracks[name][0].set(x, _pod_state(event))
        elif event.kind is TimelineKind.ENDPOINTS:
            if not apply_slice_event(slices, event, service):
                continue
            now: dict[str, str] = {}
            ready = total = 0
            for entries in slices.values():
                for entry in entries:
                    total += 1
                    state = _endpoint_state(entry)
                    ready += state == "endpoint ready"
                    named = entry.get("pod")
                    pod = named if isinstance(named, str) and named else ips.get(str(entry.get("ip")))
                    if pod is not None:
                        now[pod] = state
            for pod in set(endpoint_state) | set(now):
                if endpoint_state.get(pod) != now.get(pod):
                    lane(pod, x)
                    tracks[pod][1].set(x, now.get(pod))
            endpoint_state = now
            if not counts or counts[-1][1:] != (ready, total):
                counts.append((x, ready, total))
    result = []
    for name, item in lanes.items():
        states, endpoint = tracks[name]
        item.states = states.segments(x_max)
        item.endpoint = endpoint.segments(x_max)
        result.append(item)
    result.sort(key=lambda lane_: (not lane_.old, lane_.first_seen, lane_.pod))
    return result, counts


def _notes(events: Sequence[TimelineEvent], origin: float) -> list[Note]:
    notes: list[Note] = []
    for event in events:
        x = round(event.m - origin, 6)
        data = event.data
        if event.kind is TimelineKind.OBSERVER:
            what = str(data.get("what") or event.type)
            if what not in _OBSERVER_NOTES:
                continue
            detail = str(data.get("detail") or "")
            label = f"{data.get('resource') or event.name}: {what}" + (f" ({detail})" if detail else "")
            severity = "error" if what in ("gap", "error") else "warning"
            notes.append(Note(x, "observer", label, severity))
        elif event.kind is TimelineKind.EVENT:
            reason = str(data.get("reason") or event.type)
            obj = str(data.get("object") or event.name)
            label = f"{obj}: {reason}" + (f": {data['message']}" if data.get("message") else "")
            notes.append(Note(x, "event", label, "warning" if data.get("type") == "Warning" else "info"))
    return notes


def _mechanisms(verdict: Verdict, origin: float) -> list[MechanismMark]:
    diagnosis = verdict.diagnosis
    if diagnosis is None:
        return []
    # Offsets in the verdict count from its origin_m; the chart's x from ``origin`` (the same instant
    # whenever the verdict has an origin).
    shift = (verdict.origin_m if verdict.origin_m is not None else origin) - origin
    marks = []
    for finding in diagnosis.findings:
        name = finding.mechanism.value
        span = None
        if finding.first_offset_s is not None and finding.last_offset_s is not None:
            span = (round(finding.first_offset_s + shift, 6), round(finding.last_offset_s + shift, 6))
        xs = tuple(round(f.offset_s + shift, 6) for f in verdict.first_failures if f.mechanism == name)
        if span is None and not xs:
            continue
        marks.append(MechanismMark(mechanism=name, count=finding.count, color=MECHANISM_COLORS.get(name, "#333333"),
                                   span=span, xs=xs))
    return marks


def chart_data(verdict: Verdict, timeline: Sequence[TimelineEvent]) -> ChartData:
    events = sorted(timeline, key=lambda e: e.m)
    origin, origin_label = chart_origin(verdict, events)
    bucket_start, rates = _rates(verdict, origin)
    n_buckets = len(rates["ok"])
    windows = [(round(a - origin, 6), round(b - origin, 6)) for a, b in verdict.disruption_windows]

    # The axis spans the traffic and the disruption; the timeline's own extent (a re-listed Event can
    # be hours old) does not widen it.
    facts = verdict.facts
    span: list[float] = [w for pair in windows for w in pair]
    if n_buckets:
        span += [bucket_start, bucket_start + n_buckets * verdict.bucket_s]
    span += [m - origin for m in (facts.traffic_started_m, facts.traffic_stopped_m) if m is not None]
    actions_raw = [e for e in events if e.kind is TimelineKind.ACTION]
    span += [e.m - origin for e in actions_raw]
    if not span:
        span = [e.m - origin for e in events] or [0.0, 1.0]
    lo, hi = min(span), max(span)
    pad = max(0.5, (hi - lo) * 0.02)
    x_min, x_max = round(lo - pad, 6), round(hi + pad, 6)

    lanes, endpoint_counts = _lanes_and_endpoints(events, origin, facts.service, facts.old_pods, x_max)
    # A pod that never overlapped the chart's span says nothing about this run.
    lanes = [lane for lane in lanes if any(s.end >= x_min for s in lane.states + lane.endpoint)
             or (lane.deleted_at is not None and lane.deleted_at >= x_min)]
    dropped = max(0, len(lanes) - MAX_LANES)
    actions = [
        ActionMark(number=i + 1, x=round(e.m - origin, 6), step=action_step(e), phase=action_phase(e),
                   detail=str(e.data.get("detail") or ""), disruption=is_disruption_action(e))
        for i, e in enumerate(actions_raw)
    ]
    notes = [n for n in _notes(events, origin) if x_min <= n.x <= x_max]
    return ChartData(
        origin_m=origin, origin_label=origin_label, x_min=x_min, x_max=x_max, bucket_s=verdict.bucket_s,
        bucket_start=bucket_start, rates=rates, failing=failing_outcomes(verdict), windows=windows,
        lanes=lanes[:MAX_LANES], lanes_dropped=dropped, endpoints=endpoint_counts, actions=actions, notes=notes,
        mechanisms=_mechanisms(verdict, origin),
    )


# --- drawing ------------------------------------------------------------------------------------------

_ID = re.compile(r'\bid="([^"]+)"')


def _scope_ids(svg: str, prefix: str) -> str:
    """Prefix every id and reference to it: several charts inlined in one page share one id space,
    and matplotlib names its groups alike in every figure."""
    ids = set(_ID.findall(svg))
    if not ids:
        return svg
    names = "|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True))
    pattern = re.compile(rf'(\bid="|url\(#|href="#)({names})(["\)])')
    return pattern.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}{m.group(3)}", svg)


def _action_groups(actions: Sequence[ActionMark], width: float) -> list[tuple[float, str]]:
    """Numbers of actions close enough to overlap on the axis share one label."""
    groups: list[tuple[float, list[int]]] = []
    for action in actions:
        if groups and action.x - groups[-1][0] < width * 0.015:
            groups[-1][1].append(action.number)
        else:
            groups.append((action.x, [action.number]))
    labels = []
    for x, numbers in groups:
        text = str(numbers[0]) if len(numbers) == 1 else f"{numbers[0]}-{numbers[-1]}"
        labels.append((x, text))
    return labels


def _style(salt: str) -> AbstractContextManager[None]:
    """Text stays text in the SVG (searchable, and sized by the reader's fonts); ids are salted per chart
    so that charts inlined into one page stay distinct and one chart renders the same every time."""
    import matplotlib

    return matplotlib.rc_context({
        "svg.fonttype": "none", "svg.hashsalt": salt, "font.size": 9, "font.family": "sans-serif",
        "font.sans-serif": ["DejaVu Sans"], "axes.titlesize": 9, "axes.titleweight": "bold",
        "axes.titlelocation": "left",
    })


def _draw(data: ChartData, title: str | None) -> Figure:
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    lanes = data.lanes
    lane_rows = len(lanes) + 1  # one row for observer notes and Kubernetes events
    marks = data.mechanisms
    ratios = [3.0, 1.4, *([max(0.7, 0.3 * len(marks) + 0.3)] if marks else []), max(1.2, 0.34 * lane_rows), 1.0]
    height = 1.3 + sum(ratios) * 0.75
    fig = Figure(figsize=(11, height), layout="constrained")
    axes = list(fig.subplots(len(ratios), 1, sharex=True, gridspec_kw={"height_ratios": ratios}))
    ax_rate, ax_fail = axes[:2]
    ax_pods, ax_ep = axes[-2:]
    edges = data.edges
    width = data.x_max - data.x_min

    for ax in axes:
        for start, end in data.windows:
            ax.axvspan(start, end, color=DISRUPTION_COLOR, alpha=0.12, lw=0, zorder=0)
        for action in data.actions:
            ax.axvline(action.x, color="#6b3d8f" if action.disruption else "#999999", lw=0.8,
                       ls="-" if action.disruption else ":", zorder=1)
        ax.grid(axis="x", color="#eeeeee", lw=0.6)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)

    # Requests per second, stacked by outcome.
    baseline = [0.0] * max(0, len(edges) - 1)
    present = [o for o in OUTCOMES if any(data.rates[o])]
    for outcome in present:
        values = [b + v for b, v in zip(baseline, data.rates[outcome], strict=True)]
        ax_rate.stairs(values, edges, baseline=baseline, fill=True, color=OUTCOME_COLORS[outcome],
                       lw=0, label=OUTCOME_LABELS[outcome])
        baseline = values
    ax_rate.set_title("requests/s by outcome (stacked, by request start)", pad=14)
    ax_rate.set_ylabel("req/s")
    ax_rate.set_ylim(bottom=0)
    for x, label in _action_groups(data.actions, width):
        ax_rate.annotate(label, xy=(x, 1.0), xycoords=("data", "axes fraction"), xytext=(0, 2),
                         textcoords="offset points", ha="center", va="bottom", fontsize=8, color="#6b3d8f",
                         fontweight="bold", annotation_clip=False)

    # Failures alone, on their own scale: a handful among thousands vanishes in the stack above.
    baseline = [0.0] * max(0, len(edges) - 1)
    for outcome in data.failing:
        if not any(data.rates[outcome]):
            continue
        values = [b + v for b, v in zip(baseline, data.rates[outcome], strict=True)]
        ax_fail.stairs(values, edges, baseline=baseline, fill=True, color=OUTCOME_COLORS[outcome], lw=0)
        baseline = values
    ax_fail.set_title("failed requests/s")
    ax_fail.set_ylabel("req/s")
    if data.has_failures:
        ax_fail.set_ylim(bottom=0)
    else:
        ax_fail.set_ylim(0, 1)
        ax_fail.set_yticks([])
        ax_fail.text(0.5, 0.5, "no failed requests", transform=ax_fail.transAxes, ha="center",
                     va="center", color="#2e6b28", fontsize=10)

    # The diagnosis: a lane per mechanism, most requests on top, with the span of its failed requests
    # shaded and each of the first failures it lost ticked.
    if marks:
        ax_mech = axes[2]
        for row, mark in enumerate(marks):
            y = len(marks) - 1 - row
            if mark.span is not None:
                first, last = mark.span
                # A single instant still needs a visible width.
                ax_mech.broken_barh([(first, max(last - first, width * 0.004))], (y - 0.3, 0.6),
                                    color=mark.color, alpha=0.3, lw=0)
            if mark.xs:
                ax_mech.plot(mark.xs, [y] * len(mark.xs), marker="|", ms=9, mew=1.4, ls="none", color=mark.color)
        ax_mech.set_yticks(range(len(marks)), [m.label for m in reversed(marks)], fontsize=8)
        ax_mech.set_ylim(-0.6, len(marks) - 0.4)
        ax_mech.tick_params(axis="y", length=0)
        ax_mech.set_title("failed requests by mechanism (shaded: all of them; ticks: the first failures)")

    # Pods: state bar on top, endpoint state strip beneath, deletion marked.
    notes_row = len(lanes)
    for row, lane in enumerate(lanes):
        y = len(lanes) - 1 - row
        for seg in lane.states:
            ax_pods.broken_barh([(max(seg.start, data.x_min), seg.end - max(seg.start, data.x_min))],
                                (y - 0.05, 0.45), color=POD_STATES[seg.state], lw=0)
        for seg in lane.endpoint:
            ax_pods.broken_barh([(max(seg.start, data.x_min), seg.end - max(seg.start, data.x_min))],
                                (y - 0.32, 0.2), color=ENDPOINT_STATES[seg.state], lw=0)
        if lane.deleted_at is not None and lane.deleted_at >= data.x_min:
            ax_pods.plot([lane.deleted_at], [y + 0.17], marker="x", color="#333333", ms=5, mew=1.2)
    colors = {"error": "#d62728", "warning": "#f28e2b", "info": "#8c8c8c"}
    for note in data.notes:
        marker = "v" if note.kind == "observer" else "|"
        ax_pods.plot([note.x], [notes_row], marker=marker, color=colors[note.severity], ms=6, ls="none")
    labels = [*[("\u2022 " if lane.old else "") + lane.pod for lane in reversed(lanes)], "events / observers"]
    ax_pods.set_yticks(range(len(labels)), labels, fontsize=8)
    ax_pods.set_ylim(-0.6, notes_row + 0.6)
    ax_pods.tick_params(axis="y", length=0)
    pods_title = "pods (\u2022 = before the disruption): state, and endpoint state beneath; \u00d7 = deleted"
    if data.lanes_dropped:
        pods_title += f"; {data.lanes_dropped} more pods not drawn"
    ax_pods.set_title(pods_title)

    # The endpoint set.
    if data.endpoints:
        xs = [x for x, _, _ in data.endpoints] + [data.x_max]
        ready = [r for _, r, _ in data.endpoints]
        total = [t for _, _, t in data.endpoints]
        ax_ep.stairs(total, xs, baseline=None, color="#8c8c8c", lw=1.2, ls="--", label="endpoints")
        ax_ep.stairs(ready, xs, baseline=None, color="#2e6b28", lw=1.6, label="ready endpoints")
        top = max(total + ready)
        ax_ep.set_ylim(-0.3, top + 0.8)
        ax_ep.yaxis.get_major_locator().set_params(integer=True)
    else:
        ax_ep.set_yticks([])
        ax_ep.text(0.5, 0.5, "no EndpointSlice seen", transform=ax_ep.transAxes, ha="center", va="center",
                   color="#8c8c8c")
    ax_ep.set_title("endpoints of the service (ready: solid, all: dashed)")
    ax_ep.set_xlabel(data.origin_label)
    ax_ep.set_xlim(data.x_min, data.x_max)

    handles: list[Any] = [Patch(color=OUTCOME_COLORS[o], label=OUTCOME_LABELS[o])
                          for o in OUTCOMES if o in present or o == "ok"]
    handles.append(Patch(color=DISRUPTION_COLOR, alpha=0.35, label="disruption"))
    handles.append(Line2D([], [], color="#6b3d8f", lw=1, label="disruption step (numbered)"))
    handles += [Patch(color=c, label=f"pod {s}") for s, c in POD_STATES.items()]
    handles += [Patch(color=c, label=s) for s, c in ENDPOINT_STATES.items()]
    handles += [Patch(color=m.color, alpha=0.6, label=f"mechanism: {m.mechanism}") for m in marks]
    # Mechanism names are long: fewer columns keep the legend within the figure.
    fig.legend(handles=handles, loc="outside lower center", ncol=4 if marks else 6, fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10, fontweight="bold", x=0.01, ha="left")

    return fig


def chart_figure(data: ChartData, *, title: str | None = None) -> Figure:
    """The chart as a matplotlib figure (what ``render_chart_svg`` saves)."""
    with _style("chart"):
        return _draw(data, title)


def render_chart_svg(data: ChartData, *, id_prefix: str = "chart", title: str | None = None) -> str:
    """The chart as an SVG document (no XML prolog), with ids scoped by ``id_prefix``."""
    with _style(id_prefix):
        fig = _draw(data, title)
        out = io.StringIO()
        fig.savefig(out, format="svg", metadata={"Date": None})
    svg = out.getvalue()
    start = svg.find("<svg")
    return _scope_ids(svg[start:] if start >= 0 else svg, id_prefix)
