"""Which request each id sends: the one place that decides. No gevent here.

The choice is a function of the scenario's seed and the request's sequence number alone, so the
same seed gives the same request for the same id in every run, whatever order the users of the two
connection modes take their ids in, and a record can be checked against it afterwards. The simple
form (``target.paths``) keeps its round robin; ``traffic.requests`` are drawn in proportion to their
weights.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
from collections.abc import Sequence

from harness.traffic.config import PlannedRequest

__all__ = ["RequestChooser"]

_SCALE = float(1 << 64)


class RequestChooser:
    """``weighted``: draw in proportion to the weights (traffic.requests); else in turn (target.paths)."""

    def __init__(self, requests: Sequence[PlannedRequest], seed: int, *, weighted: bool) -> None:
        if not requests:
            raise ValueError("traffic needs at least one request to send")
        self.requests = tuple(requests)
        self.weighted = weighted and len(self.requests) > 1
        total = sum(r.weight for r in self.requests)
        # Upper edges of each request's share of [0, 1); the last is 1.0 exactly, whatever rounding did.
        self._edges = [edge / total for edge in itertools.accumulate(r.weight for r in self.requests)]
        self._edges[-1] = 1.0
        self._key = f"{seed}:".encode()

    def for_seq(self, seq: int) -> PlannedRequest:
        """The request of sequence number ``seq`` (the id's number, 1, 2, ...)."""
        requests = self.requests
        if not self.weighted:
            return requests[seq % len(requests)]
        digest = hashlib.blake2b(self._key + str(seq).encode(), digest_size=8).digest()
        point = int.from_bytes(digest, "big") / _SCALE
        return requests[min(bisect.bisect_right(self._edges, point), len(requests) - 1)]
