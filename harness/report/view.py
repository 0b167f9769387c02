"""What the HTML and Markdown reports show of a verdict, worked out once: the headline, the key numbers,
the gates, the first failing requests, the disruption steps, the timeline and the chart. Templates only
lay these out, so the two reports never disagree on a number."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from harness.evidence import TimelineEvent, TimelineKind
from harness.log import get_logger
from harness.report.chart import OUTCOME_LABELS, ActionMark, chart_data, failing_outcomes, render_chart_svg
from harness.report.diagnosis_view import DiagnosisView, diagnosis_view, top_mechanism
from harness.verdict import OUTCOMES, Verdict
from harness.verdict.outage import OutageRun

__all__ = [
    "MAX_TIMELINE_ROWS",
    "FailureRow",
    "GateRow",
    "KeyNumber",
    "Overview",
    "ScenarioView",
    "TimelineRow",
    "build_view",
    "build_views",
    "expectation_text",
    "overview",
    "timeline_for",
]

log = get_logger(__name__)

MAX_TIMELINE_ROWS = 600


@dataclass(frozen=True, slots=True)
class KeyNumber:
    label: str
    value: str
    detail: str = ""
    tone: str = ""  # "", "good", "bad" or "warn"


@dataclass(frozen=True, slots=True)
class GateRow:
    name: str
    status: str
    reason: str
    numbers: str


@dataclass(frozen=True, slots=True)
class FailureRow:
    offset: str
    id: str
    conn: str
    user: str
    outcome: str
    what: str
    pod: str
    pod_source: str
    pod_state: str
    endpoints: str
    mechanism: str = ""  # the diagnosis's mechanism for the request, "" when not diagnosed


@dataclass(frozen=True, slots=True)
class TimelineRow:
    offset: str
    kind: str
    type: str
    name: str
    summary: str


@dataclass(slots=True)
class ScenarioView:
    verdict: Verdict
    anchor: str
    outcome: str
    expected: str
    matches: bool
    expectation: str
    numbers: list[KeyNumber]
    gates: list[GateRow]
    failures: list[FailureRow]
    failed_total: int
    actions: list[ActionMark]
    timeline_rows: list[TimelineRow]
    timeline_total: int
    bucket_rows: list[tuple[str, list[int]]]
    facts: list[tuple[str, str]]
    chart_svg: str | None = None
    chart_error: str | None = None
    harness_errors: list[str] = field(default_factory=list)
    diagnosis: DiagnosisView | None = None  # why it failed and what to change; None when not diagnosed

    @property
    def scenario(self) -> str:
        return self.verdict.scenario

    @property
    def top_mechanism(self) -> str:
        """The mechanism that lost the most requests, "-" when the run has no diagnosis."""
        return top_mechanism(self.verdict.diagnosis) or "-"

    @property
    def run_id(self) -> str:
        return self.verdict.run_id

    def value(self, label: str) -> str:
        """The shown value of the key number ``label``, "-" when the scenario has none."""
        return next((n.value for n in self.numbers if n.label == label), "-")


@dataclass(frozen=True, slots=True)
class Overview:
    ok: bool
    total: int
    matched: int
    headline: str

    @property
    def label(self) -> str:
        if self.total == 1:
            return "AS EXPECTED" if self.ok else "NOT AS EXPECTED"
        return "GATE PASSED" if self.ok else "GATE FAILED"


def _num(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:.1f}"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _ms(value: float | None, exact: bool = True) -> str:
    if value is None:
        return "-"
    return ("" if exact else "\u2248") + f"{value:.1f} ms"


def _pct(part: int, whole: int) -> str:
    if whole == 0:
        return "-"
    share = 100.0 * part / whole
    return f"{share:.3g} %" if part else "0 %"


def _anchor(scenario: str, index: int, taken: set[str]) -> str:
    base = "s-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", scenario).strip("-").lower() or str(index))
    anchor, n = base, 2
    while anchor in taken:
        anchor, n = f"{base}-{n}", n + 1
    taken.add(anchor)
    return anchor


def expectation_text(verdict: Verdict) -> str:
    outcome = verdict.outcome.value
    if verdict.expected == "fail":
        if verdict.matches_expectation:
            return "negative control: failed as expected"
        return (f"negative control: expected FAIL, got {outcome}; the harness did not see the failure "
                "it exists to catch")
    if verdict.matches_expectation:
        return "expected PASS: met"
    return f"expected PASS, got {outcome}"


def timeline_for(verdict: Verdict, timelines: Mapping[str, Sequence[TimelineEvent]] | None
                 ) -> Sequence[TimelineEvent]:
    """A verdict's timeline, keyed by run id or, failing that, by scenario name."""
    if not timelines:
        return ()
    if verdict.run_id in timelines:
        return timelines[verdict.run_id]
    return timelines.get(verdict.scenario, ())


