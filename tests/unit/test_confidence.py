"""The exact binomial upper bound against reference values, and how it is stated."""

from __future__ import annotations

import math

import pytest

from harness.confidence import FailureBound, failure_rate_upper, format_percent, regularized_beta

# (failures, requests, confidence, upper bound). The bounds were computed offline with SciPy 1.17.1 as
# scipy.stats.beta.ppf(confidence, failures + 1, requests - failures), the one-sided Clopper-Pearson
# upper limit; SciPy is not a dependency of the harness.
REFERENCE = [
    (0, 1, 0.95, 0.95),
    (0, 100, 0.95, 0.029513049607039925),
    (0, 48000, 0.95, 6.240914150087374e-05),
    (1, 1000, 0.95, 0.004734993575499777),
    (3, 10000, 0.99, 0.0010041579653778244),
    (10, 100, 0.95, 0.16371762327581477),
    (50, 100, 0.95, 0.5863782853690882),
    (104, 1506, 0.95, 0.08077434165181079),
    (99, 100, 0.95, 0.9994871985837377),
    (1000, 1000000, 0.95, 0.0010535748774544362),
    (0, 1000000, 0.999, 6.907731420495575e-06),
    (2, 20, 0.8, 0.20199764120125868),
    (14, 1506, 0.95, 0.014494792253183066),
    (5, 48000, 0.99, 0.00027307034379012136),
    (0, 2000, 0.5, 0.0003465135405906454),
    (250000, 1000000, 0.95, 0.25071327670785687),
]


@pytest.mark.parametrize(("failures", "requests", "confidence", "expected"), REFERENCE)
def test_upper_bound_matches_the_reference(failures: int, requests: int, confidence: float, expected: float) -> None:
    assert failure_rate_upper(failures, requests, confidence) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize(("failures", "requests", "confidence", "expected"), REFERENCE)
def test_at_the_bound_seeing_that_few_failures_has_exactly_the_remaining_chance(
        failures: int, requests: int, confidence: float, expected: float) -> None:
    # P(X <= x | n, p) = 1 - I_p(x + 1, n - x): at the upper bound it equals 1 - confidence.
    if failures < requests:
        tail = 1 - regularized_beta(failures + 1, requests - failures, expected)
        assert tail == pytest.approx(1 - confidence, rel=1e-8)


def test_regularized_beta_against_closed_forms() -> None:
    # I_x(1, b) = 1 - (1 - x)^b and I_x(a, 1) = x^a.
    assert regularized_beta(1, 7, 0.2) == pytest.approx(1 - 0.8**7, rel=1e-14)
    assert regularized_beta(5, 1, 0.3) == pytest.approx(0.3**5, rel=1e-13)
    assert regularized_beta(2.5, 2.5, 0.5) == pytest.approx(0.5, rel=1e-14)  # symmetric
    assert regularized_beta(3, 4, 0.0) == 0.0
    assert regularized_beta(3, 4, 1.0) == 1.0
    with pytest.raises(ValueError, match="must be > 0"):
        regularized_beta(0, 1, 0.5)


def test_no_failure_is_the_closed_form_and_the_rule_of_three() -> None:
    n = 48_000
    assert failure_rate_upper(0, n) == pytest.approx(1 - 0.05 ** (1 / n), rel=1e-12)
    assert failure_rate_upper(0, n) == pytest.approx(3 / n, rel=0.01)


def test_the_bound_shrinks_with_requests_and_grows_with_failures_and_confidence() -> None:
    assert failure_rate_upper(0, 1000) > failure_rate_upper(0, 2000) > failure_rate_upper(0, 4000)
    assert failure_rate_upper(0, 1000) < failure_rate_upper(1, 1000) < failure_rate_upper(5, 1000)
    assert failure_rate_upper(2, 1000, 0.9) < failure_rate_upper(2, 1000, 0.95) < failure_rate_upper(2, 1000, 0.99)
    # Always above what was observed.
    assert failure_rate_upper(10, 100) > 10 / 100


def test_edges_say_nothing_is_known_or_refuse_impossible_counts() -> None:
    assert failure_rate_upper(0, 0) == 1.0
    assert failure_rate_upper(7, 7) == 1.0
    for bad in [(-1, 10, 0.95), (11, 10, 0.95), (0, -1, 0.95), (0, 10, 1.0), (0, 10, 0.0), (0, 10, math.nan)]:
        with pytest.raises(ValueError):
            failure_rate_upper(*bad)


def test_the_bound_is_stated_with_its_numbers_and_level() -> None:
    assert FailureBound.of(0, 48_000).describe() == "0 failures in 48,000 requests: at most 0.0062 % at 95 %"
    bound = FailureBound.of(44, 3012, 0.99)
    assert bound.describe().startswith("44 failures in 3,012 requests: at most ")
    assert bound.describe().endswith(" % at 99 %")
    assert bound.observed == pytest.approx(44 / 3012)
    assert "not bounded" in FailureBound.of(0, 0).describe()
    assert FailureBound.of(1, 10).describe().startswith("1 failure in 10 requests")


def test_percentages_keep_two_significant_digits_without_exponents() -> None:
    assert format_percent(6.240914150087374e-05) == "0.0062 %"
    assert format_percent(0.0808) == "8.1 %"
    assert format_percent(0.25) == "25 %"
    assert format_percent(1.0) == "100 %"
    assert format_percent(3e-9) == "0.00000030 %"
    assert format_percent(0.0) == "0 %"
