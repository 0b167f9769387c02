"""Altered copies of real recorded runs (tests/unit/data/recorded), each judged as the alteration
demands: a PASS must rest on complete, unaltered evidence.

Every test copies one recorded run to a temporary directory, judges it untouched first (the baseline
must be what the run expects: PASS for a run expected to pass, FAIL for a negative control), then
alters the copy one way and judges it again. Expectations follow from the mechanism, not from the
fixture's numbers, so the suite runs unchanged on any recording:

- *altered* evidence (records removed, added, changed or moved while the traffic process's report
  stays as it was, or the report changed) is ERROR, and the reason names the difference;
- *consistent* changes (the file altered and the report made to match it, as if the traffic process
  had really recorded that) are judged on their merits: a bad status FAILs, traffic that stopped
  early is INCONCLUSIVE, unless a failure remains;
- *harmless* changes (CRLF line ends, blank lines, a re-judge in worker processes) are judged
  exactly as the original.

RH_MUTATION_RUNS (paths separated by os.pathsep) points the suite at other recorded run
directories, e.g. new recordings before they replace the shipped ones.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from traffic_reports import report_for_file

from harness.evidence import REQUESTS_FILE, TIMELINE_FILE, is_ok_status
from harness.verdict import DEFAULT_GATES, GateStatus, Verdict, decide, judge_run_dir

RECORDED = Path(__file__).parents[1] / "data" / "recorded"
FLOW_GATE = "traffic_flow" in {getattr(g, "__name__", "") for g in DEFAULT_GATES}
LOSS_GATES = ("no_5xx", "no_bad_status", "no_connection_errors", "all_completed", "no_4xx")


def _recorded_runs() -> list[Path]:
    listed = os.environ.get("RH_MUTATION_RUNS")
    if listed:
        return [Path(p) for p in listed.split(os.pathsep) if p]
    return sorted(p for p in RECORDED.iterdir() if (p / "run.json").is_file())


Record = dict[str, Any]


def _dump(record: Record) -> str:
    # The traffic process's own line format: compact, keys in the order they came.
    return json.dumps(record, separators=(",", ":"))


def failing(record: Record) -> bool:
    return record.get("error") is not None or record.get("m_end") is None or not is_ok_status(record.get("status"))


class Run:
    """A recorded run copied to ``path``, with the means to alter it."""

    def __init__(self, source: Path, path: Path) -> None:
        shutil.copytree(source, path)
        packed = path / (REQUESTS_FILE + ".gz")
        if packed.exists():
            (path / REQUESTS_FILE).write_bytes(gzip.decompress(packed.read_bytes()))
            packed.unlink()
        self.name = source.name
        for report in ("result.json", "junit.xml", "report.html", "report.md"):
            (path / report).unlink(missing_ok=True)
        self.path = path

    @property
    def requests(self) -> Path:
        return self.path / REQUESTS_FILE

    # --- the request lines ---

    def lines(self) -> list[str]:
        return self.requests.read_text(encoding="utf-8").splitlines()

    def write_lines(self, lines: list[str], *, end: str = "\n", final: bool = True) -> None:
        text = end.join(lines) + (end if final and lines else "")
        self.requests.write_bytes(text.encode("utf-8"))

    def records(self) -> list[Record]:
        return [json.loads(line) for line in self.lines() if line.strip()]

    def write_records(self, records: list[Record]) -> None:
        self.write_lines([_dump(r) for r in records])

    # --- run.json ---

    def run_json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.path / "run.json").read_text())
        return data

    def write_run_json(self, data: dict[str, Any]) -> None:
        (self.path / "run.json").write_text(json.dumps(data, indent=2))

    def facts(self) -> dict[str, Any]:
        facts: dict[str, Any] = self.run_json()["facts"]
        return facts

    def update_facts(self, **changes: Any) -> None:
        data = self.run_json()
        data["facts"].update(changes)
        self.write_run_json(data)

    def update_gates(self, **changes: Any) -> None:
        data = self.run_json()
        data["gates"].update(changes)
        self.write_run_json(data)

    def update_report(self, **changes: Any) -> None:
        data = self.run_json()
        data["facts"]["traffic"].update(changes)
        self.write_run_json(data)

    def reaccount(self, **changes: Any) -> None:
        """Make the traffic process's report match the file as it is now."""
        self.update_facts(traffic=report_for_file(self.requests).model_dump() | changes)

    def window(self) -> tuple[float, float]:
        windows = self.facts().get("disruption_windows")
        assert windows, "the recorded run has no disruption window"
        return float(windows[0][0]), float(windows[-1][1])

    # --- the timeline ---

    def timeline(self) -> list[Record]:
        return [json.loads(line) for line in (self.path / TIMELINE_FILE).read_text().splitlines() if line.strip()]

    def add_observer_note(self, what: str, resource: str = "pods", **data: Any) -> None:
        start, end = self.window()
        m = (start + end) / 2
        first = self.timeline()[0]
        note = {"t": first["t"] + (m - first["m"]), "m": m, "kind": "observer", "type": what, "name": resource,
                "data": {"resource": resource, "what": what, "detail": "injected", **data}}
        with (self.path / TIMELINE_FILE).open("a") as fh:
            fh.write(_dump(note) + "\n")

    def judge(self, workers: int = 1) -> Verdict:
        return judge_run_dir(self.path, workers=workers)


