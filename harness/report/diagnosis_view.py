"""What every report shows of a verdict's diagnosis ("why it failed and what to change"), worked out
once: the summary line, each finding with its recommendations, evidence and measurements, and the pods'
way out. The HTML and Markdown templates lay out ``DiagnosisView``; the terminal, JUnit and the release
gate use the plain-text forms here, so no two reports word a finding differently."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from harness.diagnosis import Diagnosis, Finding, Mechanism, PodTimeline

__all__ = [
    "SECTION_TITLE",
    "UNEXPLAINED_LABEL",
    "DiagnosisView",
    "FindingView",
    "PodRow",
    "RecommendationRow",
    "counts_text",
    "diagnosis_text",
    "diagnosis_view",
    "headline_with_fix",
    "summary_line",
    "top_mechanism",
]

SECTION_TITLE = "Why it failed and what to change"
UNEXPLAINED_LABEL = "unexplained: the evidence does not decide"
# Characters of the top recommendation quoted after a headline (JUnit message, release rows).
_FIX_CHARS = 90


@dataclass(frozen=True, slots=True)
class RecommendationRow:
    setting: str
    text: str
    overrides: str  # "target.pre_stop_seconds=3, ...", "" when no scenario override makes the change


@dataclass(frozen=True, slots=True)
class FindingView:
    number: int
    mechanism: str
    title: str
    count: int
    unexplained: bool
    pods: str
    counts: str  # by error and by connection, in words
    span: str  # "+6.08 .. +6.66 s", "" when unknown
    retry_hidden: int
    recommendations: list[RecommendationRow]
    evidence: list[str]
    measurements: list[tuple[str, str]]
    examples: str


@dataclass(frozen=True, slots=True)
class PodRow:
    pod: str
    node: str
    new: bool
    deleted: str
    sigterm: str
    endpoint_not_ready: str
    endpoint_removed: str
    exit: str
    exited: str
    last_answer: str
    failures: int


@dataclass(frozen=True, slots=True)
class DiagnosisView:
    summary: str
    findings: list[FindingView]
    pods: list[PodRow]
    attribution: str
    notes: list[str]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def summary_line(diagnosis: Diagnosis) -> str:
    """How many failed requests the diagnosis explains and how many a retrying client would still see."""
    unexplained = diagnosis.diagnosed - diagnosis.explained
    line = (f"{_plural(diagnosis.failed, 'failed request')}: {diagnosis.explained} explained, "
            f"{unexplained} unexplained")
    skipped = diagnosis.failed - diagnosis.diagnosed
    if skipped > 0:
        line += f", {skipped} not diagnosed"
    return (f"{line}; a retrying client would still have seen {diagnosis.retry_visible} of them "
            f"({diagnosis.retry_hidden} resent on a reused kept-alive connection)")


def _tally(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{key} {n}" for key, n in counts.items())


def counts_text(finding: Finding) -> str:
    """``by error: reset 5, timeout 11; by connection: new 16``; "" when neither is known."""
    parts = []
    if finding.by_error:
        parts.append(f"by error: {_tally(finding.by_error)}")
    if finding.by_conn:
        parts.append(f"by connection: {_tally(finding.by_conn)}")
    return "; ".join(parts)


def _offset(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f} s"


def _span(finding: Finding) -> str:
    first, last = finding.first_offset_s, finding.last_offset_s
    if first is None or last is None:
        return ""
    if first == last:
        return f"{first:+.2f} s"
    return f"{first:+.2f} .. {last:+.2f} s"


def _value(value: float | int | str | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _finding_view(number: int, finding: Finding) -> FindingView:
    return FindingView(
        number=number,
        mechanism=finding.mechanism.value,
        title=finding.title,
        count=finding.count,
        unexplained=finding.mechanism is Mechanism.UNEXPLAINED,
        pods=", ".join(finding.pods) or "-",
        counts=counts_text(finding),
        span=_span(finding),
        retry_hidden=finding.retry_hidden,
        recommendations=[
            RecommendationRow(r.setting, r.text, ", ".join(f"{k}={v}" for k, v in r.overrides.items()))
            for r in finding.recommendations
        ],
        evidence=list(finding.evidence),
        measurements=[(key, _value(value)) for key, value in finding.measurements.items()],
        examples=", ".join(finding.examples),
    )


def _pod_row(pod: PodTimeline) -> PodRow:
    sigterm = _offset(pod.sigterm_s)
    if pod.sigterm_s is not None and pod.sigterm_source:
        sigterm += f" ({pod.sigterm_source})"
    exit_bits = [str(pod.exit_code) if pod.exit_code is not None else "", pod.exit_reason or ""]
    return PodRow(
        pod=pod.pod, node=pod.node or "-", new=pod.new, deleted=_offset(pod.deleted_s), sigterm=sigterm,
        endpoint_not_ready=_offset(pod.endpoint_not_ready_s), endpoint_removed=_offset(pod.endpoint_removed_s),
        exit=" ".join(b for b in exit_bits if b) or "-", exited=_offset(pod.exited_s),
        last_answer=_offset(pod.last_answer_s), failures=pod.failures,
    )


def diagnosis_view(diagnosis: Diagnosis) -> DiagnosisView:
    return DiagnosisView(
        summary=summary_line(diagnosis),
        findings=[_finding_view(i + 1, f) for i, f in enumerate(diagnosis.findings)],
        pods=[_pod_row(p) for p in diagnosis.pods],
        attribution=diagnosis.attribution,
        notes=list(diagnosis.notes),
    )


def top_mechanism(diagnosis: Diagnosis | None) -> str | None:
    """The mechanism that lost the most requests (findings come most requests first)."""
    if diagnosis is None or not diagnosis.findings:
        return None
    return diagnosis.findings[0].mechanism.value


def _top_fix(diagnosis: Diagnosis) -> str | None:
    """The first recommendation of the top finding that has one, cut to its first clause."""
    for finding in diagnosis.findings:
        if finding.recommendations:
            rec = finding.recommendations[0]
            clause = " ".join(rec.text.split())
            cut = min((i for i in (clause.find(" ("), clause.find("; "), clause.find(": ")) if i > 0),
                      default=len(clause))
            shown = clause[:cut]
            if rec.setting.lower() not in shown.lower():
                shown = f"{rec.setting}: {shown}"
            if len(shown) > _FIX_CHARS:
                shown, cut = shown[:_FIX_CHARS].rstrip(), -1
            return shown + (" \u2026" if cut < len(clause) else "")
    return None


def headline_with_fix(diagnosis: Diagnosis) -> str:
    """``shutdown-before-endpoint-removal x40 (set preStop >= 3 s …)``: the headline, then the top fix."""
    head = diagnosis.headline() or "no failed request diagnosed"
    fix = _top_fix(diagnosis)
    return f"{head} ({fix})" if fix else head


def diagnosis_text(diagnosis: Diagnosis, *, evidence: int | None = None) -> str:
    """The whole section as plain text (a JUnit failure body); ``evidence`` caps sentences per finding."""
    lines = [f"{SECTION_TITLE}:", summary_line(diagnosis)]
    for view in diagnosis_view(diagnosis).findings:
        if view.unexplained:
            lines.append(f"{view.number}. unexplained x{view.count} ({UNEXPLAINED_LABEL}, not a finding of "
                         f"cause): {view.title}")
        else:
            lines.append(f"{view.number}. {view.mechanism} x{view.count}: {view.title}")
        where = [f"pods: {view.pods}"] + ([view.counts] if view.counts else [])
        if view.span:
            where.append(f"sent {view.span}")
        lines.append("   " + "; ".join(where))
        for rec in view.recommendations:
            extra = f" [overrides: {rec.overrides}]" if rec.overrides else ""
            lines.append(f"   change {rec.setting}: {rec.text}{extra}")
        shown = view.evidence if evidence is None else view.evidence[:evidence]
        lines.extend(f"   - {sentence}" for sentence in shown)
        if view.measurements:
            lines.append("   measured: " + ", ".join(f"{k}={v}" for k, v in view.measurements))
    if diagnosis.attribution:
        lines.append(f"attribution: {diagnosis.attribution}")
    lines.extend(f"note: {note}" for note in diagnosis.notes)
    return "\n".join(lines)
