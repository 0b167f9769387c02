"""From evidence to a verdict, and from a saved run directory to a verdict."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from harness.diagnosis.model import Diagnosis, Mechanism
from harness.evidence import (
    REQUESTS_FILE,
    TIMELINE_FILE,
    ReadStats,
    RequestRecord,
    TimelineEvent,
    TimelineKind,
    read_timeline,
)
from harness.log import get_logger
from harness.verdict.gates import DEFAULT_GATES, Evidence, Gate
from harness.verdict.model import (
    FailedRequest,
    GateConfig,
    GateResult,
    GateStatus,
    RunFacts,
    Verdict,
    read_run_record,
)
from harness.verdict.summary import RequestSummary, classify, summarize_requests, summarize_requests_file
from harness.verdict.timeline import disruption_windows, state_at

__all__ = ["annotate_failure", "decide", "judge", "judge_run_dir", "load_evidence", "windows_for"]

log = get_logger(__name__)


def decide(gates: Sequence[GateResult], harness_errors: Sequence[str] = ()) -> GateStatus:
    """ERROR beats FAIL beats INCONCLUSIVE beats PASS; skipped gates do not count."""
    statuses = {g.status for g in gates}
    if GateStatus.ERROR in statuses or harness_errors:
        return GateStatus.ERROR
    if GateStatus.FAIL in statuses:
        return GateStatus.FAIL
    if GateStatus.INCONCLUSIVE in statuses:
        return GateStatus.INCONCLUSIVE
    return GateStatus.PASS


def annotate_failure(evidence: Evidence, record: RequestRecord) -> FailedRequest:
    """A failing request with the pod it most likely hit and that pod's state when it was sent."""
    source: Literal["pod", "conn_pod", "unknown"]
    if record.pod:
        pod, source = record.pod, "pod"
    elif record.conn_pod:
        pod, source = record.conn_pod, "conn_pod"
    else:
        pod, source = "unknown", "unknown"
    origin = evidence.origin_m
    return FailedRequest(
        id=record.id,
        user=record.user,
        conn=record.conn.value,
        m_start=record.m_start,
        offset_s=round(record.m_start - origin, 6) if origin is not None else 0.0,
        t_start=record.t_start,
        m_end=record.m_end,
        outcome=classify(record.status if record.status_text is None else record.status_text,
                         None if record.error is None else record.error.value, record.m_end, record.expect),
        status=record.status,
        error=None if record.error is None else record.error.value,
        detail=record.detail if record.status_text is None
        else "; ".join(filter(None, [f"status {record.status_text}, not an integer", record.detail])),
        req=record.req,
        pod=pod,
        pod_source=source,
        pod_state=state_at(evidence.timeline, pod, record.m_start, service=evidence.facts.service),
        going_pods=going_pods_at(evidence.timeline, record.m_start) if source == "unknown" else [],
    )


GOING_WINDOW_S = 5.0


def going_pods_at(timeline: Sequence[TimelineEvent], m: float, window_s: float = GOING_WINDOW_S) -> list[str]:
    """Pods terminating at instant ``m``, or deleted within ``window_s`` before it."""
    terminating: dict[str, bool] = {}
    deleted_at: dict[str, float] = {}
    for event in timeline:
        if event.m > m:
            break
        if event.kind is not TimelineKind.POD:
            continue
        if event.type == "DELETED":
            deleted_at[event.name] = event.m
            terminating.pop(event.name, None)
        else:
            terminating[event.name] = bool(event.data.get("terminating"))
            deleted_at.pop(event.name, None)
    going = {name for name, flag in terminating.items() if flag}
    going |= {name for name, when in deleted_at.items() if m - when <= window_s}
    return sorted(going)


def _run_gate(gate: Gate, evidence: Evidence, config: GateConfig) -> GateResult:
    try:
        return gate(evidence, config)
    except Exception as exc:  # a broken gate must surface as ERROR, never as a pass
        name = getattr(gate, "__name__", repr(gate))
        log.exception("gate %s raised", name)
        return GateResult(name=name, status=GateStatus.ERROR,
                          reason=f"the gate could not be evaluated: {type(exc).__name__}: {exc}")


