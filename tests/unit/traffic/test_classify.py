from __future__ import annotations

import pytest

from harness.evidence import ErrorKind
from harness.traffic.classify import classify


class HTTPParseError(Exception):
    pass


class Timeout(BaseException):
    pass


@pytest.mark.parametrize(("exc", "kind"), [
    (ConnectionRefusedError(111, "Connection refused"), ErrorKind.REFUSED),
    (OSError("[Errno 111] Connection refused"), ErrorKind.REFUSED),
    (ConnectionResetError(104, "Connection reset by peer"), ErrorKind.RESET),
    (BrokenPipeError(), ErrorKind.RESET),
    (HTTPParseError("connection closed before a complete response"), ErrorKind.RESET),
    (TimeoutError("timed out"), ErrorKind.TIMEOUT),
    (TimeoutError(), ErrorKind.TIMEOUT),
    (Timeout(), ErrorKind.TIMEOUT),
    (ValueError("something else"), ErrorKind.OTHER),
])
def test_classify(exc: BaseException, kind: ErrorKind) -> None:
    assert classify(exc) is kind


def test_users_start_spread_over_their_period() -> None:
    from harness.traffic.config import TrafficConfig

    fast = TrafficConfig(url="http://127.0.0.1:1", out="/tmp/x", run_id="r", rate=200, users=20)
    slow = TrafficConfig(url="http://127.0.0.1:1", out="/tmp/x", run_id="r", rate=10, users=90)
    glacial = TrafficConfig(url="http://127.0.0.1:1", out="/tmp/x", run_id="r", rate=1, users=50)
    assert fast.spawn_rate == 200  # period 0.1 s: all users within a tenth of a second
    assert slow.spawn_rate == 10  # period 9 s: one user started every 0.1 s over 9 s
    assert glacial.spawn_rate == 5  # spread capped at 10 s
