"""What a mechanism rule is: it decides, for one failed request, whether the evidence shows its
mechanism (and against which pods), and turns all its requests into advice with the run's numbers.

Rules are tried in ``RULES`` order (harness/diagnosis/mechanisms/__init__.py); the first that
matches decides. A rule must not match on a guess: when its evidence is missing or points two
ways it returns None and the request stays unexplained."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from harness.diagnosis.context import Context, Failure, Match
from harness.diagnosis.model import Mechanism, Recommendation

__all__ = ["Advice", "Rule", "ceil_s", "numbers_of"]


@dataclass
class Advice:
    evidence: list[str] = field(default_factory=list)
    measurements: dict[str, float | int | str | None] = field(default_factory=dict)
    recommendations: list[Recommendation] = field(default_factory=list)


class Rule(Protocol):
    mechanism: Mechanism
    title: str

    def decide(self, failure: Failure, ctx: Context) -> Match | None: ...

    def advise(self, matched: Sequence[tuple[Failure, Match]], ctx: Context) -> Advice: ...


def numbers_of(matched: Sequence[tuple[Failure, Match]], key: str) -> list[float]:
    return [value for _, match in matched for name, value in match.numbers if name == key]


def ceil_s(seconds: float) -> int:
    """Whole seconds, rounded up (Kubernetes takes whole seconds)."""
    return max(1, math.ceil(seconds - 1e-9))
