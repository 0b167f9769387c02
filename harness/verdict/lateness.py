"""Gate: the traffic generator kept its schedule.

Open-loop traffic counts the loss a steady stream of clients sees only if the requests really left
when they were due. A generator that fell behind (its CPU saturated, its in-flight cap reached) sent
fewer requests exactly when it mattered, so its loss count understates the truth: the verdict is
then INCONCLUSIVE, with the numbers. A proven FAIL stays FAIL (``decide`` ranks FAIL first).

Lateness is a request's send time minus its due time (``m_start - m_sched``). The streaming pass
keeps, per connection mode, a histogram of it in 0.1 ms steps and, per second of due times, how many
requests were
sent within each of the ``LATE_EDGES_MS`` (and how many were not sent at all), so the gate judges
any bound without a second pass; a bound between two edges is judged at the edge below it, which can
only call more requests late.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.verdict.model import GateConfig, GateResult, GateStatus

if TYPE_CHECKING:  # gates.py registers this gate, so its Evidence is imported for typing only
    from harness.verdict.gates import Evidence

__all__ = ["LATE_EDGES_MS", "LATE_STEPS_PER_MS", "NOT_SENT_COLUMN", "ON_TIME_SHARE", "ModeLateness", "late_column",
           "traffic_on_schedule"]

NAME = "traffic_on_schedule"
# A second of due times is short of sends when fewer than this share left on time.
ON_TIME_SHARE = 0.8
# Per-second lateness columns: sent within 0.5 ms, 1 ms, ..., 10 s, later, not sent.
LATE_EDGES_MS: tuple[float, ...] = (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
NOT_SENT_COLUMN = len(LATE_EDGES_MS) + 1
COLUMNS = NOT_SENT_COLUMN + 1
# The lateness histogram's resolution: bins of 0.1 ms, as fine as a bound of tens of ms needs, and
# an integer key that the streaming pass computes with one multiplication.
LATE_STEPS_PER_MS = 10.0
_SHOWN = 3


def late_column(late_ms: float) -> int:
    """The per-second column of a request sent ``late_ms`` after it was due."""
    return bisect.bisect_left(LATE_EDGES_MS, late_ms)


@dataclass(slots=True)
class ModeLateness:
    """What the streaming pass learnt about one connection mode's schedule."""

    # Lateness of every scheduled request that was sent: floor(ms x LATE_STEPS_PER_MS) -> requests
    # (a negative lateness counts as 0), and the largest in ms.
    hist: dict[int, int] = field(default_factory=dict)
    max_ms: float = 0.0
    # floor(m_sched) -> requests due in that second, per column (see late_column, NOT_SENT_COLUMN).
    seconds: dict[int, list[int]] = field(default_factory=dict)
    unscheduled: int = 0  # records of this mode without a scheduled time

    @property
    def sent(self) -> int:
        return sum(self.hist.values())

    def percentile(self, p: float) -> float | None:
        """Nearest-rank lateness percentile in ms, ``p`` in (0, 100]: the upper edge of its bin (at
        most 0.1 ms above the true value, never below it), capped at the largest lateness."""
        count = self.sent
        if count == 0:
            return None
        rank = max(1, math.ceil(p / 100.0 * count))
        seen = 0
        for key in sorted(self.hist):
            seen += self.hist[key]
            if seen >= rank:
                return min((key + 1) / LATE_STEPS_PER_MS, self.max_ms)
        return self.max_ms

    @property
    def scheduled(self) -> int:
        return sum(sum(row) for row in self.seconds.values())

    @property
    def not_sent(self) -> int:
        return sum(row[NOT_SENT_COLUMN] for row in self.seconds.values())

    def merge(self, other: ModeLateness) -> None:
        for key, n in other.hist.items():
            self.hist[key] = self.hist.get(key, 0) + n
        self.max_ms = max(self.max_ms, other.max_ms)
        for second, row in other.seconds.items():
            mine = self.seconds.setdefault(second, [0] * COLUMNS)
            for col, n in enumerate(row):
                mine[col] += n
        self.unscheduled += other.unscheduled


Numbers = dict[str, float | int | str | bool | None]


def _at(evidence: Evidence, m: float) -> str:
    origin = evidence.origin_m
    return f"+{m - origin:.0f}s" if origin is not None else f"m={m:.0f}"


def traffic_on_schedule(evidence: Evidence, config: GateConfig) -> GateResult:
    by_mode: dict[str, ModeLateness] = evidence.summary.lateness
    bound = config.max_lateness_p99_ms
    # The per-second check counts a request on time when its lateness column lies within the bound.
    within = bisect.bisect_right(LATE_EDGES_MS, bound)
    edge = LATE_EDGES_MS[within - 1] if within else 0.0
    numbers: Numbers = {"max_lateness_p99_ms": bound, "on_time_within_ms": edge, "on_time_share": ON_TIME_SHARE}
    scheduled = {mode: stats.scheduled for mode, stats in by_mode.items()}
    if not any(scheduled.values()):
        return GateResult(name=NAME, status=GateStatus.SKIPPED,
                          reason="no request carries a scheduled time (closed-loop traffic: each user waits for "
                                 "its answer, so there is no schedule to keep)", numbers=numbers)
    problems: list[str] = []
    shown: list[str] = []
    for mode, stats in sorted(by_mode.items()):
        p99 = stats.percentile(99)
        not_sent = stats.not_sent
        short = []
        for second, row in sorted(stats.seconds.items()):
            due = sum(row)
            on_time = sum(row[:within])
            if on_time < ON_TIME_SHARE * due:
                short.append((second, on_time, due))
        numbers.update({f"{mode}_scheduled": scheduled[mode], f"{mode}_lateness_p99_ms": p99,
                        f"{mode}_lateness_max_ms": stats.max_ms if stats.hist else None,
                        f"{mode}_not_sent": not_sent, f"{mode}_short_seconds": len(short),
                        f"{mode}_unscheduled": stats.unscheduled})
        if p99 is not None and p99 > bound:
            problems.append(f"{mode} requests left {p99:.1f} ms late at p99 (max {stats.max_ms:.0f} ms), "
                            f"above the bound of {bound:g} ms")
        if short:
            worst = sorted(short, key=lambda s: (s[1] / s[2], s[0]))[:_SHOWN]
            listed = ", ".join(f"{_at(evidence, float(s))}: {n} of {d}" for s, n, d in worst)
            problems.append(f"{len(short)} second(s) in which fewer than {100 * ON_TIME_SHARE:.0f}% of the {mode} "
                            f"requests due were sent within {edge:g} ms (worst {listed})")
        if not_sent:
            problems.append(f"{not_sent} {mode} requests were not sent: the in-flight cap was reached")
        if stats.unscheduled and scheduled[mode]:
            problems.append(f"{stats.unscheduled} {mode} records carry no scheduled time, so their lateness "
                            "is unknown")
        if p99 is not None:
            shown.append(f"{mode} p99 {p99:.1f} ms over {stats.sent} requests")
    if problems:
        return GateResult(name=NAME, status=GateStatus.INCONCLUSIVE,
                          reason="traffic generator saturated: " + "; ".join(problems), numbers=numbers)
    return GateResult(name=NAME, status=GateStatus.PASS,
                      reason=(f"requests left on schedule: lateness {', '.join(shown)} (bound {bound:g} ms); "
                              f"every second sent at least {100 * ON_TIME_SHARE:.0f}% of its requests within "
                              f"{edge:g} ms"),
                      numbers=numbers)
