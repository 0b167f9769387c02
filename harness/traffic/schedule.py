"""When each request is due: the arrival schedule of one connection mode, and the cap on requests in
flight. No gevent here: the worker drives these, the unit tests check them.

An open-loop client sends at its rate whatever the service does, so a request is due at a time fixed
in advance, never "when the previous answer came back": the loss counted is then the loss a steady
stream of clients sees, also while every earlier request hangs.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import Literal

__all__ = ["Arrivals", "DueTimes", "InFlight", "arrival_offsets", "default_in_flight_cap", "mode_rng"]

Arrivals = Literal["uniform", "poisson"]

# Room above the steady number in flight (rate x timeout): arrivals bunch up, and an answer that
# times out frees its place only when the generator has run the timeout.
_CAP_HEADROOM = 1.2


def mode_rng(seed: int, mode: str) -> random.Random:
    """The random source of one connection mode's arrivals: the same seed and mode give the same
    schedule in every run, and the modes of one run are independent of each other."""
    # A str seed goes through sha512 in random.seed, so it is stable across processes and versions.
    return random.Random(f"{seed}:{mode}")


def arrival_offsets(rate: float, arrivals: Arrivals, rng: random.Random | None = None) -> Iterator[float]:
    """Seconds from the schedule's origin at which requests are due, ascending, without end.

    ``uniform``: every ``1 / rate`` seconds, the first at 0. ``poisson``: exponential gaps of mean
    ``1 / rate`` (a Poisson process, as independent clients make), the first after one gap; needs
    ``rng`` (see ``mode_rng``). Offsets are computed as k / rate and as a running sum, so no float
    drift accumulates over a long uniform run."""
    if not rate > 0 or math.isinf(rate):
        raise ValueError(f"rate must be a positive finite number, got {rate!r}")
    if arrivals == "uniform":
        period = 1.0 / rate
        k = 0
        while True:
            yield k * period
            k += 1
    if rng is None:
        raise ValueError("poisson arrivals need a seeded random source")
    expovariate = rng.expovariate
    t = 0.0
    while True:
        t += expovariate(rate)
        yield t


class DueTimes:
    """One connection mode's schedule on the clocks: each ``next()`` is the next request's due time,
    monotonic and wall clock. Shared by the mode's users, each taking the next due request when it
    has sent its last one, so together they send exactly this schedule, however they interleave."""

    __slots__ = ("_offsets", "origin_m", "origin_t", "taken")

    def __init__(self, offsets: Iterator[float], origin_m: float, origin_t: float) -> None:
        self._offsets = offsets
        self.origin_m = origin_m
        self.origin_t = origin_t
        self.taken = 0

    def next(self) -> tuple[float, float]:
        offset = next(self._offsets)
        self.taken += 1
        return self.origin_m + offset, self.origin_t + offset


def default_in_flight_cap(rate: float, timeout_s: float, users: int) -> int:
    """How many requests of one mode may be in flight at once unless the scenario says otherwise:
    what a service that answers nothing holds at this rate until the timeout (rate x timeout), with
    room for bunched arrivals, plus one per user."""
    return math.ceil(rate * timeout_s * _CAP_HEADROOM) + users


class InFlight:
    """Requests of one connection mode in flight, held under a cap. A request that finds the cap
    reached is not sent; the caller records it as such, so nothing scheduled goes missing."""

    __slots__ = ("cap", "current", "not_sent", "peak")

    def __init__(self, cap: int) -> None:
        if cap < 1:
            raise ValueError(f"the in-flight cap must be at least 1, got {cap}")
        self.cap = cap
        self.current = 0
        self.peak = 0
        self.not_sent = 0

    def try_start(self) -> bool:
        """Take a place for one request; False (and counted) when the cap is reached."""
        if self.current >= self.cap:
            self.not_sent += 1
            return False
        self.current += 1
        if self.current > self.peak:  # noqa: PLR1730 - cheaper than max() once per request
            self.peak = self.current
        return True

    def done(self) -> None:
        """Give back the place of a request that ended, however it ended."""
        if self.current <= 0:
            raise RuntimeError("a request ended that never started")
        self.current -= 1
