"""How long clients saw the service down: per connection mode, the longest run of consecutive failed
requests in the order they were scheduled, and the time it spans.

Requests are written when they end, not when they were due, so the streaming pass only collects
the due times (8 bytes a request: successes and failures apart) and the order is made at the end.
A request without a scheduled time (closed-loop traffic) is placed at its start. A 4xx is an answer:
it ends a run, like any answer (whether a 4xx is a failure is the 4xx gate's business).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["OutageRun", "OutageTally", "longest_run"]


class OutageRun(BaseModel):
    """The longest run of consecutive failed requests of one connection mode, by scheduled time.

    ``first_m``/``last_m`` are the due times (monotonic) of its first and last request, so
    ``span_s`` is how long requests kept failing; ``ok_before_m``/``ok_after_m`` are the due times of
    the successes around it (None at the start or end of traffic), so the outage lasted at most
    ``ok_after_m - ok_before_m``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    failed: int = Field(ge=1)
    first_m: float
    last_m: float
    span_s: float = Field(ge=0)
    ok_before_m: float | None = None
    ok_after_m: float | None = None

    @property
    def bound_s(self) -> float | None:
        """The longest the outage can have lasted: from the success before it to the one after."""
        if self.ok_before_m is None or self.ok_after_m is None:
            return None
        return self.ok_after_m - self.ok_before_m


def longest_run(ok: array[float], failed: array[float]) -> OutageRun | None:
    """The longest run of failures among requests due at ``ok`` and ``failed`` times (in any order);
    the earliest of equally long runs. A success due at the same instant as a failure counts as
    before it. None when nothing failed."""
    if not failed:
        return None
    fails = sorted(failed)
    oks = sorted(ok)
    n_ok = len(oks)
    j = 0  # successes due at or before the current failure
    best_len, best_start, best_j = 0, 0, 0
    run_len, run_start, run_j = 0, 0, -1
    for i, due in enumerate(fails):
        while j < n_ok and oks[j] <= due:
            j += 1
        if j != run_j:
            run_len, run_start, run_j = 0, i, j
        run_len += 1
        if run_len > best_len:
            best_len, best_start, best_j = run_len, run_start, run_j
    first, last = fails[best_start], fails[best_start + best_len - 1]
    return OutageRun(failed=best_len, first_m=first, last_m=last, span_s=last - first,
                     ok_before_m=oks[best_j - 1] if best_j > 0 else None,
                     ok_after_m=oks[best_j] if best_j < n_ok else None)


@dataclass(slots=True)
class OutageTally:
    """Due times per connection mode, successes and failures apart; merged across chunks of a file."""

    ok: dict[str, array[float]] = field(default_factory=dict)
    failed: dict[str, array[float]] = field(default_factory=dict)

    def arrays(self, conn: str) -> tuple[array[float], array[float]]:
        """The (ok, failed) arrays of a mode, for the hot loop to append to."""
        ok = self.ok.get(conn)
        if ok is None:
            ok = self.ok[conn] = array("d")
            self.failed[conn] = array("d")
        return ok, self.failed[conn]

    def add(self, conn: str, due: float, *, failed: bool) -> None:
        ok, bad = self.arrays(conn)
        (bad if failed else ok).append(due)

    def merge(self, other: OutageTally) -> None:
        for conn in other.ok:
            ok, bad = self.arrays(conn)
            ok.extend(other.ok[conn])
            bad.extend(other.failed[conn])

    def runs(self) -> dict[str, OutageRun]:
        """Per connection mode that had a failure, its longest run."""
        result: dict[str, OutageRun] = {}
        for conn in sorted(self.ok):
            run = longest_run(self.ok[conn], self.failed[conn])
            if run is not None:
                result[conn] = run
        return result
