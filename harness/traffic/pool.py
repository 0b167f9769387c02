"""A keep-alive client's connections, as a real HTTP client keeps them: a request takes an idle
connection, or opens one when none is idle; after a complete answer that lets the connection live,
the connection goes back to the idle ones; a connection that broke, or that the server closed or
asked to close, is dropped. No gevent here: opening and closing sockets is the caller's business.

Each connection remembers the pod that answered its previous request: when a request on it fails,
that pod is the best available guess of where it went (``RequestRecord.conn_pod``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["KeepAlivePool", "PooledConnection"]

H = TypeVar("H")


@dataclass(slots=True)
class PooledConnection(Generic[H]):
    """One persistent connection (``handle``, e.g. a socket) and what it served."""

    handle: H
    last_pod: str | None = None  # the pod that answered the previous request on this connection
    served: int = 0  # complete answers on this connection so far


@dataclass
class KeepAlivePool(Generic[H]):
    """The idle connections of one client (one traffic user), most recently used first.

    ``alive`` tells whether an idle connection is still usable (the server may have closed it while
    it sat idle: a client that sees this opens another one, it does not send into a closed
    connection); ``close`` closes one."""

    alive: Callable[[H], bool]
    close: Callable[[H], None]
    idle: list[PooledConnection[H]] = field(default_factory=list)
    opened: int = 0
    reused: int = 0
    dropped: int = 0  # closed by the pool: broken, closed by the server, or asked to close

    def take(self) -> PooledConnection[H] | None:
        """The most recently used idle connection that is still alive, or None: then the caller
        opens a connection and hands it to ``opened_one``."""
        while self.idle:
            conn = self.idle.pop()
            if self.alive(conn.handle):
                self.reused += 1
                return conn
            self._close(conn)
        return None

    def opened_one(self, handle: H) -> PooledConnection[H]:
        """A connection the caller just opened for a request; it is in use, not idle."""
        self.opened += 1
        return PooledConnection(handle)

    def give_back(self, conn: PooledConnection[H], pod: str | None) -> None:
        """After a complete answer on a connection that stays open; ``pod`` answered it."""
        conn.last_pod = pod
        conn.served += 1
        self.idle.append(conn)

    def drop(self, conn: PooledConnection[H]) -> None:
        """After a failure, or an answer that closes the connection: it is never used again."""
        self._close(conn)

    def close_all(self) -> None:
        while self.idle:
            self._close(self.idle.pop())

    def _close(self, conn: PooledConnection[H]) -> None:
        self.dropped += 1
        # Closing a connection that already broke may fail; it is gone either way.
        with contextlib.suppress(OSError):
            self.close(conn.handle)
