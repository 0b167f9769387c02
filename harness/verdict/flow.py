"""Gate: traffic kept flowing through every disruption, in every configured connection mode.

A loss count means something only if requests were being sent while pods went away. A run whose
traffic stalled, stopped early or never used one of its connection modes during the disruption
has not shown that nothing is lost, so the gate is INCONCLUSIVE, naming the gap. The disruption
lasts until every disrupted pod's containers were gone, not merely until the step ended: after a
force kill the pod object vanishes at once while its process still holds connections.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from harness.verdict.model import GateConfig, GateResult, GateStatus

if TYPE_CHECKING:  # gates.py registers this gate, so its Evidence is imported for typing only
    from harness.verdict.gates import Evidence

__all__ = ["disrupted_intervals", "traffic_flow"]


Numbers = dict[str, float | int | str | bool | None]


def at(evidence: Evidence, m: float) -> str:
    origin = evidence.origin_m
    return f"+{m - origin:.3f}s" if origin is not None else f"m={m:.3f}"


def _merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def disrupted_intervals(evidence: Evidence) -> tuple[list[tuple[float, float]], list[str]]:
    """The spans in which traffic had to flow (disruption windows, and each disrupted pod from its
    deletion until its containers were gone), and the pods for which that end is unknown."""
    spans = [(float(a), float(b)) for a, b in evidence.summary.disruption_windows]
    unknown: list[str] = []
    for pod, fact in sorted(evidence.facts.disrupted_pods.items()):
        if fact.containers_gone_m is None:
            unknown.append(pod)
            continue
        start = fact.deleted_m if fact.deleted_m is not None else fact.containers_gone_m
        spans.append((start, max(start, fact.containers_gone_m)))
    return _merge(spans), unknown


def traffic_flow(evidence: Evidence, config: GateConfig) -> GateResult:
    name = "traffic_flow"
    facts = evidence.facts
    spans, unknown = disrupted_intervals(evidence)
    share = config.min_flow_share
    numbers: Numbers = {"spans": len(spans), "min_flow_share": share, "pods_gone_unknown": len(unknown)}
    if not spans:
        return GateResult(name=name, status=GateStatus.SKIPPED, reason="no disruption window was recorded",
                          numbers=numbers)
    problems: list[str] = []
    if unknown:
        problems.append(f"when the containers of {', '.join(unknown)} were gone is unknown, so the "
                        "disruption's end cannot be bounded")
    end = spans[-1][1]
    stopped = facts.traffic_stopped_m
    if stopped is None or stopped < end:
        when = "was never recorded as stopped" if stopped is None else f"stopped at {at(evidence, stopped)}"
        problems.append(f"traffic {when}, before the disruption ended at {at(evidence, end)}")
    modes = list(facts.connection_modes)
    if not modes:
        problems.append("the run does not record which connection modes it configured")
    starts_by_conn = evidence.summary.starts_by_conn
    for mode in modes:
        rate = facts.mode_rates.get(mode)
        starts = starts_by_conn.get(mode, {})
        if not starts:
            problems.append(f"no {mode} request was recorded at all")
            continue
        if rate is None or rate <= 0:
            problems.append(f"the configured rate of {mode} traffic is not recorded")
            continue
        lowest: float | None = None
        for start, stop in spans:
            seconds = range(math.floor(start), max(math.floor(start) + 1, math.ceil(stop)))
            counts = [starts.get(s, 0) for s in seconds]
            silent = [s for s, n in zip(seconds, counts, strict=True) if n == 0]
            achieved = sum(counts) / len(counts)
            lowest = achieved if lowest is None else min(lowest, achieved)
            where = f"{at(evidence, start)}..{at(evidence, stop)}"
            if silent:
                problems.append(f"no {mode} request started in {len(silent)} second(s) of {where}, the first "
                                f"at {at(evidence, float(silent[0]))}")
            if achieved < share * rate:
                problems.append(f"{mode} traffic ran at {achieved:.1f} req/s during {where}, below "
                                f"{100 * share:.0f}% of its configured {rate:g} req/s")
        numbers[f"{mode}_min_rps"] = lowest
        numbers[f"{mode}_rate_rps"] = rate
    if problems:
        return GateResult(name=name, status=GateStatus.INCONCLUSIVE,
                          reason="traffic did not flow through the whole disruption: " + "; ".join(problems),
                          numbers=numbers)
    shown = ", ".join(f"{m} >= {numbers[f'{m}_min_rps']:.1f} req/s" for m in modes)
    return GateResult(name=name, status=GateStatus.PASS,
                      reason=f"traffic flowed through {len(spans)} disruption span(s) until "
                             f"{at(evidence, end)}: {shown} (at least {100 * share:.0f}% of the configured rate, "
                             "no silent second)",
                      numbers=numbers)
