"""Progress while something long goes on: a rich status line on a terminal; without one (CI), a
log line per phase and a heartbeat line at most every ``HEARTBEAT_S`` seconds, so a quiet log
never reads as a hung job.

``Heartbeat`` and ``human_duration`` are shared with the node-image build (harness/cluster/build_progress.py).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from harness.log import console, get_logger

if TYPE_CHECKING:
    from harness.traffic.protocol import TrafficStatus
    from harness.traffic.runner import TrafficProcess

__all__ = ["HEARTBEAT_S", "Clock", "Heartbeat", "Progress", "human_duration"]

log = get_logger(__name__)

HEARTBEAT_S = 30.0
# How often the display thread looks at the live counts; a heartbeat is still at most one per HEARTBEAT_S.
_POLL_S = 0.5

Clock = Callable[[], float]


def human_duration(seconds: float) -> str:
    """``6 min 10 s``: what a reader of a CI log takes in at a glance."""
    total = max(0, round(seconds))
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


class Heartbeat:
    """Says when a heartbeat line is due: ``interval_s`` after the last line of any kind."""

    def __init__(self, interval_s: float = HEARTBEAT_S, clock: Clock = time.monotonic) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._last = clock()

    def reset(self) -> None:
        """A line was just written (a phase or step change): the next heartbeat waits a full interval."""
        self._last = self._clock()

    def due(self) -> bool:
        now = self._clock()
        if now - self._last < self.interval_s:
            return False
        self._last = now
        return True


def _counts(status: TrafficStatus) -> str:
    return (f"sent {status.sent:,}, ok {status.ok:,}, failed {status.failed:,}, in flight {status.inflight:,}, "
            f"{status.rps:g} req/s")


class Progress:
    def __init__(self, *, clock: Clock = time.monotonic, terminal: bool | None = None) -> None:
        self.phase = "starting"
        self.traffic: TrafficProcess | None = None
        self.terminal = console.is_terminal if terminal is None else terminal
        self._clock = clock
        self._phase_started = clock()
        self._heartbeat = Heartbeat(clock=clock)
        self._stop = threading.Event()

    def _text(self) -> str:
        text = f"[bold]{self.phase}[/]"
        status = self.traffic.status if self.traffic is not None else None
        if status is not None and status.sent:
            failed = f"[red]{status.failed}[/]" if status.failed else "0"
            text += (f"  sent {status.sent}  ok {status.ok}  failed {failed}  in flight {status.inflight}"
                     f"  {status.rps:g} req/s")
        return text

    def heartbeat_line(self) -> str | None:
        """The plain heartbeat line when one is due, else None."""
        if not self._heartbeat.due():
            return None
        line = f"still {self.phase} ({human_duration(self._clock() - self._phase_started)})"
        status = self.traffic.status if self.traffic is not None else None
        if status is not None and status.sent:
            line += f": {_counts(status)}"
        return line

    @contextlib.contextmanager
    def show(self) -> Iterator[Progress]:
        if not self.terminal:
            with self._ticking(self._beat):
                yield self
            return
        with console.status(self._text()) as status, self._ticking(lambda: status.update(self._text())):
            yield self

    def _beat(self) -> None:
        line = self.heartbeat_line()
        if line is not None:
            log.info("%s", line)

    @contextlib.contextmanager
    def _ticking(self, tick: Callable[[], None]) -> Iterator[None]:
        def loop() -> None:
            while not self._stop.wait(_POLL_S):
                tick()

        thread = threading.Thread(target=loop, name="progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            self._stop.set()
            thread.join(timeout=2)

    def set(self, phase: str) -> None:
        self.phase = phase
        self._phase_started = self._clock()
        if not self.terminal:
            self._heartbeat.reset()
            log.info("%s", phase)
