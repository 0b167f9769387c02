"""The gates: pure functions from recorded evidence and thresholds to a result with its reasons.

No gate talks to a cluster or reads a file, so each is tested on hand-made evidence and a saved run
is judged exactly as it was when it ran.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.evidence import TimelineEvent
from harness.verdict.accounting import records_accounted
from harness.verdict.coverage import observers_complete
from harness.verdict.expected import expected_status
from harness.verdict.flow import traffic_flow
from harness.verdict.lateness import traffic_on_schedule
from harness.verdict.model import GateConfig, GateResult, GateStatus, RunFacts
from harness.verdict.summary import RequestSummary
from harness.verdict.timeline import first_disruption_start, pod_changes_after, pod_name, pod_uid

if TYPE_CHECKING:
    from harness.diagnosis.lifecycle import LogLine

__all__ = [
    "DEFAULT_GATES",
    "Evidence",
    "Gate",
    "all_completed",
    "disruption_observed",
    "latency_during_disruption",
    "min_traffic",
    "no_4xx",
    "no_5xx",
    "no_bad_status",
    "no_connection_errors",
    "observers_complete",
    "records_accounted",
    "records_readable",
    "rollout_completed",
    "traffic_flow",
]


@dataclass(slots=True)
class Evidence:
    """Everything a run recorded, ready to judge."""

    summary: RequestSummary
    timeline: list[TimelineEvent]
    facts: RunFacts
    # Set by the loader when the run directory itself was incomplete (a missing file, unreadable
    # timeline lines); these make the verdict ERROR just like the orchestrator's own errors.
    load_errors: list[str] = field(default_factory=list)
    # Pod -> the lines it logged (harness.podlogs), for the diagnosis; empty when none were recorded.
    pod_logs: Mapping[str, Sequence[LogLine]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.timeline = sorted(self.timeline, key=lambda e: e.m)

    @property
    def harness_errors(self) -> list[str]:
        return [*self.facts.harness_errors, *self.load_errors]

    @property
    def origin_m(self) -> float | None:
        if self.facts.traffic_started_m is not None:
            return self.facts.traffic_started_m
        return self.summary.counts.first_m


Gate = Callable[[Evidence, GateConfig], GateResult]


def _pct(part: int, whole: int) -> str:
    return "0%" if whole == 0 else f"{100.0 * part / whole:.4g}%"


def _at(evidence: Evidence, m: float) -> str:
    origin = evidence.origin_m
    return f"+{m - origin:.3f}s" if origin is not None else f"m={m:.3f}"


def _first_of(evidence: Evidence, outcomes: tuple[str, ...]) -> float | None:
    spans = evidence.summary.counts.failure_spans
    starts = [spans[o][0] for o in outcomes if o in spans]
    return min(starts) if starts else None


def _budget(config: GateConfig) -> str:
    parts = []
    if config.max_failed_requests is not None:
        parts.append(f"at most {config.max_failed_requests} requests")
    if config.max_failed_ratio is not None:
        parts.append(f"at most {100.0 * config.max_failed_ratio:.4g}%")
    return " and ".join(parts)


def _loss_gate(name: str, evidence: Evidence, config: GateConfig, *, outcomes: tuple[str, ...],
               what: str, breakdown: str = "") -> GateResult:
    """A gate on how many requests were lost one particular way.

    With no error budget any loss fails. With one, the gate holds while the run's total loss (every
    failure, whatever its kind) stays within the budget, and the reason states the loss exactly.
    """
    counts = evidence.summary.counts.outcomes
    count = sum(getattr(counts, o) for o in outcomes)
    total = counts.total
    failed = counts.failed(allow_4xx=config.allow_4xx)
    ratio = failed / total if total else 0.0
    numbers: dict[str, float | int | str | bool | None] = {
        "count": count, "total": total, "failed_total": failed, "failed_ratio": ratio,
    }
    detail = f" ({breakdown})" if breakdown else ""
    if count == 0:
        return GateResult(name=name, status=GateStatus.PASS,
                          reason=f"none of {total} requests {what}", numbers=numbers)
    first = _first_of(evidence, outcomes)
    when = "" if first is None else f", the first at {_at(evidence, first)}"
    lead = f"{count} of {total} requests ({_pct(count, total)}) {what}{detail}{when}"
    if not config.has_error_budget:
        return GateResult(name=name, status=GateStatus.FAIL, reason=lead, numbers=numbers)
    numbers["max_failed_requests"] = config.max_failed_requests
    numbers["max_failed_ratio"] = config.max_failed_ratio
    within = ((config.max_failed_requests is None or failed <= config.max_failed_requests)
              and (config.max_failed_ratio is None or ratio <= config.max_failed_ratio))
    numbers["within_budget"] = within
    loss = f"total loss {failed} of {total} ({_pct(failed, total)})"
    if within:
        return GateResult(name=name, status=GateStatus.PASS,
                          reason=f"{lead}; {loss} is within the error budget of {_budget(config)}",
                          numbers=numbers)
    return GateResult(name=name, status=GateStatus.FAIL,
                      reason=f"{lead}; {loss} exceeds the error budget of {_budget(config)}",
                      numbers=numbers)


def no_5xx(evidence: Evidence, config: GateConfig) -> GateResult:
    by_status = evidence.summary.counts.by_status
    codes = ", ".join(f"{n}x {code}" for code, n in by_status.items() if code.startswith("5"))
    return _loss_gate("no_5xx", evidence, config, outcomes=("http_5xx",), what="got a 5xx response",
                      breakdown=codes)


def no_bad_status(evidence: Evidence, config: GateConfig) -> GateResult:
    """A status that is no final HTTP answer (0, 1xx, 600 and above, or not an integer) is a failure
    of its own: the client got something, but not a response."""
    by_status = evidence.summary.counts.by_status
    codes = ", ".join(f"{n}x {code}" for code, n in by_status.items()
                      if not (code.isdigit() and 200 <= int(code) < 600))
    return _loss_gate("no_bad_status", evidence, config, outcomes=("bad_status",),
                      what="got a status that is no HTTP answer", breakdown=codes)


def no_connection_errors(evidence: Evidence, config: GateConfig) -> GateResult:
    counts = evidence.summary.counts.outcomes
    kinds = ("refused", "reset", "timeout", "other")
    breakdown = ", ".join(f"{kind} {getattr(counts, kind)}" for kind in kinds if getattr(counts, kind))
    result = _loss_gate("no_connection_errors", evidence, config, outcomes=kinds,
                        what="failed on the connection", breakdown=breakdown)
    result.numbers.update({kind: getattr(counts, kind) for kind in kinds})
    return result


def all_completed(evidence: Evidence, config: GateConfig) -> GateResult:
    return _loss_gate("all_completed", evidence, config, outcomes=("incomplete",),
                      what="were sent but never got a complete response")


def no_4xx(evidence: Evidence, config: GateConfig) -> GateResult:
    counts = evidence.summary.counts.outcomes
    n, total = counts.http_4xx, counts.total
    if config.allow_4xx:
        return GateResult(name="no_4xx", status=GateStatus.SKIPPED,
                          reason=f"4xx responses are allowed; {n} of {total} requests got one",
                          numbers={"count": n, "total": total})
    return _loss_gate("no_4xx", evidence, config, outcomes=("http_4xx",), what="got a 4xx response")


def rollout_completed(evidence: Evidence, config: GateConfig) -> GateResult:
    rollout = evidence.facts.rollout
    if rollout is None:
        return GateResult(name="rollout_completed", status=GateStatus.SKIPPED,
                          reason="the scenario has no rollout to wait for")
    numbers: dict[str, float | int | str | bool | None] = {
        "completed": rollout.completed, "duration_s": rollout.duration_s,
        "deadline_s": rollout.deadline_s, "error": rollout.error,
    }
    took = "" if rollout.duration_s is None else f" after {rollout.duration_s:.1f}s"
    if rollout.error:
        return GateResult(name="rollout_completed", status=GateStatus.FAIL,
                          reason=f"the rollout failed{took}: {rollout.error}", numbers=numbers)
    if not rollout.completed:
        return GateResult(name="rollout_completed", status=GateStatus.FAIL,
                          reason=f"the rollout did not complete{took}", numbers=numbers)
    if (rollout.deadline_s is not None and rollout.duration_s is not None
            and rollout.duration_s > rollout.deadline_s):
        return GateResult(
            name="rollout_completed", status=GateStatus.FAIL,
            reason=f"the rollout completed{took}, past its deadline of {rollout.deadline_s:.1f}s",
            numbers=numbers)
    deadline = "" if rollout.deadline_s is None else f" (deadline {rollout.deadline_s:.1f}s)"
    scope = f"; {rollout.scope}" if rollout.scope else ""
    return GateResult(name="rollout_completed", status=GateStatus.PASS,
                      reason=f"the rollout completed{took}{deadline}{scope}", numbers=numbers)


def disruption_observed(evidence: Evidence, config: GateConfig) -> GateResult:
    """The disruption really happened: a run in which nothing was replaced proves nothing."""
    name = "disruption_observed"
    start = first_disruption_start(evidence.timeline)
    old = list(dict.fromkeys(evidence.facts.old_pods))
    numbers: dict[str, float | int | str | bool | None] = {"old_pods": len(old), "disruption_start_m": start}
    if start is None:
        return GateResult(name=name, status=GateStatus.INCONCLUSIVE,
                          reason="no disruption step started on the timeline", numbers=numbers)
    uids = evidence.facts.old_pod_uids
    if uids:
        # By UID: a StatefulSet's replacement of web-0 is named web-0 too.
        going, ready = pod_changes_after(evidence.timeline, start, key=pod_uid)
        replaced = [p for p in old if uids.get(p, p) in going]
        untouched = [p for p in old if uids.get(p, p) not in going]
        known = set(uids.values())
        new_ready = sorted(pod_name(c.event) for uid, c in ready.items() if uid not in known)
    else:
        going, ready = pod_changes_after(evidence.timeline, start)
        replaced = [p for p in old if p in going]
        untouched = [p for p in old if p not in going]
        new_ready = sorted(p for p in ready if p not in set(old))
    numbers.update({"replaced": len(replaced), "untouched": len(untouched), "new_ready": len(new_ready)})
    problems: list[str] = []
    if config.disruption_replaces != "none" and not old:
        problems.append("no pod of the target was recorded before the disruption")
    elif config.disruption_replaces == "all" and untouched:
        problems.append(f"{len(untouched)} of {len(old)} old pods were never deleted or terminating "
                        f"after the disruption started: {', '.join(untouched)}")
    elif config.disruption_replaces == "any" and not replaced:
        problems.append(f"none of the {len(old)} old pods was deleted or terminating after the disruption "
                        "started")
    if config.disruption_new_ready and not new_ready:
        problems.append("no new pod became ready after the disruption started")
    if problems:
        return GateResult(name=name, status=GateStatus.INCONCLUSIVE,
                          reason="the disruption was not observed: " + "; ".join(problems), numbers=numbers)
    parts = [f"disruption started at {_at(evidence, start)}"]
    if config.disruption_replaces != "none":
        parts.append(f"{len(replaced)} of {len(old)} old pods replaced")
    if config.disruption_new_ready:
        parts.append(f"{len(new_ready)} new pods became ready")
    return GateResult(name=name, status=GateStatus.PASS, reason="; ".join(parts), numbers=numbers)


def min_traffic(evidence: Evidence, config: GateConfig) -> GateResult:
    counts = evidence.summary.counts
    total = counts.total
    facts = evidence.facts
    if facts.traffic_started_m is not None and facts.traffic_stopped_m is not None:
        duration = facts.traffic_stopped_m - facts.traffic_started_m
    elif counts.first_m is not None and counts.last_m is not None:
        duration = counts.last_m - counts.first_m
    else:
        duration = 0.0
    rate = total / duration if duration > 0 else None
    numbers: dict[str, float | int | str | bool | None] = {
        "total": total, "min_requests": config.min_requests, "duration_s": duration,
        "rate_rps": rate, "min_rate_rps": config.min_rate_rps,
    }
    shown_rate = "an unknown rate" if rate is None else f"{rate:.1f} req/s"
    if total == 0:
        return GateResult(name="min_traffic", status=GateStatus.INCONCLUSIVE,
                          reason="no request was recorded", numbers=numbers)
    if total < config.min_requests:
        return GateResult(name="min_traffic", status=GateStatus.INCONCLUSIVE,
                          reason=f"only {total} requests were recorded, fewer than the minimum of "
                                 f"{config.min_requests}", numbers=numbers)
    if config.min_rate_rps is not None and (rate is None or rate < config.min_rate_rps):
        return GateResult(name="min_traffic", status=GateStatus.INCONCLUSIVE,
                          reason=f"traffic ran at {shown_rate}, below the minimum of "
                                 f"{config.min_rate_rps:g} req/s", numbers=numbers)
    return GateResult(name="min_traffic", status=GateStatus.PASS,
                      reason=f"{total} requests over {duration:.1f}s ({shown_rate})", numbers=numbers)


def latency_during_disruption(evidence: Evidence, config: GateConfig) -> GateResult:
    name = "latency_during_disruption"
    bound = config.latency_p99_ms_during_disruption
    if bound is None:
        return GateResult(name=name, status=GateStatus.SKIPPED, reason="no latency bound is set")
    digest = evidence.summary.latency_during_disruption
    windows = evidence.summary.disruption_windows
    numbers: dict[str, float | int | str | bool | None] = {
        "bound_p99_ms": bound, "samples": digest.count, "windows": len(windows), "exact": digest.exact,
    }
    if not windows:
        return GateResult(name=name, status=GateStatus.INCONCLUSIVE,
                          reason="no disruption window was recorded, so no latency during it",
                          numbers=numbers)
    p99 = digest.percentile(99)
    if p99 is None:
        return GateResult(name=name, status=GateStatus.INCONCLUSIVE,
                          reason="no request got a response during the disruption", numbers=numbers)
    numbers["p99_ms"] = p99
    numbers["max_ms"] = digest.max_ms
    approx = "" if digest.exact else " (histogram, within 0.5%)"
    shown = f"p99 latency during the disruption was {p99:.1f} ms over {digest.count} responses{approx}"
    if p99 > bound:
        return GateResult(name=name, status=GateStatus.FAIL,
                          reason=f"{shown}, above the bound of {bound:g} ms", numbers=numbers)
    return GateResult(name=name, status=GateStatus.PASS, reason=f"{shown}, within {bound:g} ms",
                      numbers=numbers)


def records_readable(evidence: Evidence, config: GateConfig) -> GateResult:
    malformed = evidence.summary.counts.malformed_lines
    numbers: dict[str, float | int | str | bool | None] = {"malformed_lines": malformed}
    if malformed:
        return GateResult(name="records_readable", status=GateStatus.ERROR,
                          reason=f"requests.jsonl has {malformed} unreadable line(s); those requests "
                                 "cannot be accounted for", numbers=numbers)
    return GateResult(name="records_readable", status=GateStatus.PASS,
                      reason="every request line was readable", numbers=numbers)


DEFAULT_GATES: tuple[Gate, ...] = (
    no_5xx,
    no_bad_status,
    no_connection_errors,
    all_completed,
    no_4xx,
    expected_status,
    rollout_completed,
    disruption_observed,
    min_traffic,
    latency_during_disruption,
    observers_complete,
    records_readable,
    records_accounted,
    traffic_flow,
    traffic_on_schedule,
)
