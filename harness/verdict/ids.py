"""Which request ids the records hold, so that judging can prove every request sent is recorded
exactly once. The traffic process numbers its requests ``<run>-<seq>``, seq 1, 2, ... ; the tally
counts, for every seq, how often a record held it (0, 1, or 2 for "more than once") in one byte.

The streaming pass fills ``seen`` inline (a method call per record would cost more than the rest);
``note`` is the same rule for one id, for callers off the hot path."""

from __future__ import annotations

__all__ = ["DEFAULT_SEQ_LIMIT", "IdTally"]

# Without a file to bound it, the largest seq kept in the tally (one byte each).
DEFAULT_SEQ_LIMIT = 1 << 24
_EXAMPLES = 3
# Adding two tallies byte by byte (no byte exceeds 4, so no carry) and capping at 2 merges them.
_CAP = bytes(min(v, 2) for v in range(256))
_PRESENT = bytes(min(v, 1) for v in range(256))


class IdTally:
    __slots__ = ("limit", "odd", "odd_examples", "prefix", "seen", "valid")

    def __init__(self, limit: int = DEFAULT_SEQ_LIMIT) -> None:
        # Seqs at or above ``limit`` cannot all be present (a file of n bytes holds fewer than
        # n / 16 records), so they are counted as odd rather than given a byte each.
        self.limit = max(1, limit)
        self.seen = bytearray()
        self.valid = 0  # records whose id has a seq in 1..limit-1
        self.odd = 0  # records whose id is not <run>-<seq> with such a seq
        self.odd_examples: list[str] = []
        self.prefix: str | None = None  # the <run> part of the first valid id, to name missing ids

    def note(self, request_id: object) -> None:
        if type(request_id) is str:
            cut = request_id.rfind("-") + 1
            tail = request_id[cut:]
            if tail.isdigit() and tail.isascii():
                seq = int(tail)
                if 0 < seq < self.limit:
                    self.mark(seq, request_id[:max(0, cut - 1)])
                    return
        self.odd_id(request_id)

    def mark(self, seq: int, prefix: str) -> None:
        seen = self.seen
        if seq >= len(seen):
            self.grow(seq)
        value = seen[seq]
        if value < 2:
            seen[seq] = value + 1
        self.valid += 1
        if self.prefix is None:
            self.prefix = prefix

    def grow(self, seq: int) -> None:
        size = min(self.limit, max(seq + 1, 2 * len(self.seen), 1024))
        self.seen.extend(bytes(size - len(self.seen)))

    def odd_id(self, request_id: object) -> None:
        self.odd += 1
        if len(self.odd_examples) < _EXAMPLES:
            self.odd_examples.append(repr(request_id)[:60])

    def merge(self, other: IdTally) -> None:
        if other.seen:
            size = max(len(self.seen), len(other.seen))
            total = int.from_bytes(self.seen, "little") + int.from_bytes(other.seen, "little")
            self.seen = bytearray(total.to_bytes(size, "little").translate(_CAP))
        self.valid += other.valid
        self.odd += other.odd
        self.odd_examples = (self.odd_examples + other.odd_examples)[:_EXAMPLES]
        if self.prefix is None:
            self.prefix = other.prefix

    # --- questions, against the last seq the traffic process gave out ---

    @property
    def distinct(self) -> int:
        return max(0, len(self.seen) - 1) - self.seen.count(0, 1)

    @property
    def extra(self) -> int:
        """Records beyond the first for an id: what a duplicated line adds."""
        return self.valid - self.distinct

    def duplicated_ids(self) -> int:
        return self.seen.count(2)

    def missing(self, max_seq: int) -> int:
        stop = min(len(self.seen), max_seq + 1)
        held = max(0, stop - 1) - self.seen.count(0, 1, stop) if stop > 1 else 0
        return max_seq - held

    def beyond(self, max_seq: int) -> int:
        """Distinct ids with a seq above ``max_seq``."""
        start = max_seq + 1
        if start >= len(self.seen):
            return 0
        return len(self.seen) - start - self.seen.count(0, start)

    def first_missing(self, max_seq: int, n: int = 5) -> list[int]:
        found: list[int] = []
        stop = min(len(self.seen), max_seq + 1)
        at = 1
        while len(found) < n and at < stop:
            at = self.seen.find(0, at, stop)
            if at < 0:
                break
            found.append(at)
            at += 1
        seq = max(stop, 1)
        while len(found) < n and seq <= max_seq:
            found.append(seq)
            seq += 1
        return found

    def first_duplicated(self, n: int = 5) -> list[int]:
        found: list[int] = []
        at = 1
        while len(found) < n:
            at = self.seen.find(2, at)
            if at < 0:
                break
            found.append(at)
            at += 1
        return found

    def first_beyond(self, max_seq: int, n: int = 5) -> list[int]:
        start = max_seq + 1
        present = self.seen[start:].translate(_PRESENT)
        found: list[int] = []
        at = 0
        while len(found) < n:
            at = present.find(1, at)
            if at < 0:
                break
            found.append(start + at)
            at += 1
        return found

    def name(self, seq: int) -> str:
        return f"{self.prefix}-{seq:08d}" if self.prefix else f"seq {seq}"
