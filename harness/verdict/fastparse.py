"""Typed decoding of the fields of a request line that the judging pass reads.

``json.loads`` builds a dict of every field and was most of the cost of judging a large run.
msgspec decodes a line straight into a struct of the fields the pass reads, checking their types
as it goes, several times faster. It decides a line only when the answer is sure to be the one the
``json`` path gives; any other line is left to that path (the caller's check of the line fails, or
``decode`` raises), so the verdict is the same whichever path reads a line:

- Only ASCII lines (what the traffic process writes): ``json`` rejects a line that is not UTF-8
  anywhere in it and decodes UTF-8 surrogates, while msgspec checks only the strings it keeps.
- Only lines of at most ``MAX_LINE_BYTES``: too short for an integer of more than 4,300 digits
  (which ``json`` refuses) or for nesting deep enough to reach ``json``'s recursion limit.
- Each field has the types the ``json`` path's shape check lets through, and strictly: msgspec
  refuses ``true`` for a number, ``200.0`` for a status or ``187.0`` for bytes, and the ``json`` path
  judges such a line as it always did (a status that is not an integer is a bad status).
- NaN, Infinity and numbers out of a float's range are refused by msgspec and go to the ``json``
  path, which counts them malformed. A duplicated key keeps its last value, as with ``json``.
- Times read as numbers the same way: correctly rounded, integers too. The caller adds 0.0 to each,
  as the ``json`` path does, which turns -0.0 into 0.0.
"""

from __future__ import annotations

import msgspec

__all__ = ["MAX_LINE_BYTES", "HotFields", "decode"]

# Decided only for ASCII lines of at most this many bytes: nesting deep enough for json's recursion
# limit (1,000) takes twice as many.
MAX_LINE_BYTES = 1024


class HotFields(msgspec.Struct, gc=False):
    """The fields of a request line that the judging pass reads or checks, typed as the ``json``
    path accepts them without falling back to RequestRecord.from_dict. Other keys are skipped."""

    id: str
    m_start: float
    t_start: float
    user: str = ""
    conn: str = "keep-alive"
    m_end: float | None = None
    t_end: float | None = None
    t_sched: float | None = None
    m_sched: float | None = None
    status: int | None = None
    error: str | None = None
    pod: str | None = None
    version: str | None = None
    req: str | None = None
    expect: list[int] | None = None
    # Checked only: the json path sends a line with other types here to RequestRecord.from_dict.
    bytes: int = 0
    detail: str | None = None
    conn_pod: str | None = None


decode = msgspec.json.Decoder(HotFields).decode
