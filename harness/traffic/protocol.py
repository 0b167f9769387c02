"""What the traffic process tells its runner on stdout, one JSON object a line:

- ``{"status": TrafficStatus}`` once a second while it runs;
- ``{"done": TrafficReport}`` once, after the last record was written.

And what the runner tells it: started with ``HOLD_FLAG``, it waits for ``GO_LINE`` on stdin before
its schedule begins; stdin closed without it means the run ended first, and it exits sending nothing.

No gevent here: both ends import it.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.evidence import TrafficReport

__all__ = ["FIRST_ANSWERS", "GO_LINE", "HOLD_FLAG", "TrafficStatus", "done_line", "parse_line", "status_line"]

HOLD_FLAG = "--hold"
# The answers the harness waits for before its steady state begins.
FIRST_ANSWERS = 5
GO_LINE = b"go\n"


class TrafficStatus(BaseModel):
    """The traffic process's counts at one instant; all zero before its first status line."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    sent: int = Field(default=0, ge=0)
    ok: int = Field(default=0, ge=0)
    failed: int = Field(default=0, ge=0)
    # Of the failed: answers outside their request's expect_status. The service answered, and the
    # verdict judges them (gate expected_status); they are no sign of a test bed that is not ready.
    unexpected: int = Field(default=0, ge=0)
    inflight: int = Field(default=0, ge=0)
    rps: float = Field(default=0.0, ge=0)  # requests sent per second over the last interval
    m: float = 0.0  # time.monotonic() of the traffic process when it counted
    by_conn: dict[str, int] = Field(default_factory=dict)  # requests sent per connection mode


def status_line(status: TrafficStatus) -> str:
    return json.dumps({"status": status.model_dump(mode="json")}) + "\n"


def done_line(report: TrafficReport) -> str:
    return json.dumps({"done": report.model_dump(mode="json")}) + "\n"


def parse_line(raw: bytes | str) -> TrafficStatus | TrafficReport | None:
    """The message on one stdout line. None for a line that is no message (a library may print);
    ValueError for a message that is recognisable but does not hold what it must."""
    try:
        msg = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(msg, dict):
        return None
    try:
        if "done" in msg:
            return TrafficReport.model_validate(msg["done"])
        if "status" in msg:
            return TrafficStatus.model_validate(msg["status"])
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ValueError(f"field {where}: {first['msg']}") from exc
    return None