@dataclass
class Expect:
    outcome: GateStatus
    gates: dict[str, GateStatus] = field(default_factory=dict)
    # Phrases the named gate's reason must hold: (gate, phrase).
    says: list[tuple[str, str]] = field(default_factory=list)
    # Phrases no gate's reason may hold (e.g. a count difference where only the digest changed).
    never: list[str] = field(default_factory=list)
    same_as_baseline: bool = False
    needs_flow_gate: bool = False


def altered(*says: tuple[str, str], never: tuple[str, ...] = (), **gates: GateStatus) -> Expect:
    return Expect(GateStatus.ERROR, {"records_accounted": GateStatus.ERROR, **gates},
                  [("records_accounted", "evidence incomplete or altered"), *says], list(never))


def only_the_digest(**gates: GateStatus) -> Expect:
    """Records in the same number, per class and mode, with every id once: only the digest tells."""
    return altered(("records_accounted", "digest of requests.jsonl"),
                   never=("records for", "have no record", "more than once", "lines, the traffic"), **gates)


def _first_ok_in_window(records: list[Record], run: Run) -> int:
    start, end = run.window()
    for i, r in enumerate(records):
        if start <= r["m_start"] <= end and not failing(r):
            return i
    return len(records) // 2


def _cut(records: list[Record], at: float) -> list[Record]:
    return [r for r in records if r["m_start"] < at]


# --- altered evidence: the report stays as the traffic process sent it ---------------------------


