"""Gate: every request of ``traffic.requests`` got a status its ``expect_status`` names.

Each record of such a request carries its expectation (``RequestRecord.expect``), so the judging pass
classifies it from the evidence alone: a status it names is an answer, an unnamed 5xx stays a 5xx
(``no_5xx``), and any other unnamed answer is ``unexpected_status``, which this gate counts and
names per request. Records without an expectation are judged by the default (2xx/3xx) as before,
so with no ``traffic.requests`` the gate holds with nothing to count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.verdict.model import GateConfig, GateResult
from harness.verdict.summary import classify

if TYPE_CHECKING:  # gates.py registers this gate, so its Evidence is imported for typing only
    from harness.verdict.gates import Evidence

__all__ = ["expected_status"]

NAME = "expected_status"
_OUTCOME = "unexpected_status"


def _statuses_seen(evidence: Evidence) -> dict[str, list[int]]:
    """The unexpected statuses of the failures kept as examples, per request name."""
    seen: dict[str, set[int]] = {}
    for rec in evidence.summary.first_failures:
        if (rec.req is not None and rec.status is not None
                and classify(rec.status, None if rec.error is None else rec.error.value, rec.m_end,
                             rec.expect) == _OUTCOME):
            seen.setdefault(rec.req, set()).add(rec.status)
    return {req: sorted(codes) for req, codes in seen.items()}


def _expected_of(evidence: Evidence) -> dict[str, list[int]]:
    return {rec.req: rec.expect for rec in evidence.summary.first_failures
            if rec.req is not None and rec.expect is not None}


def expected_status(evidence: Evidence, config: GateConfig) -> GateResult:
    from harness.verdict.gates import _loss_gate  # here: gates.py imports this module

    counts = evidence.summary.counts
    per_req = {req: c.unexpected_status for req, c in counts.by_req.items() if c.unexpected_status}
    seen, expected = _statuses_seen(evidence), _expected_of(evidence)
    parts = []
    for req, n in sorted(per_req.items(), key=lambda item: (-item[1], item[0])):
        got = f" got {', '.join(map(str, seen[req]))}" if req in seen else ""
        wanted = f" expecting {', '.join(map(str, expected[req]))}" if req in expected else ""
        parts.append(f"{req}: {n}{got}{wanted}")
    result = _loss_gate(NAME, evidence, config, outcomes=(_OUTCOME,),
                        what="got a status outside their request's expect_status", breakdown="; ".join(parts))
    result.numbers.update({f"req {req}": n for req, n in per_req.items()})
    return result
