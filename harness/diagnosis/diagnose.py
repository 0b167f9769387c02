"""From a run's evidence to its diagnosis: every failed request to one mechanism (or unexplained),
each mechanism to what to change, with the run's own numbers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from harness.diagnosis.context import Context, Failure, Match
from harness.diagnosis.lifecycle import EndpointHistory, LogLine, PodLife, build_lives
from harness.diagnosis.mechanisms import RULES, Rule
from harness.diagnosis.model import Diagnosis, Finding, Mechanism, PodTimeline
from harness.evidence import RequestRecord, TimelineEvent

if TYPE_CHECKING:
    from harness.verdict.model import RunFacts

__all__ = ["diagnose"]

_EXAMPLES = 5
_EVIDENCE_PER_FINDING = 6


def _unexplained(failure: Failure, ctx: Context) -> Match:
    """What was seen, for a request no rule could decide."""
    rec = failure.record
    sent = failure.sent_m
    conn = {True: "a reused kept-alive connection", False: "a new connection", None: "a connection"}[failure.reused]
    stage = f", broke at stage {rec.stage}" if rec.stage else ""
    going = [life.name for life in ctx.going_candidates(sent)]
    starting = [life.name for life in ctx.starting_candidates(sent)]
    ready = ctx.endpoints.ready_count(sent)
    seen = [f"{failure.what} at {ctx.at(sent)} on {conn}{stage}"]
    named = rec.pod or rec.conn_pod
    if named is not None:
        life = ctx.life(named, sent)
        seen.append(f"pod {named}: " + ("not in the timeline" if life is None else
                                        "terminating" if life.terminating_at(sent) else "not terminating"))
    seen.append(f"going away then: {', '.join(going) or 'none'}")
    seen.append(f"new and not yet serving: {', '.join(starting) or 'none'}")
    seen.append(f"ready endpoints: {'unknown' if ready is None else ready}")
    if going and starting:
        seen.append("the evidence points two ways")
    pods = tuple(sorted({*(p for p in (named,) if p), *going, *starting}))
    return Match(Mechanism.UNEXPLAINED, pods, ("; ".join(seen),))


def _decide(failure: Failure, ctx: Context) -> tuple[Rule | None, Match]:
    for rule in RULES:
        match = rule.decide(failure, ctx)
        if match is not None:
            return rule, match
    return None, _unexplained(failure, ctx)


def _retry_hidden(failure: Failure) -> bool:
    return failure.reused is True and failure.no_answer_byte and failure.record.error is not None \
        and failure.record.error.value in ("reset", "other")


def _finding(mechanism: Mechanism, title: str, matched: list[tuple[Failure, Match]], rule: Rule | None,
             ctx: Context) -> Finding:
    pods = sorted({pod for _, match in matched for pod in match.pods})
    by_conn = Counter(f.record.conn.value for f, _ in matched)
    by_error = Counter(f.what for f, _ in matched)
    sent = [f.sent_m for f, _ in matched]
    evidence = [text for _, match in matched[:_EVIDENCE_PER_FINDING] for text in match.evidence]
    finding = Finding(
        mechanism=mechanism, title=title, count=len(matched),
        retry_hidden=sum(1 for f, _ in matched if _retry_hidden(f)),
        pods=pods, by_conn=dict(sorted(by_conn.items())), by_error=dict(sorted(by_error.items())),
        first_offset_s=round(min(sent) - ctx.origin_m, 3), last_offset_s=round(max(sent) - ctx.origin_m, 3),
        evidence=evidence, examples=[f.record.id for f, _ in matched[:_EXAMPLES]],
    )
    if rule is not None:
        advice = rule.advise(matched, ctx)
        finding.evidence = [*advice.evidence, *finding.evidence]
        finding.measurements = advice.measurements
        finding.recommendations = advice.recommendations
    return finding


def _rel(m: float | None, origin: float) -> float | None:
    return None if m is None else round(m - origin, 3)


def _timeline_of(life: PodLife, ctx: Context, failures: int) -> PodTimeline:
    o = ctx.origin_m
    return PodTimeline(
        pod=life.name, node=life.node, new=ctx.is_new(life),
        ready_s=_rel(life.endpoint_ready_m if life.endpoint_ready_m is not None else life.ready_m, o),
        deleted_s=_rel(life.deleted_m, o), grace_s=life.grace_s,
        pre_stop_s=life.pre_stop_sleep_s if life.pre_stop is None or "sleep_s" in life.pre_stop else None,
        killing_s=_rel(life.killing_m, o), sigterm_s=_rel(life.sigterm_m, o), sigterm_source=life.sigterm_source,
        endpoint_not_ready_s=_rel(life.endpoint_not_ready_m, o), endpoint_removed_s=_rel(life.endpoint_removed_m, o),
        exit_code=life.exit_code, exit_reason=life.exit_reason, exited_s=_rel(life.ended_by(), o),
        last_answer_s=_rel(life.last_answer_m, o), failures=failures,
    )


def _attribution(failures: Sequence[Failure], decided: Sequence[Match]) -> str:
    answered = sum(1 for f in failures if f.record.pod)
    by_conn = sum(1 for f in failures if not f.record.pod and f.record.conn_pod)
    timed = len(failures) - answered - by_conn
    single = sum(1 for f, m in zip(failures, decided, strict=True)
                 if not f.record.pod and not f.record.conn_pod and len(m.pods) == 1)
    return (f"{answered} by the pod named in the answer (X-Pod), {by_conn} by the pod that answered the previous "
            f"request on the same kept-alive connection, {timed} by timing against the pods' deletion, SIGTERM, "
            f"endpoint and exit times ({single} of them to exactly one pod)")


def diagnose(failed: Sequence[RequestRecord], timeline: Sequence[TimelineEvent], facts: RunFacts, *,
             origin_m: float, total_failed: int | None = None,
             pod_logs: Mapping[str, Sequence[LogLine]] | None = None,
             pod_answers: Mapping[str, Sequence[float]] | None = None, longest_s: float = 0.0,
             notes: Sequence[str] = ()) -> tuple[Diagnosis, dict[str, Mechanism]]:
    """The diagnosis of ``failed`` (every failed record, or the first of them up to a cap; then
    ``total_failed`` counts all), and each request id's mechanism. ``timeline`` is in clock order."""
    endpoints = EndpointHistory(timeline, facts.service)
    lives = build_lives(timeline, facts, pod_logs=pod_logs, pod_answers=pod_answers, endpoints=endpoints)
    ctx = Context(lives=lives, endpoints=endpoints, origin_m=origin_m, old_pods=frozenset(facts.old_pods),
                  longest_s=longest_s)
    failures = [Failure(rec) for rec in sorted(failed, key=lambda r: r.m_start)]
    groups: dict[Mechanism, list[tuple[Failure, Match]]] = {}
    rules: dict[Mechanism, Rule | None] = {}
    decided: list[Match] = []
    for failure in failures:
        rule, match = _decide(failure, ctx)
        groups.setdefault(match.mechanism, []).append((failure, match))
        rules.setdefault(match.mechanism, rule)
        decided.append(match)
    titles = {rule.mechanism: rule.title for rule in RULES}
    titles[Mechanism.UNEXPLAINED] = "the evidence does not decide (what was seen is listed)"
    findings = [_finding(mech, titles[mech], matched, rules[mech], ctx) for mech, matched in groups.items()]
    findings.sort(key=lambda f: (f.mechanism is Mechanism.UNEXPLAINED, -f.count, f.mechanism.value))
    per_pod = Counter(pod for match in decided for pod in match.pods)
    shown = [life for life in lives.values()
             if life.deleted_m is not None or ctx.is_new(life) or per_pod.get(life.name)]
    extra_notes = list(notes)
    reused = sorted(name for name, held in ctx.held.items() if len(held) > 1)
    if reused:
        extra_notes.append(
            f"{len(reused)} pod name(s) were held by more than one pod in turn (a StatefulSet's), told apart by "
            f"UID: the later ones are NAME#2 and on ({', '.join(reused[:5])}); a request naming one is put down to "
            "the pod that held the name when it was sent, and answers counted by name are not read for them")
    if not endpoints.known:
        extra_notes.append("no EndpointSlice event in the timeline: endpoint states are unknown")
    if not pod_logs:
        extra_notes.append("no pod logs recorded: SIGTERM times come from the kubelet's events and preStop")
    unexplained = len(groups.get(Mechanism.UNEXPLAINED, []))
    diagnosis = Diagnosis(
        failed=max(len(failures), total_failed or 0), diagnosed=len(failures), explained=len(failures) - unexplained,
        retry_hidden=sum(f.retry_hidden for f in findings), findings=findings,
        pods=[_timeline_of(life, ctx, per_pod.get(life.name, 0)) for life in shown],
        attribution=_attribution(failures, decided), notes=extra_notes,
    )
    return diagnosis, {f.record.id: m.mechanism for f, m in zip(failures, decided, strict=True)}
