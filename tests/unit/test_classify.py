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
