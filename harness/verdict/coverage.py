"""The coverage gate: did the observers see every pod, EndpointSlice and event change while traffic ran?

A verdict on partial evidence must not pass. ``observers_complete`` is ERROR when, within the traffic
window, any observed resource has a stretch its observer did not cover:

- it was not synced before traffic started (or never synced);
- its watch expired and it re-listed: changes between the last moment the watch was known current
  and the re-list may be missing;
- a ``gap`` (a change that could not be recorded) at or before traffic stopped: the object it
  concerns may be shown wrongly from then on;
- a watch error that was neither resumed nor closed by a re-list;
- its ``stopped`` note is missing, says the watch was not current, or came at or before traffic
  stopped.

A watch error resumed from its resourceVersion loses nothing (the server replays every change since),
so it is counted, not held against the run. The gate is also ERROR on any harness error and when no
pod was recorded at all. Times in reasons are seconds from the traffic start (``+12.345s``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.evidence import TimelineKind
from harness.verdict.model import GateConfig, GateResult, GateStatus
from harness.verdict.timeline import OBSERVED_RESOURCES, ObserverCoverage, UncoveredWindow, observer_coverage

if TYPE_CHECKING:
    from harness.verdict.gates import Evidence

__all__ = ["observers_complete", "traffic_window"]

NAME = "observers_complete"


def traffic_window(evidence: Evidence) -> tuple[float | None, float | None]:
    """Monotonic start and end of traffic: the orchestrator's marks, else the first and last request."""
    facts, counts = evidence.facts, evidence.summary.counts
    start = facts.traffic_started_m if facts.traffic_started_m is not None else counts.first_m
    end = facts.traffic_stopped_m
    if end is None:
        end = counts.last_end_m if counts.last_end_m is not None else counts.last_m
    return start, end


def _overlaps(window: UncoveredWindow, start: float | None, end: float | None) -> bool:
    if window.cause == "gap":
        return end is None or window.start_m <= end
    return ((end is None or window.start_m <= end)
            and (start is None or window.end_m is None or window.end_m >= start))


class _Problems:
    def __init__(self, evidence: Evidence, start: float | None, end: float | None) -> None:
        self.origin = evidence.origin_m
        self.start, self.end = start, end
        self.lines: list[str] = []
        self.uncovered_relists = 0
        self.unrepaired_errors = 0
        self.gaps = 0
        self.unsynced = 0
        self.stop_problems = 0

    def at(self, m: float | None) -> str:
        if m is None:
            return "the end of the record"
        return f"{m - self.origin:+.3f}s" if self.origin is not None else f"m={m:.3f}"

    def synced(self, cover: ObserverCoverage) -> None:
        name = cover.resource
        if cover.synced_m is None:
            self.unsynced += 1
            self.lines.append(f"{name}: never synced, so none of its changes is recorded")
        elif self.start is not None and cover.synced_m > self.start:
            self.unsynced += 1
            self.lines.append(f"{name}: synced only at {self.at(cover.synced_m)}, after traffic started at "
                              f"{self.at(self.start)}; changes before that are not recorded")

    def window(self, window: UncoveredWindow) -> None:
        name, span = window.resource, f"from {self.at(window.start_m)} to {self.at(window.end_m)}"
        why = f" ({window.detail})" if window.detail else ""
        if window.cause == "gap":
            self.gaps += 1
            self.lines.append(f"observer gap in {name} at {self.at(window.start_m)}"
                              + (f": {window.detail}" if window.detail else ""))
        elif window.cause == "relisted":
            self.uncovered_relists += 1
            self.lines.append(f"{name}: its watch lapsed and it re-listed{why}; changes {span} may be missing")
        else:
            self.unrepaired_errors += 1
            self.lines.append(f"{name}: a watch error was never repaired{why}; changes {span} may be missing")

    def stopped(self, cover: ObserverCoverage, open_at_stop: bool) -> None:
        name = cover.resource
        if cover.stopped_m is None:
            self.stop_problems += 1
            self.lines.append(f"{name}: no 'stopped' note, so coverage to the end of traffic is not shown")
        elif self.end is not None and cover.stopped_m <= self.end:
            self.stop_problems += 1
            self.lines.append(f"{name}: its observer stopped at {self.at(cover.stopped_m)}, before traffic "
                              f"stopped at {self.at(self.end)}")
        elif cover.stopped_healthy is not True and not open_at_stop:
            self.stop_problems += 1
            self.lines.append(f"{name}: its watch was not shown current when it stopped at "
                              f"{self.at(cover.stopped_m)}")


def observers_complete(evidence: Evidence, config: GateConfig) -> GateResult:
    """The observers covered the whole traffic window, and the harness itself did not fail."""
    start, end = traffic_window(evidence)
    coverage = observer_coverage(evidence.timeline)
    problems = _Problems(evidence, start, end)
    for resource in OBSERVED_RESOURCES:
        cover = coverage[resource]
        problems.synced(cover)
        counted = [w for w in cover.windows if _overlaps(w, start, end)]
        for window in counted:
            problems.window(window)
        open_at_stop = any(w.cause == "error" and w.end_m is not None and w.end_m == cover.stopped_m
                           for w in counted)
        problems.stopped(cover, open_at_stop)
    # Notes from observers of other resources count against coverage only through their windows.
    for resource, cover in coverage.items():
        if resource not in OBSERVED_RESOURCES:
            for window in cover.windows:
                if _overlaps(window, start, end):
                    problems.window(window)

    errors = evidence.harness_errors
    pods_seen = any(e.kind is TimelineKind.POD for e in evidence.timeline)
    resumed = sum(c.resumed_errors for c in coverage.values())
    longest = max((c.longest_resumed_outage_s for c in coverage.values()), default=0.0)
    coverage_problems = len(problems.lines)
    numbers: dict[str, float | int | str | bool | None] = {
        "uncovered": coverage_problems,
        "gaps": problems.gaps,
        "uncovered_relists": problems.uncovered_relists,
        "unrepaired_errors": problems.unrepaired_errors,
        "unsynced": problems.unsynced,
        "stop_problems": problems.stop_problems,
        "relists": sum(c.relists for c in coverage.values()),
        "resumed_errors": resumed,
        "longest_resumed_outage_s": round(longest, 3),
        "harness_errors": len(errors),
        "pod_events": pods_seen,
    }
    lines = [*problems.lines, *errors]
    if not pods_seen:
        lines.append("the observers recorded no pod at all")
    if lines:
        return GateResult(name=NAME, status=GateStatus.ERROR, reason="; ".join(lines), numbers=numbers)
    resumed_text = (f"; {resumed} watch error(s) resumed from their resourceVersion, nothing lost "
                    f"(longest outage {longest:.1f}s)" if resumed else "")
    return GateResult(
        name=NAME, status=GateStatus.PASS,
        reason=(f"{', '.join(OBSERVED_RESOURCES)} were watched without a break from before traffic started "
                f"to after it stopped{resumed_text}; {len(evidence.timeline)} timeline events, no harness error"),
        numbers=numbers)