def _traffic_rate(verdict: Verdict) -> tuple[float | None, float | None]:
    facts, counts = verdict.facts, verdict.counts
    if facts.traffic_started_m is not None and facts.traffic_stopped_m is not None:
        duration = facts.traffic_stopped_m - facts.traffic_started_m
    elif counts.first_m is not None and counts.last_m is not None:
        duration = counts.last_m - counts.first_m
    else:
        return None, None
    if duration <= 0:
        return None, duration
    return counts.total / duration, duration


def outage_detail(verdict: Verdict, run: OutageRun) -> str:
    """When a run of consecutive failed requests was due and how long it lasted, in words."""
    origin = verdict.origin_m if verdict.origin_m is not None else run.first_m
    text = (f"in a row, due over {run.span_s:.2f} s "
            f"({run.first_m - origin:+.2f}..{run.last_m - origin:+.2f} s)")
    bound = run.bound_s
    if bound is not None:
        text += f"; {bound:.2f} s between the answers around it"
    return text


def _numbers(verdict: Verdict) -> list[KeyNumber]:
    outcomes = verdict.counts.outcomes
    total = outcomes.total
    failed = outcomes.failed(allow_4xx=verdict.config.allow_4xx)
    kinds = [(o, getattr(outcomes, o)) for o in failing_outcomes(verdict)]
    breakdown = ", ".join(f"{n} {OUTCOME_LABELS[o]}" for o, n in kinds if n)
    if verdict.config.allow_4xx and outcomes.http_4xx:
        breakdown += ("; " if breakdown else "") + f"{outcomes.http_4xx} 4xx allowed"
    rate, duration = _traffic_rate(verdict)
    numbers = [
        KeyNumber("requests", str(total),
                  f"{rate:.1f} req/s over {duration:.1f} s" if rate is not None and duration else "",
                  "warn" if total == 0 else ""),
        KeyNumber("failed", str(failed), breakdown or "none", "bad" if failed else "good"),
        KeyNumber("failure rate", _pct(failed, total), f"{failed} of {total}", "bad" if failed else "good"),
    ]
    for mode, run in verdict.counts.outages.items():
        numbers.append(KeyNumber(f"longest outage ({mode})", f"{run.failed} requests", outage_detail(verdict, run),
                                 "bad"))
    rollout = verdict.facts.rollout
    if rollout is None:
        numbers.append(KeyNumber("rollout", "-", "no rollout to wait for"))
    else:
        deadline = "" if rollout.deadline_s is None else f"deadline {_num(rollout.deadline_s)} s"
        if rollout.completed:
            numbers.append(KeyNumber("rollout", _seconds(rollout.duration_s), f"completed; {deadline}"
                                     .strip("; ")))
        else:
            numbers.append(KeyNumber("rollout", _seconds(rollout.duration_s),
                                     f"NOT completed: {rollout.error or 'no reason recorded'}; {deadline}".strip("; "),
                                     "bad"))
    windows = verdict.disruption_windows
    disrupted = sum(b - a for a, b in windows)
    numbers.append(KeyNumber("disruption", _seconds(disrupted) if windows else "-",
                             f"{len(windows)} window{'s' if len(windows) != 1 else ''}" if windows
                             else "no disruption window", "" if windows else "warn"))
    during = verdict.latency_during_disruption
    bound = verdict.config.latency_p99_ms_during_disruption
    numbers.append(KeyNumber("p99 during disruption", _ms(during.p99_ms, during.exact),
                             f"{during.count} responses" + (f"; bound {_num(bound)} ms" if bound else ""),
                             "bad" if bound and during.p99_ms is not None and during.p99_ms > bound else ""))
    overall = verdict.latency
    numbers.append(KeyNumber("p99 overall", _ms(overall.p99_ms, overall.exact),
                             f"p50 {_ms(overall.p50_ms, overall.exact)}, max {_ms(overall.max_ms)}"))
    counts = verdict.counts
    versions = ", ".join(f"{v}: {n}" for v, n in sorted(counts.by_version.items()))
    numbers.append(KeyNumber("pods answered", str(len(counts.by_pod)), f"versions {versions}" if versions else ""))
    if counts.malformed_lines:
        numbers.append(KeyNumber("unreadable lines", str(counts.malformed_lines), "in requests.jsonl", "bad"))
    return numbers


