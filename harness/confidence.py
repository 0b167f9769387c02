"""How large the per-request failure probability can still be, given what repeated runs saw.

Seeing no failure in N requests does not prove the failure probability is zero; it bounds it. The
bound here is the exact binomial one (Clopper-Pearson), one-sided: the largest probability p at which
seeing at most the observed number of failures still has a chance of at least ``1 - confidence``.
For x failures in n requests it is the ``confidence`` quantile of Beta(x + 1, n - x); with no failure
it is ``1 - (1 - confidence) ** (1 / n)`` exactly (about 3 / n at 95 %, the "rule of three").

No statistics library is a dependency of the harness, so the quantile is found by bisection on the
regularized incomplete beta function, evaluated with its continued fraction (Lentz's method), which is
accurate to about 1e-11 relative over the whole range a run can produce.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_CONFIDENCE", "FailureBound", "failure_rate_upper", "format_percent", "regularized_beta"]

DEFAULT_CONFIDENCE = 0.95

_CF_EPS = 1e-16
_CF_TINY = 1e-300
_CF_MAX_TERMS = 100_000
_BISECTIONS = 200


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b), modified Lentz; converges fast for x < (a + 1) / (a + b + 2)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _CF_TINY else _CF_TINY)
    h = d
    for m in range(1, _CF_MAX_TERMS + 1):
        m2 = 2 * m
        even = m * (b - m) * x / ((qam + m2) * (a + m2))
        odd = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        delta = 1.0
        for numerator in (even, odd):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > _CF_TINY else _CF_TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > _CF_TINY else _CF_TINY
            delta = c * d
            h *= delta
        if abs(delta - 1.0) < _CF_EPS:
            return h
    raise ArithmeticError(f"the incomplete beta continued fraction did not converge for a={a}, b={b}, x={x}")


def regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularized incomplete beta function (the Beta(a, b) distribution's CDF at x)."""
    if not (a > 0 and b > 0):
        raise ValueError(f"a and b must be > 0, got a={a}, b={b}")
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_continued_fraction(a, b, x) / a
    return 1.0 - front * _beta_continued_fraction(b, a, 1.0 - x) / b


def failure_rate_upper(failures: int, trials: int, confidence: float = DEFAULT_CONFIDENCE) -> float:
    """The one-sided exact (Clopper-Pearson) upper bound on the failure probability at ``confidence``.

    1.0 when nothing was tried (nothing is known) or every trial failed.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    if trials < 0 or not 0 <= failures <= max(trials, 0):
        raise ValueError(f"need 0 <= failures <= trials, got {failures} failures in {trials} trials")
    if trials in (0, failures):
        return 1.0
    if failures == 0:
        # Closed form; expm1 keeps the digits that 1 - x would lose for large n.
        return -math.expm1(math.log1p(-confidence) / trials)
    a, b = failures + 1.0, float(trials - failures)
    low, high = 0.0, 1.0
    for _ in range(_BISECTIONS):
        mid = (low + high) / 2.0
        if mid in (low, high):
            break
        if regularized_beta(a, b, mid) < confidence:
            low = mid
        else:
            high = mid
    return high


def format_percent(fraction: float) -> str:
    """A fraction as a percentage with two significant digits, never in scientific notation."""
    percent = fraction * 100.0
    if percent == 0.0:
        return "0 %"
    decimals = max(0, 1 - math.floor(math.log10(abs(percent))))
    return f"{percent:.{decimals}f} %"


class FailureBound(BaseModel):
    """What a number of requests says about the per-request failure probability."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    failures: int = Field(ge=0)
    requests: int = Field(ge=0)
    confidence: float = Field(gt=0, lt=1)
    upper: float = Field(ge=0, le=1)  # the one-sided Clopper-Pearson upper bound

    @classmethod
    def of(cls, failures: int, requests: int, confidence: float = DEFAULT_CONFIDENCE) -> FailureBound:
        return cls(failures=failures, requests=requests, confidence=confidence,
                   upper=failure_rate_upper(failures, requests, confidence))

    @property
    def observed(self) -> float | None:
        return self.failures / self.requests if self.requests else None

    def describe(self) -> str:
        """E.g. "0 failures in 48,000 requests: at most 0.0062 % at 95 %"."""
        level = f"{self.confidence * 100:g} %"
        if not self.requests:
            return f"no requests: the failure probability is not bounded at {level}"
        noun = "failure" if self.failures == 1 else "failures"
        return (f"{self.failures:,} {noun} in {self.requests:,} requests: at most "
                f"{format_percent(self.upper)} at {level}")
