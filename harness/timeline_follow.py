"""Reading the run's own timeline file while the observers still write it.

Helpers that react to pod changes (container ends, pod logs) follow ``timeline.jsonl`` rather than
watching the API themselves, so they need no watch of their own and see exactly the pods the
observers saw.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.evidence import TimelineEvent

__all__ = ["TimelineFollower"]


class TimelineFollower:
    """Hands out each complete timeline line once, in file order; a torn last line (the writer is in
    the middle of it) waits for its end, and an unreadable line is skipped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0

    def new_events(self) -> list[TimelineEvent]:
        """The events written since the previous call."""
        if not self.path.exists():
            return []
        with self.path.open("rb") as fh:
            fh.seek(self._offset)
            chunk = fh.read()
        end = chunk.rfind(b"\n")
        if end < 0:
            return []
        self._offset += end + 1
        events: list[TimelineEvent] = []
        for raw in chunk[: end + 1].splitlines():
            try:
                events.append(TimelineEvent.from_dict(json.loads(raw)))
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
        return events