def _gate_numbers(numbers: Mapping[str, Any]) -> str:
    parts = []
    for key, value in numbers.items():
        if isinstance(value, bool):
            shown = str(value).lower()
        elif value is None:
            shown = "-"
        else:
            shown = _num(value) if isinstance(value, float) else str(value)
        parts.append(f"{key}={shown}")
    return ", ".join(parts)


def _failure_rows(verdict: Verdict) -> list[FailureRow]:
    rows = []
    for failure in verdict.first_failures:
        what = failure.error or f"HTTP {failure.status}"
        if failure.detail:
            what = f"{what}: {failure.detail}"
        state = failure.pod_state
        if failure.pod_source == "unknown":
            # No answer and no earlier answer on the connection: there is no pod to look up, only the
            # endpoint set the request met.
            pod_part, endpoint_part = "-", f"{state.endpoints_ready}/{state.endpoints_total} endpoints ready"
        else:
            pod_part, _, endpoint_part = state.describe().partition("; ")
        via = {"pod": "answered", "conn_pod": "connection's last answer", "unknown": "not known"}
        rows.append(FailureRow(
            offset=f"+{failure.offset_s:.3f} s", id=failure.id, conn=failure.conn, user=failure.user,
            outcome=OUTCOME_LABELS.get(failure.outcome, failure.outcome), what=what, pod=failure.pod,
            pod_source=via[failure.pod_source], pod_state=pod_part, endpoints=endpoint_part,
            mechanism=failure.mechanism or "",
        ))
    return rows


def _summary(event: TimelineEvent) -> str:
    data = event.data
    if event.kind is TimelineKind.POD:
        bits = [str(data.get("phase") or "?"), "ready" if data.get("ready") else "not ready"]
        if data.get("terminating"):
            bits.append("terminating")
        for key in ("node", "version", "ip"):
            if data.get(key):
                bits.append(f"{key} {data[key]}")
        return ", ".join(bits)
    if event.kind is TimelineKind.ENDPOINTS:
        entries = [e for e in (data.get("endpoints") or []) if isinstance(e, dict)]
        parts = []
        for entry in entries:
            flags = [k for k in ("ready", "serving", "terminating") if entry.get(k) is True]
            parts.append(f"{entry.get('pod') or entry.get('ip')} ({', '.join(flags) or 'no flags'})")
        ready = sum(1 for e in entries if e.get("ready") is not False)
        return f"{ready}/{len(entries)} ready: " + "; ".join(parts) if entries else "no endpoints"
    if event.kind is TimelineKind.EVENT:
        head = f"{data.get('type') or ''} {data.get('reason') or ''}".strip()
        return f"{head} {data.get('object') or ''}: {data.get('message') or ''}".strip(": ")
    if event.kind is TimelineKind.ACTION:
        return f"{data.get('step') or event.name} {data.get('phase') or event.type}: {data.get('detail') or ''}".strip(
            ": ")
    return f"{data.get('resource') or event.name} {data.get('what') or event.type}: {data.get('detail') or ''}".strip(
        ": ")