def judge(evidence: Evidence, config: GateConfig | None = None, *,
          gates: Sequence[Gate] = DEFAULT_GATES) -> Verdict:
    config = config if config is not None else GateConfig()
    results = [_run_gate(gate, evidence, config) for gate in gates]
    harness_errors = evidence.harness_errors
    outcome = decide(results, harness_errors)
    expected = evidence.facts.expect
    summary = evidence.summary

    failing = list(summary.first_failures)
    if not config.allow_4xx:
        failing.extend(summary.first_client_errors)
    failing.sort(key=lambda r: r.m_start)
    origin = evidence.origin_m
    diagnosis, mechanisms = _diagnosis(evidence, config)
    first_failures = [annotate_failure(evidence, rec) for rec in failing[:summary.keep]]
    for failure in first_failures:
        mechanism = mechanisms.get(failure.id)
        failure.mechanism = mechanism.value if mechanism is not None else None
    return Verdict(
        scenario=evidence.facts.scenario,
        run_id=evidence.facts.run_id,
        outcome=outcome,
        expected=expected,
        matches_expectation=outcome is (GateStatus.PASS if expected == "pass" else GateStatus.FAIL),
        gates=results,
        counts=summary.counts,
        latency=summary.latency.stats(),
        latency_during_disruption=summary.latency_during_disruption.stats(),
        disruption_windows=list(summary.disruption_windows),
        first_failures=first_failures,
        harness_errors=harness_errors,
        origin_m=origin,
        bucket_s=summary.bucket_s,
        buckets=summary.bucket_list(origin),
        facts=evidence.facts,
        config=config,
        diagnosis=diagnosis,
    )


def _is_client_error(record: RequestRecord) -> bool:
    return record.error is None and record.status is not None and 400 <= record.status < 500


def _diagnosis(evidence: Evidence, config: GateConfig) -> tuple[Diagnosis | None, dict[str, Mechanism]]:
    """The diagnosis of every failed request (4xx only when the scenario does not allow them); None
    when nothing failed. A defect in it is reported in it, never allowed to cost the verdict."""
    summary = evidence.summary
    failed = [rec for rec in summary.failed_records if not (config.allow_4xx and _is_client_error(rec))]
    if not failed:
        return None, {}
    from harness.diagnosis.diagnose import diagnose

    origin = evidence.origin_m if evidence.origin_m is not None else failed[0].m_start
    over = summary.failures_over_cap
    notes = [f"{over} failed request(s) beyond the first {len(failed)} were not diagnosed"] if over else []
    try:
        return diagnose(failed, evidence.timeline, evidence.facts, origin_m=origin, total_failed=len(failed) + over,
                        pod_logs=evidence.pod_logs, pod_answers=summary.pod_answers,
                        longest_s=(summary.latency.max_ms or 0.0) / 1000.0, notes=notes)
    except Exception as exc:  # the verdict stands on the gates; a broken diagnosis says so
        log.exception("the diagnosis failed")
        return Diagnosis(failed=len(failed) + over, diagnosed=0, explained=0, retry_hidden=0,
                         notes=[f"the diagnosis could not be made: {type(exc).__name__}: {exc}"]), {}


def windows_for(facts: RunFacts, timeline: Sequence[TimelineEvent]) -> list[tuple[float, float]]:
    """The disruption windows the orchestrator recorded, else the ones the timeline's actions show."""
    if facts.disruption_windows is not None:
        return [(float(a), float(b)) for a, b in facts.disruption_windows]
    return disruption_windows(timeline, until=facts.traffic_stopped_m)


def load_evidence(path: Path, *, first_failures: int = 20, bucket_s: float = 1.0, workers: int | None = None
                  ) -> tuple[Evidence, GateConfig]:
    """Read a run directory (``run.json``, ``requests.jsonl``, ``timeline.jsonl``) in one pass over
    the requests. A missing or damaged evidence file becomes a harness error, so the verdict is
    ERROR rather than a pass over partial evidence; a missing ``run.json`` raises ConfigError."""
    record = read_run_record(path)
    facts = record.facts
    load_errors: list[str] = []

    timeline_path = path / TIMELINE_FILE
    timeline_stats = ReadStats()
    if not timeline_path.exists():
        load_errors.append(f"{TIMELINE_FILE} is missing")
    timeline = read_timeline(timeline_path, timeline_stats)
    if timeline_stats.malformed:
        load_errors.append(f"{TIMELINE_FILE} has {timeline_stats.malformed} unreadable line(s): pod or endpoint "
                           "changes may be missing")

    windows = windows_for(facts, timeline)
    requests_path = path / REQUESTS_FILE
    summary: RequestSummary
    if requests_path.exists():
        summary = summarize_requests_file(requests_path, disruption_windows=windows,
                                          first_failures=first_failures, bucket_s=bucket_s, workers=workers)
    else:
        load_errors.append(f"{REQUESTS_FILE} is missing")
        summary = summarize_requests((), disruption_windows=windows, first_failures=first_failures,
                                     bucket_s=bucket_s)
    from harness.podlogs import POD_LOGS_FILE, read_pod_logs

    pod_logs = read_pod_logs(path / POD_LOGS_FILE)
    return Evidence(summary=summary, timeline=timeline, facts=facts, load_errors=load_errors,
                    pod_logs=pod_logs), record.gates


def judge_run_dir(path: Path, config_override: GateConfig | None = None, *, workers: int | None = None
                  ) -> Verdict:
    """Judge a saved run directory, with its own gate settings unless ``config_override`` is given.
    ``workers`` overrides how many processes read requests.jsonl (see ``summarize_requests_file``)."""
    evidence, config = load_evidence(path, workers=workers)
    return judge(evidence, config_override if config_override is not None else config)
