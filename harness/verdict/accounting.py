"""Gate: the request records are complete and unaltered.

The traffic process reports what it sent and wrote (``harness.evidence.TrafficReport``). A PASS must
rest on exactly those records, so ``records_accounted`` is ERROR unless the records match the report:
as many records as requests sent, in total, per user class and per connection mode; ids with seq
1..max_seq each exactly once; as many lines as were written, with the same digest. A run without
the report cannot be proven complete, so it is ERROR too, and so is a report saying the process
stopped by its own deadline. Every difference is named with its numbers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.verdict.model import GateConfig, GateResult, GateStatus

if TYPE_CHECKING:  # gates.py registers this gate, so its Evidence is imported for typing only
    from harness.verdict.gates import Evidence

__all__ = ["records_accounted"]

NAME = "records_accounted"
_SHOWN = 5


def _per_key(what: str, recorded: dict[str, int], sent: dict[str, int]) -> list[str]:
    return [f"{what} {key}: {recorded.get(key, 0)} records, {sent.get(key, 0)} sent"
            for key in sorted(set(recorded) | set(sent)) if recorded.get(key, 0) != sent.get(key, 0)]


def _listed(names: list[str], total: int) -> str:
    more = f", ... ({total - len(names)} more)" if total > len(names) else ""
    return ", ".join(names) + more


def records_accounted(evidence: Evidence, config: GateConfig) -> GateResult:
    report = evidence.facts.traffic
    summary = evidence.summary
    counts = summary.counts
    ids = summary.ids
    records = counts.total
    if report is None:
        return GateResult(name=NAME, status=GateStatus.ERROR,
                          reason="the traffic process's own counts are missing, so the records cannot be "
                                 "proven complete", numbers={"records": records})
    max_seq = report.max_seq
    missing = ids.missing(max_seq)
    beyond = ids.beyond(max_seq)
    numbers: dict[str, float | int | str | bool | None] = {
        "records": records, "sent": report.sent, "lines": summary.lines, "lines_written": report.lines,
        "max_seq": max_seq, "missing_ids": missing, "duplicate_records": ids.extra, "ids_beyond": beyond,
        "odd_ids": ids.odd, "digest_matches": summary.digest == report.digest,
    }
    problems: list[str] = []
    if report.ended != "stopped":
        # Sending stopped by the process's own deadline, not when the run was done with it.
        problems.append(f"the traffic process stopped sending on its own ({report.ended}), not when the run "
                        "told it to, so traffic may not have covered the run")
    if records != report.sent:
        problems.append(f"{records} records for {report.sent} requests sent ({records - report.sent:+d})")
    problems += _per_key("user class", {u: c.total for u, c in counts.by_user.items()}, report.by_user)
    problems += _per_key("connection mode", {m: c.total for m, c in counts.by_conn.items()}, report.by_conn)
    if missing:
        shown = [ids.name(s) for s in ids.first_missing(max_seq, _SHOWN)]
        problems.append(f"{missing} of the ids 1..{max_seq} have no record ({_listed(shown, missing)})")
    if ids.extra:
        dup = ids.duplicated_ids()
        shown = [ids.name(s) for s in ids.first_duplicated(_SHOWN)]
        problems.append(f"{dup} ids are recorded more than once, {ids.extra} extra records "
                        f"({_listed(shown, dup)})")
    if beyond:
        shown = [ids.name(s) for s in ids.first_beyond(max_seq, _SHOWN)]
        problems.append(f"{beyond} ids lie beyond the last one sent ({max_seq}): {_listed(shown, beyond)}")
    if ids.odd:
        problems.append(f"{ids.odd} records have an id that is not <run>-<seq> with a possible seq "
                        f"({_listed(ids.odd_examples, ids.odd)})")
    if summary.lines is None:
        problems.append("the lines of requests.jsonl were not counted")
    elif summary.lines != report.lines:
        problems.append(f"requests.jsonl has {summary.lines} lines, the traffic process wrote {report.lines} "
                        f"({summary.lines - report.lines:+d})")
    if summary.digest is None:
        problems.append("the digest of requests.jsonl could not be computed")
    elif summary.digest != report.digest:
        problems.append(f"the digest of requests.jsonl ({summary.digest[:23]}...) is not the one the traffic "
                        f"process computed over what it wrote ({report.digest[:23]}...)")
    if problems:
        return GateResult(name=NAME, status=GateStatus.ERROR,
                          reason="evidence incomplete or altered: " + "; ".join(problems), numbers=numbers)
    return GateResult(
        name=NAME, status=GateStatus.PASS,
        reason=(f"{records} records match the {report.sent} requests the traffic process sent, per user class "
                f"and connection mode; ids 1..{max_seq} each recorded once; {report.lines} lines with the "
                "digest it computed"),
        numbers=numbers)