def _timeline_rows(timeline: Sequence[TimelineEvent], origin: float) -> list[TimelineRow]:
    rows = []
    for event in sorted(timeline, key=lambda e: e.m)[:MAX_TIMELINE_ROWS]:
        rows.append(TimelineRow(offset=f"{event.m - origin:+.3f} s", kind=event.kind.value, type=event.type,
                                name=event.name, summary=_summary(event)))
    return rows


def _facts(verdict: Verdict) -> list[tuple[str, str]]:
    facts = verdict.facts
    started = datetime.fromtimestamp(facts.started_at, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    rows = [("run id", verdict.run_id), ("started", started)]
    if facts.ended_at is not None:
        rows.append(("took", f"{facts.ended_at - facts.started_at:.1f} s"))
    rows.append(("service", facts.service or "-"))
    rows.append(("pods before the disruption", ", ".join(facts.old_pods) or "-"))
    config = verdict.config
    settings = [f"min_requests={config.min_requests}", f"allow_4xx={str(config.allow_4xx).lower()}",
                f"disruption_replaces={config.disruption_replaces}"]
    for name in ("min_rate_rps", "latency_p99_ms_during_disruption", "max_failed_requests", "max_failed_ratio"):
        value = getattr(config, name)
        if value is not None:
            settings.append(f"{name}={_num(value)}")
    rows.append(("gate settings", ", ".join(settings)))
    rows.append(("bucket", f"{_num(verdict.bucket_s)} s"))
    return rows


def build_view(verdict: Verdict, timeline: Sequence[TimelineEvent] = (), *, anchor: str = "s-scenario",
               chart: bool = True) -> ScenarioView:
    data = chart_data(verdict, timeline)
    svg: str | None = None
    error: str | None = None
    if chart:
        try:
            svg = render_chart_svg(data, id_prefix=anchor)
        except Exception as exc:  # the numbers and gates still matter when the chart cannot be drawn
            log.exception("the timeline chart of %s could not be drawn", verdict.scenario)
            error = f"{type(exc).__name__}: {exc}"
    buckets = [(f"{b.offset_s:+.1f}", [getattr(b.counts, o) for o in OUTCOMES]) for b in verdict.buckets]
    return ScenarioView(
        verdict=verdict,
        anchor=anchor,
        outcome=verdict.outcome.value,
        expected=verdict.expected.upper(),
        matches=verdict.matches_expectation,
        expectation=expectation_text(verdict),
        numbers=_numbers(verdict),
        gates=[GateRow(g.name, g.status.value, g.reason, _gate_numbers(g.numbers)) for g in verdict.gates],
        failures=_failure_rows(verdict),
        failed_total=verdict.counts.outcomes.failed(allow_4xx=verdict.config.allow_4xx),
        actions=data.actions,
        timeline_rows=_timeline_rows(timeline, data.origin_m),
        timeline_total=len(timeline),
        bucket_rows=buckets,
        facts=_facts(verdict),
        chart_svg=svg,
        chart_error=error,
        harness_errors=list(verdict.harness_errors),
        diagnosis=None if verdict.diagnosis is None else diagnosis_view(verdict.diagnosis),
    )


def build_views(verdicts: Sequence[Verdict], timelines: Mapping[str, Sequence[TimelineEvent]] | None = None,
                *, chart: bool = True) -> list[ScenarioView]:
    taken: set[str] = set()
    return [build_view(v, timeline_for(v, timelines), anchor=_anchor(v.scenario, i, taken), chart=chart)
            for i, v in enumerate(verdicts)]


def overview(verdicts: Sequence[Verdict]) -> Overview:
    total = len(verdicts)
    matched = sum(1 for v in verdicts if v.matches_expectation)
    if total == 0:
        return Overview(False, 0, 0, "no scenario was judged, so nothing is proven")
    if matched == total:
        what = "its expectation" if total == 1 else "their expectations"
        return Overview(True, total, matched, f"{'the scenario' if total == 1 else f'all {total} scenarios'} "
                        f"met {what}")
    names = ", ".join(v.scenario for v in verdicts if not v.matches_expectation)
    return Overview(False, total, matched, f"{total - matched} of {total} scenarios did not meet their "
                    f"expectation: {names}")