def delete_one(run: Run, base: Verdict) -> Expect:
    records = run.records()
    del records[len(records) // 2]
    run.write_records(records)
    return altered(("records_accounted", "1 of the ids 1.."), ("records_accounted", "(-1)"))


def delete_first(run: Run, base: Verdict) -> Expect:
    run.write_records(run.records()[1:])
    return altered(("records_accounted", "have no record"))


def delete_last(run: Run, base: Verdict) -> Expect:
    run.write_records(run.records()[:-1])
    return altered(("records_accounted", "have no record"))


def delete_many(run: Run, base: Verdict) -> Expect:
    records = run.records()
    run.write_records([r for i, r in enumerate(records) if i % 10])
    gone = len(records[::10])
    return altered(("records_accounted", f"{gone} of the ids"), ("records_accounted", f"(-{gone})"))


def delete_the_failing_ones(run: Run, base: Verdict) -> Expect:
    records = run.records()
    kept = [r for r in records if not failing(r)]
    if len(kept) == len(records):
        # A run with nothing failing: nothing is hidden, and the verdict must stay what it was.
        return Expect(base.outcome, same_as_baseline=True)
    run.write_records(kept)
    return altered(("records_accounted", f"{len(records) - len(kept)} of the ids"))


def delete_during_the_disruption(run: Run, base: Verdict) -> Expect:
    start, end = run.window()
    run.write_records([r for r in run.records() if not start <= r["m_start"] <= end])
    return altered(("records_accounted", "have no record"))


def duplicate_one(run: Run, base: Verdict) -> Expect:
    lines = run.lines()
    lines.insert(len(lines) // 3, lines[len(lines) // 2])
    run.write_lines(lines)
    return altered(("records_accounted", "1 ids are recorded more than once, 1 extra records"),
                   ("records_accounted", "(+1)"))


def duplicate_many(run: Run, base: Verdict) -> Expect:
    lines = run.lines()
    run.write_lines(lines + lines[:100])
    return altered(("records_accounted", "100 extra records"))


def file_written_twice(run: Run, base: Verdict) -> Expect:
    lines = run.lines()
    run.write_lines(lines + lines)
    n = len(lines)
    return altered(("records_accounted", f"{2 * n} records for {n} requests sent (+{n})"),
                   ("records_accounted", f"{n} extra records"))


def reordered(run: Run, base: Verdict) -> Expect:
    run.write_lines(list(reversed(run.lines())))
    return only_the_digest()


def two_lines_swapped(run: Run, base: Verdict) -> Expect:
    lines = run.lines()
    lines[10], lines[11] = lines[11], lines[10]
    run.write_lines(lines)
    return only_the_digest()


def clock_shifted(run: Run, base: Verdict) -> Expect:
    records = run.records()
    for r in records:
        for key in ("m_start", "m_end", "t_start", "t_end"):
            if r.get(key) is not None:
                r[key] += 1000.0
    run.write_records(records)
    return only_the_digest()


def one_request_moved_in_time(run: Run, base: Verdict) -> Expect:
    records = run.records()
    r = records[_first_ok_in_window(records, run)]
    r["m_start"] -= 0.5
    r["t_start"] -= 0.5
    run.write_records(records)
    return only_the_digest()


def _status_altered(status: object, gate: str) -> Callable[[Run, Verdict], Expect]:
    def mutate(run: Run, base: Verdict) -> Expect:
        records = run.records()
        records[_first_ok_in_window(records, run)]["status"] = status
        run.write_records(records)
        return only_the_digest(**{gate: GateStatus.FAIL})

    mutate.__name__ = f"status_200_to_{status!r}_altered"
    return mutate


def failures_turned_into_answers(run: Run, base: Verdict) -> Expect:
    records = run.records()
    hidden = 0
    for r in records:
        if failing(r):
            r.pop("error", None)
            r.pop("detail", None)
            r["status"] = 200
            r["m_end"] = r.get("m_end") or r["m_start"] + 0.01
            r["t_end"] = r.get("t_end") or r["t_start"] + 0.01
            hidden += 1
    if not hidden:
        return Expect(base.outcome, same_as_baseline=True)
    run.write_records(records)
    return only_the_digest()


def _time_broken(key: str, value: str) -> Callable[[Run, Verdict], Expect]:
    def mutate(run: Run, base: Verdict) -> Expect:
        lines = run.lines()
        i = len(lines) // 2
        record = json.loads(lines[i])
        record[key] = 0.0  # a placeholder that json.dumps writes as 0.0, replaced by the raw token
        lines[i] = _dump(record).replace(f'"{key}":0.0', f'"{key}":{value}')
        run.write_lines(lines)
        return altered(("records_readable", "1 unreadable line"), ("records_accounted", "1 of the ids"),
                       records_readable=GateStatus.ERROR)

    mutate.__name__ = f"{key}_{value}"
    return mutate


def end_before_start(run: Run, base: Verdict) -> Expect:
    records = run.records()
    r = records[len(records) // 2]
    r["m_end"] = r["m_start"] - 0.001
    run.write_records(records)
    return altered(("records_readable", "1 unreadable line"), records_readable=GateStatus.ERROR)


def torn_last_line(run: Run, base: Verdict) -> Expect:
    lines = run.lines()
    lines[-1] = lines[-1][: len(lines[-1]) // 2]
    run.write_lines(lines, final=False)
    return altered(("records_accounted", "1 of the ids"), ("records_accounted", "digest"),
                   records_readable=GateStatus.ERROR)


def junk_line_inserted(run: Run, base: Verdict) -> Expect:
    lines = run.lines()
    lines.insert(5, "this is not a record")
    run.write_lines(lines)
    return altered(("records_accounted", "lines, the traffic process wrote"), records_readable=GateStatus.ERROR)


def traffic_cut_before_the_disruption(run: Run, base: Verdict) -> Expect:
    start, _ = run.window()
    run.write_records(_cut(run.records(), start - 1.0))
    return altered(("records_accounted", "have no record"))


def traffic_cut_inside_the_disruption(run: Run, base: Verdict) -> Expect:
    start, end = run.window()
    run.write_records(_cut(run.records(), (start + end) / 2))
    return altered(("records_accounted", "have no record"))


def a_connection_mode_missing(run: Run, base: Verdict) -> Expect:
    records = run.records()
    gone = sorted({r["conn"] for r in records})[-1]
    run.write_records([r for r in records if r["conn"] != gone])
    return altered(("records_accounted", f"connection mode {gone}: 0 records"))


def user_class_changed(run: Run, base: Verdict) -> Expect:
    records = run.records()
    r = records[len(records) // 2]
    r["user"] = "NewConnectionUser" if r["user"] == "KeepAliveUser" else "KeepAliveUser"
    run.write_records(records)
    return altered(("records_accounted", "user class"))


def connection_mode_changed(run: Run, base: Verdict) -> Expect:
    records = run.records()
    r = records[len(records) // 2]
    r["conn"] = "new" if r["conn"] == "keep-alive" else "keep-alive"
    run.write_records(records)
    return altered(("records_accounted", "connection mode"))


def id_of_another_run(run: Run, base: Verdict) -> Expect:
    records = run.records()
    r = records[len(records) // 2]
    r["id"] = "other-" + r["id"].rsplit("-", 1)[1]
    run.write_records(records)
    return only_the_digest()


def id_beyond_the_last_sent(run: Run, base: Verdict) -> Expect:
    records = run.records()
    r = records[len(records) // 2]
    prefix, seq = r["id"].rsplit("-", 1)
    r["id"] = f"{prefix}-{len(records) + 7:0{len(seq)}d}"
    run.write_records(records)
    return altered(("records_accounted", "beyond the last one sent"), ("records_accounted", "1 of the ids"))


def a_record_from_elsewhere_appended(run: Run, base: Verdict) -> Expect:
    records = run.records()
    extra = dict(records[0])
    extra["id"] = "elsewhere-00000001"
    run.write_records([*records, extra])
    return altered(("records_accounted", "(+1)"), ("records_accounted", "more than once"))


def id_not_numbered(run: Run, base: Verdict) -> Expect:
    records = run.records()
    records[3]["id"] = "no-number-here"
    run.write_records(records)
    return altered(("records_accounted", "not <run>-<seq>"), ("records_accounted", "1 of the ids"))


# --- altered run.json ------------------------------------------------------------------------------


def digest_altered(run: Run, base: Verdict) -> Expect:
    run.update_report(digest="sha256:" + "0" * 64)
    return only_the_digest()


def sent_count_altered(run: Run, base: Verdict) -> Expect:
    sent = run.facts()["traffic"]["sent"]
    run.update_report(sent=sent + 1)
    return altered(("records_accounted", f"for {sent + 1} requests sent (-1)"))


def sent_per_user_class_altered(run: Run, base: Verdict) -> Expect:
    by_user = dict(run.facts()["traffic"]["by_user"])
    first, *others = sorted(by_user)
    by_user[first] -= 1
    if not others:  # one user class: its count alone no longer matches its records
        run.update_report(by_user=by_user)
        return altered(("records_accounted", f"user class {first}"))
    by_user[others[0]] += 1
    run.update_report(by_user=by_user)
    return altered(("records_accounted", f"user class {first}"), ("records_accounted", f"user class {others[0]}"))


def sent_per_connection_mode_altered(run: Run, base: Verdict) -> Expect:
    by_conn = dict(run.facts()["traffic"]["by_conn"])
    by_conn["keep-alive"] = by_conn.get("keep-alive", 0) + 3
    run.update_report(by_conn=by_conn)
    return altered(("records_accounted", "connection mode keep-alive"))


def lines_written_altered(run: Run, base: Verdict) -> Expect:
    lines = run.facts()["traffic"]["lines"]
    run.update_report(lines=lines - 2)
    return altered(("records_accounted", f"lines, the traffic process wrote {lines - 2} (+2)"))


def max_seq_altered(run: Run, base: Verdict) -> Expect:
    max_seq = run.facts()["traffic"]["max_seq"]
    run.update_report(max_seq=max_seq + 1)
    return altered(("records_accounted", f"1 of the ids 1..{max_seq + 1} have no record"))


def traffic_report_missing(run: Run, base: Verdict) -> Expect:
    run.update_facts(traffic=None)
    return Expect(GateStatus.ERROR, {"records_accounted": GateStatus.ERROR},
                  [("records_accounted", "the traffic process's own counts are missing")])


def traffic_ended_by_its_own_deadline(run: Run, base: Verdict) -> Expect:
    run.update_report(ended="max_duration")
    return altered(("records_accounted", "max_duration"))


def harness_error_recorded(run: Run, base: Verdict) -> Expect:
    run.update_facts(harness_errors=["the API server stopped answering"])
    return Expect(GateStatus.ERROR, {"observers_complete": GateStatus.ERROR},
                  [("observers_complete", "the API server stopped answering")])


def observer_error_never_repaired(run: Run, base: Verdict) -> Expect:
    run.add_observer_note("error", failures=1)
    return Expect(GateStatus.ERROR, {"observers_complete": GateStatus.ERROR},
                  [("observers_complete", "pods")])


def observer_gap(run: Run, base: Verdict) -> Expect:
    run.add_observer_note("gap", resource="endpointslices", object="EndpointSlice/x")
    return Expect(GateStatus.ERROR, {"observers_complete": GateStatus.ERROR},
                  [("observers_complete", "observer gap in endpointslices")])


def observer_relisted_after_an_error(run: Run, base: Verdict) -> Expect:
    start, _ = run.window()
    run.add_observer_note("error", failures=1, current_until_m=start)
    run.add_observer_note("relisted", uncovered_from_m=start)
    return Expect(GateStatus.ERROR, {"observers_complete": GateStatus.ERROR},
                  [("observers_complete", "re-listed")])


def timeline_line_torn(run: Run, base: Verdict) -> Expect:
    with (run.path / TIMELINE_FILE).open("a") as fh:
        fh.write('{"t": 1, "m": 2, "kind": "pod", "ty')
    return Expect(GateStatus.ERROR, {"observers_complete": GateStatus.ERROR},
                  [("observers_complete", "timeline.jsonl has 1 unreadable line")])


def requests_file_missing(run: Run, base: Verdict) -> Expect:
    run.requests.unlink()
    return Expect(GateStatus.ERROR, {"records_accounted": GateStatus.ERROR},
                  [("observers_complete", "requests.jsonl is missing")])


def timeline_file_missing(run: Run, base: Verdict) -> Expect:
    (run.path / TIMELINE_FILE).unlink()
    return Expect(GateStatus.ERROR, {"observers_complete": GateStatus.ERROR},
                  [("observers_complete", "timeline.jsonl is missing")])


# --- consistent changes: the traffic process really recorded this --------------------------------


def _failing_in(verdict: Verdict, gate: str) -> int:
    """How many requests the gate already failed before the alteration (a negative control has some)."""
    result = verdict.gate(gate)
    if result.status is not GateStatus.FAIL:
        return 0
    return int(result.reason.split(" of ", 1)[0])


def _status_recorded(status: object, gate: str) -> Callable[[Run, Verdict], Expect]:
    def mutate(run: Run, base: Verdict) -> Expect:
        records = run.records()
        records[_first_ok_in_window(records, run)]["status"] = status
        run.write_records(records)
        run.reaccount()
        return Expect(GateStatus.FAIL, {gate: GateStatus.FAIL, "records_accounted": GateStatus.PASS},
                      [(gate, f"{_failing_in(base, gate) + 1} of")])

    mutate.__name__ = f"status_{status!r}_recorded"
    return mutate


def status_404_recorded_and_allowed(run: Run, base: Verdict) -> Expect:
    records = run.records()
    records[_first_ok_in_window(records, run)]["status"] = 404
    run.write_records(records)
    run.reaccount()
    run.update_gates(allow_4xx=True)
    return Expect(base.outcome, {"no_4xx": GateStatus.SKIPPED, "records_accounted": GateStatus.PASS},
                  [("no_4xx", "1 of")])


def a_503_within_an_error_budget(run: Run, base: Verdict) -> Expect:
    records = run.records()
    records[_first_ok_in_window(records, run)]["status"] = 503
    run.write_records(records)
    run.reaccount()
    lost = sum(1 for r in records if failing(r))
    run.update_gates(max_failed_requests=lost)
    # The budget covers every loss, so the loss gates hold; the rest of the verdict is the baseline's.
    rest = decide([g for g in base.gates if g.name not in LOSS_GATES])
    return Expect(rest, {gate: GateStatus.PASS for gate in LOSS_GATES}, [("no_5xx", "within the error budget")])


def _stopped_early(run: Run, at: float, **report: Any) -> list[Record]:
    kept = _cut(run.records(), at)
    run.write_records(kept)
    run.reaccount(**report)
    run.update_facts(traffic_stopped_m=max(r.get("m_end") or r["m_start"] for r in kept))
    return kept


def _early_stop_expectation(kept: list[Record]) -> Expect:
    if any(failing(r) for r in kept):  # a failure that was recorded still fails the run
        return Expect(GateStatus.FAIL, {"records_accounted": GateStatus.PASS})
    return Expect(GateStatus.INCONCLUSIVE,
                  {"records_accounted": GateStatus.PASS, "traffic_flow": GateStatus.INCONCLUSIVE},
                  needs_flow_gate=True)


def traffic_stopped_before_the_disruption(run: Run, base: Verdict) -> Expect:
    start, _ = run.window()
    return _early_stop_expectation(_stopped_early(run, start - 1.0))


def traffic_stopped_inside_the_disruption(run: Run, base: Verdict) -> Expect:
    start, end = run.window()
    return _early_stop_expectation(_stopped_early(run, (start + end) / 2))


def traffic_stopped_by_its_deadline(run: Run, base: Verdict) -> Expect:
    start, end = run.window()
    _stopped_early(run, (start + end) / 2, ended="max_duration")
    return Expect(GateStatus.ERROR, {"records_accounted": GateStatus.ERROR}, [("records_accounted", "max_duration")])


def _renumbered(records: list[Record]) -> list[Record]:
    """Ids as a traffic process that sent only these would have given them: 1, 2, ... in send order."""
    ordered = sorted(records, key=lambda r: int(r["id"].rsplit("-", 1)[1]))
    for seq, r in enumerate(ordered, start=1):
        prefix, old = r["id"].rsplit("-", 1)
        r["id"] = f"{prefix}-{seq:0{len(old)}d}"
    return records


def one_connection_mode_never_sent(run: Run, base: Verdict) -> Expect:
    kept = _renumbered([r for r in run.records() if r["conn"] != "new"])
    run.write_records(kept)
    run.reaccount()
    if any(failing(r) for r in kept):
        return Expect(GateStatus.FAIL, {"records_accounted": GateStatus.PASS})
    return Expect(GateStatus.INCONCLUSIVE,
                  {"records_accounted": GateStatus.PASS, "traffic_flow": GateStatus.INCONCLUSIVE},
                  [("traffic_flow", "new")], needs_flow_gate=True)


def a_time_recorded_as_nan(run: Run, base: Verdict) -> Expect:
    lines = run.lines()
    lines[7] = lines[7].replace('"m_end":', '"m_end":NaN,"was":', 1)
    run.write_lines(lines)
    run.reaccount()
    return Expect(GateStatus.ERROR, {"records_readable": GateStatus.ERROR}, [("records_readable", "1 unreadable")])


def no_rollout_to_wait_for(run: Run, base: Verdict) -> Expect:
    run.update_facts(rollout=None)
    return Expect(base.outcome, {"rollout_completed": GateStatus.SKIPPED})


# --- harmless changes --------------------------------------------------------------------------------


def harmless(mutate: Callable[[Run], None]) -> Callable[[Run, Verdict], Expect]:
    def wrapped(run: Run, base: Verdict) -> Expect:
        mutate(run)
        return Expect(base.outcome, same_as_baseline=True)

    wrapped.__name__ = mutate.__name__
    return wrapped


@harmless
def crlf_line_ends(run: Run) -> None:
    run.write_lines(run.lines(), end="\r\n")


@harmless
def a_trailing_blank_line(run: Run) -> None:
    run.write_lines([*run.lines(), ""])


@harmless
def blank_lines_between(run: Run) -> None:
    lines = run.lines()
    run.write_lines([x for line in lines for x in (line, "")])


@harmless
def no_newline_after_the_last_line(run: Run) -> None:
    run.write_lines(run.lines(), final=False)


@harmless
def records_rewritten_as_they_were(run: Run) -> None:
    run.write_records(run.records())  # this suite's own writer changes nothing


@harmless
def timeline_lines_in_another_order(run: Run) -> None:
    path = run.path / TIMELINE_FILE
    lines = path.read_text().splitlines()
    random.Random(7).shuffle(lines)  # observers write in arrival order
    path.write_text("\n".join(lines) + "\n")


MUTATIONS: list[Callable[[Run, Verdict], Expect]] = [
    delete_one, delete_first, delete_last, delete_many, delete_the_failing_ones, delete_during_the_disruption,
    duplicate_one, duplicate_many, file_written_twice, reordered, two_lines_swapped, clock_shifted,
    one_request_moved_in_time,
    _status_altered(503, "no_5xx"), _status_altered(0, "no_bad_status"), _status_altered("200", "no_bad_status"),
    _status_altered(404, "no_4xx"), _status_altered(101, "no_bad_status"),
    failures_turned_into_answers,
    _time_broken("m_start", "NaN"), _time_broken("t_start", "Infinity"), _time_broken("m_end", "-Infinity"),
    _time_broken("t_end", "NaN"), _time_broken("m_end", "1e999"),
    end_before_start, torn_last_line, junk_line_inserted,
    traffic_cut_before_the_disruption, traffic_cut_inside_the_disruption, a_connection_mode_missing,
    user_class_changed, connection_mode_changed, id_of_another_run, id_beyond_the_last_sent,
    a_record_from_elsewhere_appended, id_not_numbered,
    digest_altered, sent_count_altered, sent_per_user_class_altered, sent_per_connection_mode_altered,
    lines_written_altered, max_seq_altered, traffic_report_missing, traffic_ended_by_its_own_deadline,
    harness_error_recorded, observer_error_never_repaired, observer_gap, observer_relisted_after_an_error,
    timeline_line_torn, requests_file_missing, timeline_file_missing,
    _status_recorded(503, "no_5xx"), _status_recorded(0, "no_bad_status"), _status_recorded("200", "no_bad_status"),
    _status_recorded(200.0, "no_bad_status"), _status_recorded(404, "no_4xx"), _status_recorded(101, "no_bad_status"),
    _status_recorded(999, "no_bad_status"),
    status_404_recorded_and_allowed, a_503_within_an_error_budget,
    traffic_stopped_before_the_disruption, traffic_stopped_inside_the_disruption, traffic_stopped_by_its_deadline,
    one_connection_mode_never_sent, a_time_recorded_as_nan, no_rollout_to_wait_for,
    crlf_line_ends, a_trailing_blank_line, blank_lines_between, no_newline_after_the_last_line,
    records_rewritten_as_they_were, timeline_lines_in_another_order,
]


@pytest.fixture(params=_recorded_runs(), ids=lambda p: p.name)
def recorded(request: pytest.FixtureRequest) -> Path:
    path: Path = request.param
    return path


def _gates(verdict: Verdict) -> list[tuple[str, GateStatus, str]]:
    return [(g.name, g.status, g.reason) for g in verdict.gates]


def baseline_problem(run: Run, verdict: Verdict) -> str | None:
    """Why the untouched copy is no baseline to compare with, or None when it judges as it expects."""
    expected = GateStatus.PASS if verdict.expected == "pass" else GateStatus.FAIL
    if verdict.outcome is expected and verdict.gate("records_accounted").status is GateStatus.PASS:
        return None
    wrong = [g for g in verdict.gates if g.status in (GateStatus.ERROR, GateStatus.INCONCLUSIVE)
             or (g.status is GateStatus.FAIL and expected is GateStatus.PASS)]
    return (f"{run.name} judges {verdict.outcome} before any alteration, not {expected}; re-record it: "
            + "; ".join(f"{g.name} {g.status}: {g.reason}" for g in wrong))


def baseline(run: Run) -> Verdict:
    """The untouched copy, judged. A recording that does not judge as it expects is reported by
    test_the_recorded_run_judges_as_it_expects; the mutations of it have nothing to compare with."""
    verdict = run.judge()
    problem = baseline_problem(run, verdict)
    if problem is not None:
        pytest.fail(f"no baseline: {problem[:300]}")
    return verdict


def test_the_recorded_run_judges_as_it_expects(recorded: Path, tmp_path: Path) -> None:
    run = Run(recorded, tmp_path / "run")
    verdict = run.judge()
    problem = baseline_problem(run, verdict)
    assert problem is None, problem
    assert verdict.matches_expectation


def test_the_suite_holds_enough_mutations() -> None:
    assert len({m.__name__ for m in MUTATIONS}) == len(MUTATIONS) >= 40


@pytest.mark.parametrize("mutate", MUTATIONS, ids=lambda m: m.__name__)
def test_a_mutated_run_is_judged_as_the_mutation_demands(recorded: Path, tmp_path: Path,
                                                         mutate: Callable[[Run, Verdict], Expect]) -> None:
    run = Run(recorded, tmp_path / "run")
    base = baseline(run)
    expect = mutate(run, base)
    assert FLOW_GATE or not expect.needs_flow_gate, "the traffic_flow gate is not among the default gates"
    verdict = run.judge()
    reasons = {g.name: g.reason for g in verdict.gates}
    shown = "; ".join(f"{g.name} {g.status}: {g.reason}" for g in verdict.gates)
    assert verdict.outcome is expect.outcome, shown
    for name, status in expect.gates.items():
        assert verdict.gate(name).status is status, shown
    for name, phrase in expect.says:
        assert phrase in reasons[name], shown
    for phrase in expect.never:
        assert all(phrase not in reason for reason in reasons.values()), shown
    if expect.same_as_baseline:
        assert _gates(verdict) == _gates(base)
        assert verdict.counts == base.counts


def test_judging_in_worker_processes_changes_nothing(recorded: Path, tmp_path: Path) -> None:
    run = Run(recorded, tmp_path / "run")
    base = baseline(run)
    split = run.judge(workers=3)
    assert _gates(split) == _gates(base)
    assert split.counts == base.counts
