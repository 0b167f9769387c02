"""The run's progress without a terminal: a line per phase, a heartbeat with the live counts at most
every 30 s; driven by an injected clock."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, cast

import pytest

from harness.progress import Heartbeat, Progress, human_duration
from harness.traffic.protocol import TrafficStatus

if TYPE_CHECKING:
    from harness.traffic.runner import TrafficProcess


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


class FakeTraffic:
    """Stands in for TrafficProcess: the progress reads only its latest status."""

    def __init__(self, status: TrafficStatus) -> None:
        self.status = status


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0 s"), (59.4, "59 s"), (60, "1 min 0 s"), (370, "6 min 10 s"), (3725, "1 h 2 min"), (-3, "0 s"),
])
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_heartbeat_is_due_once_per_interval() -> None:
    clock = FakeClock()
    beat = Heartbeat(30.0, clock)
    clock.now += 29
    assert not beat.due()
    clock.now += 1
    assert beat.due()
    assert not beat.due()
    clock.now += 20
    beat.reset()
    clock.now += 20
    assert not beat.due()
    clock.now += 10
    assert beat.due()


def test_a_line_per_phase_change(caplog: pytest.LogCaptureFixture) -> None:
    progress = Progress(clock=FakeClock(), terminal=False)
    with caplog.at_level(logging.INFO, logger="harness"):
        progress.set("deploying into namespace rh-1")
        progress.set("steady state")
    assert [r.getMessage() for r in caplog.records] == ["deploying into namespace rh-1", "steady state"]


def test_heartbeat_with_the_live_counts() -> None:
    clock = FakeClock()
    progress = Progress(clock=clock, terminal=False)
    progress.set("steady state")
    clock.now += 29
    assert progress.heartbeat_line() is None
    clock.now += 1
    assert progress.heartbeat_line() == "still steady state (30 s)"
    status = TrafficStatus(sent=12345, ok=12340, failed=5, inflight=3, rps=49.5)
    progress.traffic = cast("TrafficProcess", FakeTraffic(status))
    progress.set("step 1/2: rollout restart")
    clock.now += 15
    assert progress.heartbeat_line() is None
    clock.now += 20
    assert progress.heartbeat_line() == ("still step 1/2: rollout restart (35 s): sent 12,345, ok 12,340, failed 5, "
                                         "in flight 3, 49.5 req/s")
    clock.now += 29
    assert progress.heartbeat_line() is None
