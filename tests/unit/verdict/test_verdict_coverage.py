"""The coverage gate: any stretch of the traffic window an observer did not cover makes the run ERROR."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path
from typing import Any

import pytest

from harness.evidence import ConnectionMode, RequestRecord, TimelineEvent, TimelineKind
from harness.verdict import Evidence, GateConfig, GateResult, GateStatus, RunFacts, load_evidence, summarize_requests
from harness.verdict.coverage import observers_complete, traffic_window

M0 = 500.0  # monotonic time of the traffic start
RESOURCES = ("pods", "endpointslices", "events")
RECORDED = Path(__file__).parents[1] / "data" / "recorded"


def obs(m: float, what: str, resource: str = "pods", **data: Any) -> TimelineEvent:
    return TimelineEvent(t=1e9 + m, m=M0 + m, kind=TimelineKind.OBSERVER, type=what, name=resource,
                         data={"resource": resource, "what": what, "detail": "", **data})


def covered(*middle: TimelineEvent, sync: float = -5.0, stop: float = 31.0, healthy: bool = True,
            without: tuple[str, ...] = ()) -> list[TimelineEvent]:
    """Every observer synced before traffic and stopped healthy after it, with ``middle`` in between."""
    events = [TimelineEvent(t=1e9, m=M0 + sync, kind=TimelineKind.POD, type="LIST", name="web-a",
                            data={"name": "web-a", "ready": True})]
    events += [obs(sync, "synced", r) for r in RESOURCES]
    events += middle
    events += [obs(stop, "stopped", r, healthy=healthy) for r in RESOURCES if r not in without]
    return events


def judge(timeline: list[TimelineEvent], *, marks: bool = True, harness_errors: list[str] | None = None
          ) -> GateResult:
    records = [RequestRecord(id=f"r{i}", user="u", conn=ConnectionMode.KEEP_ALIVE, t_start=1e9 + i,
                             m_start=M0 + 1.0 + i, t_end=1e9 + i + 0.01, m_end=M0 + 1.01 + i, status=200)
               for i in range(28)]
    facts = RunFacts(scenario="s", run_id="s-1", started_at=1e9, harness_errors=harness_errors or [],
                     traffic_started_m=M0 if marks else None, traffic_stopped_m=M0 + 30.0 if marks else None)
    evidence = Evidence(summary=summarize_requests(records), timeline=timeline, facts=facts)
    return observers_complete(evidence, GateConfig())


def test_full_coverage_passes() -> None:
    gate = judge(covered())
    assert gate.status is GateStatus.PASS, gate.reason
    assert gate.numbers["uncovered"] == 0
    assert "pods, endpointslices, events were watched without a break" in gate.reason


def test_a_resumed_watch_error_loses_nothing() -> None:
    gate = judge(covered(obs(10.0, "error", "endpointslices", detail="watch: ProtocolError", failures=1,
                             current_until_m=M0 + 9.5),
                         obs(10.5, "error", "endpointslices", failures=7),
                         obs(12.0, "resumed", "endpointslices", failures=8, outage_s=2.0)))
    assert gate.status is GateStatus.PASS, gate.reason
    assert (gate.numbers["resumed_errors"], gate.numbers["longest_resumed_outage_s"]) == (1, 2.0)
    assert "1 watch error(s) resumed from their resourceVersion, nothing lost" in gate.reason


def test_a_relist_during_traffic_names_the_uncovered_window() -> None:
    gate = judge(covered(obs(12.0, "expired", "pods", current_until_m=M0 + 11.5),
                         obs(13.0, "relisted", "pods", uncovered_from_m=M0 + 11.5)))
    assert gate.status is GateStatus.ERROR
    assert "pods: its watch lapsed and it re-listed; changes from +11.500s to +13.000s may be missing" in gate.reason
    assert (gate.numbers["uncovered_relists"], gate.numbers["relists"]) == (1, 1)


def test_a_relist_before_traffic_started_is_harmless() -> None:
    gate = judge(covered(obs(-3.0, "expired", "events"), obs(-2.5, "relisted", "events", uncovered_from_m=M0 - 3.2)))
    assert gate.status is GateStatus.PASS, gate.reason
    assert (gate.numbers["relists"], gate.numbers["uncovered_relists"]) == (1, 0)


def test_a_relist_without_its_start_falls_back_to_the_error_that_opened_it() -> None:
    gate = judge(covered(obs(4.0, "error", "pods", detail="watch: AttributeError"), obs(6.0, "relisted", "pods")))
    assert gate.status is GateStatus.ERROR
    assert "re-listed (watch: AttributeError); changes from +4.000s to +6.000s" in gate.reason


def test_a_gap_is_an_error() -> None:
    gate = judge(covered(obs(14.0, "gap", "endpointslices", detail="ADDED web-x: TypeError")))
    assert gate.status is GateStatus.ERROR
    assert "observer gap in endpointslices at +14.000s: ADDED web-x: TypeError" in gate.reason
    assert gate.numbers["gaps"] == 1


def test_a_gap_before_traffic_counts_but_one_after_it_stopped_does_not() -> None:
    assert judge(covered(obs(-1.0, "gap", "pods"))).status is GateStatus.ERROR
    assert judge(covered(obs(30.5, "gap", "pods"))).status is GateStatus.PASS


def test_an_error_never_repaired_is_an_error_until_the_stop() -> None:
    gate = judge(covered(obs(20.0, "error", "events", detail="watch: refused", current_until_m=M0 + 19.0),
                         healthy=False))
    assert gate.status is GateStatus.ERROR
    assert ("events: a watch error was never repaired (watch: refused); changes from +19.000s to +31.000s may be "
            "missing") in gate.reason
    assert "events: its watch was not shown current" not in gate.reason  # the same lapse, said once
    assert gate.numbers["unrepaired_errors"] == 1


def test_an_error_open_at_the_end_of_the_record() -> None:
    gate = judge(covered(obs(20.0, "error", "pods"), without=("pods",)))
    assert gate.status is GateStatus.ERROR
    assert "changes from +20.000s to the end of the record may be missing" in gate.reason
    assert "pods: no 'stopped' note" in gate.reason


def test_an_observer_that_never_synced_or_synced_late() -> None:
    events = [e for e in covered() if not (e.type == "synced" and e.name == "events")]
    gate = judge(events)
    assert gate.status is GateStatus.ERROR
    assert "events: never synced" in gate.reason
    late = judge([*covered(sync=-5.0), obs(2.0, "synced", "extra")])
    assert late.status is GateStatus.PASS, late.reason  # a resource nobody needs does not have to sync
    gate = judge(covered(sync=2.0))
    assert gate.status is GateStatus.ERROR
    assert "pods: synced only at +2.000s, after traffic started at +0.000s" in gate.reason
    assert gate.numbers["unsynced"] == 3


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"without": ("endpointslices",)}, "endpointslices: no 'stopped' note"),
    ({"healthy": False}, "pods: its watch was not shown current when it stopped at +31.000s"),
    ({"stop": 25.0}, "pods: its observer stopped at +25.000s, before traffic stopped at +30.000s"),
])
def test_the_stop_must_come_after_traffic_and_be_healthy(kwargs: dict[str, Any], words: str) -> None:
    gate = judge(covered(**kwargs))
    assert gate.status is GateStatus.ERROR
    assert words in gate.reason
    assert gate.numbers["stop_problems"] >= 1


def test_a_stopped_note_without_health_is_not_proof() -> None:
    events = [e for e in covered() if e.type != "stopped"] + [obs(31.0, "stopped", r) for r in RESOURCES]
    assert judge(events).status is GateStatus.ERROR


def test_harness_errors_and_a_timeline_without_pods() -> None:
    gate = judge(covered(), harness_errors=["traffic process died (exit -9)"])
    assert gate.status is GateStatus.ERROR
    assert gate.reason == "traffic process died (exit -9)"
    gate = judge([e for e in covered() if e.kind is not TimelineKind.POD])
    assert gate.status is GateStatus.ERROR
    assert gate.reason == "the observers recorded no pod at all"


def test_without_traffic_marks_the_requests_bound_the_window() -> None:
    # Requests ran from +1 s to +28.01 s: a re-list closing at +0.5 s is outside, one at +27 s inside.
    before = covered(obs(0.2, "expired", "pods"), obs(0.5, "relisted", "pods", uncovered_from_m=M0 + 0.1))
    assert judge(before, marks=False).status is GateStatus.PASS
    inside = covered(obs(26.0, "expired", "pods"), obs(27.0, "relisted", "pods", uncovered_from_m=M0 + 26.0))
    assert judge(inside, marks=False).status is GateStatus.ERROR


def test_the_traffic_window_falls_back_to_the_requests() -> None:
    records = [RequestRecord(id="r1", user="u", conn=ConnectionMode.NEW, t_start=1.0, m_start=M0 + 2.0, t_end=1.5,
                             m_end=M0 + 2.5, status=200)]
    facts = RunFacts(scenario="s", run_id="s-1", started_at=1.0)
    evidence = Evidence(summary=summarize_requests(records), timeline=[], facts=facts)
    assert traffic_window(evidence) == (M0 + 2.0, M0 + 2.5)


@pytest.mark.parametrize("run", ["rolling-restart", "naive-rolling-restart"])
def test_the_recorded_runs_show_every_change_with_no_observer_error(run: str, tmp_path: Path) -> None:
    """Recorded from real runs (scripts/record-fixtures): every watch synced before traffic, ran
    without an error or re-list, and stopped healthy; the pods and slices show their watch events."""
    work = tmp_path / run
    shutil.copytree(RECORDED / run, work)
    (work / "requests.jsonl").write_bytes(gzip.decompress((work / "requests.jsonl.gz").read_bytes()))
    evidence, config = load_evidence(work)
    gate = observers_complete(evidence, config)
    assert gate.status is GateStatus.PASS, gate.reason
    notes = [e.data.get("what") for e in evidence.timeline if e.kind is TimelineKind.OBSERVER]
    assert sorted(notes) == sorted(["synced", "stopped"] * len(RESOURCES)), notes
    types = {(e.kind, e.type) for e in evidence.timeline}
    pod = TimelineKind.POD
    assert {(pod, "ADDED"), (pod, "MODIFIED"), (pod, "DELETED")} <= types
    assert (TimelineKind.ENDPOINTS, "MODIFIED") in types
