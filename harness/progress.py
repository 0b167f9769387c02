"""One status line on the terminal while a run goes on (rich), or log lines when not a terminal."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from harness.log import console, get_logger

if TYPE_CHECKING:
    from harness.traffic.runner import TrafficProcess

__all__ = ["Progress"]

log = get_logger(__name__)


class Progress:
    def __init__(self) -> None:
        self.phase = "starting"
        self.traffic: TrafficProcess | None = None
        self._stop = threading.Event()

    def _text(self) -> str:
        text = f"[bold]{self.phase}[/]"
        status = self.traffic.status if self.traffic is not None else None
        if status is not None and status.sent:
            failed = f"[red]{status.failed}[/]" if status.failed else "0"
            text += (f"  sent {status.sent}  ok {status.ok}  failed {failed}  in flight {status.inflight}"
                     f"  {status.rps:g} req/s")
        return text

    @contextlib.contextmanager
    def show(self) -> Iterator[Progress]:
        if not console.is_terminal:
            yield self
            return
        with console.status(self._text()) as status:

            def refresh() -> None:
                while not self._stop.wait(0.5):
                    status.update(self._text())

            thread = threading.Thread(target=refresh, name="progress", daemon=True)
            thread.start()
            try:
                yield self
            finally:
                self._stop.set()
                thread.join(timeout=2)

    def set(self, phase: str) -> None:
        self.phase = phase
        if not console.is_terminal:
            log.info("%s", phase)
