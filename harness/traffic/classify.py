"""Mapping client exceptions to the evidence's error kinds. No gevent import: unit-testable."""

from __future__ import annotations

import socket

from harness.evidence import ErrorKind

__all__ = ["classify"]


def classify(exc: BaseException) -> ErrorKind:
    if isinstance(exc, ConnectionRefusedError):
        return ErrorKind.REFUSED
    name = type(exc).__name__.lower()
    # gevent.Timeout is not an OSError; it is recognised by name so this module needs no gevent.
    if isinstance(exc, (TimeoutError, socket.timeout)) or name == "timeout":
        return ErrorKind.TIMEOUT
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError, EOFError)):
        return ErrorKind.RESET
    text = str(exc).lower()
    if "refused" in text:
        return ErrorKind.REFUSED
    if "timeout" in name or "timed out" in text:
        return ErrorKind.TIMEOUT
    # geventhttpclient reports a connection closed mid-response as a parse or "closed" error.
    if any(word in name or word in text for word in ("reset", "closed", "parse", "incomplete", "eof", "broken")):
        return ErrorKind.RESET
    return ErrorKind.OTHER
