"""One HTTP/1.1 request on a socket the caller owns: the open-loop users' client.

The sockets are the caller's (one per request, or a ``KeepAlivePool``), so what a connection does is
decided there and nowhere else: nothing here opens a second connection, and nothing re-sends a
request whose connection broke. geventhttpclient's parser reads the answer. Imported by the traffic
process only (gevent).
"""

from __future__ import annotations

import errno
import select
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gevent.select
import gevent.socket
import gevent.ssl
from geventhttpclient.response import HTTPSocketResponse

__all__ = ["Answer", "alive", "close", "connect", "exchange", "first_byte", "read_answer",
           "request_head", "tls_context"]


@dataclass(slots=True)
class Answer:
    """A response read to its end (or to the end of the connection)."""

    status: int
    headers: dict[str, str]  # lower-case names; a repeated header's values joined with ", "
    body: bytes
    complete: bool  # the message ended as its framing says (the parser saw its end)
    keep: bool  # the connection may carry another request


class _NamedContext(gevent.ssl.SSLContext):  # type: ignore[misc]  # gevent ships no types
    """A client context that sends (and checks the certificate against) one fixed server name,
    whatever address the caller connects to: the same for the open-loop sockets and for
    geventhttpclient, which passes the URL's host."""

    server_name: str | None = None

    def wrap_socket(self, sock: socket.socket, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        if self.server_name is not None:
            kwargs["server_hostname"] = self.server_name
        wrapped: ssl.SSLSocket = super().wrap_socket(sock, *args, **kwargs)
        return wrapped


def tls_context(*, verify: bool, ca_file: str | None = None, server_name: str | None = None
                ) -> gevent.ssl.SSLContext:
    """TLS as the scenario's traffic.tls says: verified against ``ca_file`` (else the system's CAs)
    and ``server_name`` (else the host connected to), or not checked at all (a self-signed test
    certificate): the harness then judges whether requests are answered, not the certificate."""
    context = _NamedContext(gevent.ssl.PROTOCOL_TLS_CLIENT)
    context.server_name = server_name
    if verify:
        if ca_file is not None:
            context.load_verify_locations(cafile=ca_file)
        else:
            context.load_default_certs()
    else:
        context.check_hostname = False
        context.verify_mode = gevent.ssl.CERT_NONE
    return context


def connect(host: str, port: int, connect_timeout_s: float, timeout_s: float,
            tls: gevent.ssl.SSLContext | None = None) -> gevent.socket.socket:
    sock = gevent.socket.create_connection((host, port), timeout=connect_timeout_s)
    try:
        # Requests are single small writes; Nagle's delay would only add latency.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname=host)
        sock.settimeout(timeout_s)
    except BaseException:
        sock.close()
        raise
    return sock


# Methods whose requests carry a body by their meaning: Content-Length is sent even for an empty one.
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def request_head(host: str, path: str, request_id: str, *, close_after: bool, method: str = "GET",
                 headers: Mapping[str, str] | None = None, body: bytes = b"") -> bytes:
    """The whole request, its body included. ``headers`` are the scenario's own (checked there: no
    Host, Content-Length, Connection, Transfer-Encoding or X-Request-ID, which are set here)."""
    own = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    length = f"Content-Length: {len(body)}\r\n" if body or method in _BODY_METHODS else ""
    connection = "Connection: close\r\n" if close_after else ""
    head = (f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: rollout-harness\r\n{own}"
            f"X-Request-ID: {request_id}\r\n{length}{connection}\r\n").encode("latin-1")
    return head + body if body else head


_HEADERS = ("x-pod", "x-version", "content-length", "connection")


def exchange(sock: gevent.socket.socket, head: bytes, method: str = "GET") -> Answer:
    """Send ``head`` and read the answer to its end. Raises what the socket or the parser raised."""
    sock.sendall(head)
    return read_answer(sock, method)


def first_byte(sock: gevent.socket.socket) -> bool:
    """Wait until the answer's first byte (or the connection's end) arrives; False when the peer
    closed without a byte. Nothing is consumed. A TLS socket cannot peek: it waits until the socket
    is readable, which a TLS record other than the answer (a session ticket) can also make it."""
    if isinstance(sock, ssl.SSLSocket):
        if sock.pending():
            return True
        gevent.select.select([sock], [], [])
        return True
    return bool(sock.recv(1, socket.MSG_PEEK))


def read_answer(sock: gevent.socket.socket, method: str = "GET") -> Answer:
    """Read an answer to its end (the answer to a HEAD has no body, whatever it announces). Raises
    what the socket or the parser raised."""
    resp = HTTPSocketResponse(sock, method=method)
    body = resp.read()
    headers: dict[str, str] = {}
    for name in _HEADERS:
        value = resp.get(name)
        if value is not None:
            headers[name] = value if isinstance(value, str) else ", ".join(value)
    complete = resp.message_complete
    return Answer(status=resp.status_code, headers=headers, body=body, complete=complete,
                  keep=complete and not resp.should_close())


def alive(sock: gevent.socket.socket) -> bool:
    """Whether an idle keep-alive socket can carry a request: an idle connection has nothing to
    read, so a readable one was closed (or sent something unasked) and is not reused."""
    try:
        if sock.fileno() < 0:
            return False
        readable, _, _ = select.select([sock], [], [], 0.0)
    except (OSError, ValueError):
        return False
    return not readable


def close(sock: gevent.socket.socket) -> None:
    try:
        sock.close()
    except OSError as exc:
        if exc.errno not in (errno.EBADF, errno.ENOTCONN):
            raise
