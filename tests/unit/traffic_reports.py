"""Hand-made records as the traffic process writes them, with the final report it would send.

Hand-made records carry readable ids (``r900``); the traffic process numbers its requests
``<run>-<seq>``. ``accounted`` turns each id into ``<old id>-<seq>`` in list order, so a test still
finds its record by ``label(id)``, and builds the matching TrafficReport.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from harness.evidence import LinesDigest, RequestRecord, TrafficReport, file_digest, is_ok_status, request_seq


def label(request_id: str) -> str:
    """The id a test gave a record before ``accounted`` numbered it."""
    return request_id.rsplit("-", 1)[0]


def accounted(records: Iterable[RequestRecord]) -> tuple[list[RequestRecord], TrafficReport]:
    numbered = [dataclasses.replace(r, id=f"{r.id}-{seq:08d}") for seq, r in enumerate(records, start=1)]
    return numbered, report_for(numbered)


def report_for(records: list[RequestRecord]) -> TrafficReport:
    """What the traffic process reports after writing exactly ``records``, one line each."""
    digest = LinesDigest()
    by_user: dict[str, int] = {}
    by_conn: dict[str, int] = {}
    for r in records:
        digest.update((r.to_json() + "\n").encode())
        by_user[r.user] = by_user.get(r.user, 0) + 1
        by_conn[r.conn.value] = by_conn.get(r.conn.value, 0) + 1
    ok = sum(1 for r in records if r.ok)
    return TrafficReport(sent=len(records), ok=ok, failed=len(records) - ok, by_user=by_user, by_conn=by_conn,
                         lines=len(records), digest=digest.hexdigest(), max_seq=len(records), ended="stopped")


def report_for_file(path: Path, ended: Literal["stopped", "max_duration"] = "stopped") -> TrafficReport:
    """The report of a traffic process that wrote exactly the file ``path`` as it is now: every
    non-empty line a request it sent (a line that is no record still counts as sent)."""
    by_user: dict[str, int] = {}
    by_conn: dict[str, int] = {}
    sent = ok = max_seq = 0
    for raw in path.read_bytes().splitlines():
        if not raw.strip():
            continue
        sent += 1
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        user, conn = str(data.get("user", "")), str(data.get("conn", "keep-alive"))
        by_user[user] = by_user.get(user, 0) + 1
        by_conn[conn] = by_conn.get(conn, 0) + 1
        ok += data.get("error") is None and data.get("m_end") is not None and is_ok_status(data.get("status"))
        seq = request_seq(str(data.get("id", "")))
        max_seq = max(max_seq, seq or 0)
    digest, lines = file_digest(path)
    return TrafficReport(sent=sent, ok=ok, failed=sent - ok, by_user=by_user, by_conn=by_conn, lines=lines,
                         digest=digest, max_seq=max_seq, ended=ended)
