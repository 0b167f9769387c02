"""result.json, JUnit XML and the terminal summary, from verdicts judged on hand-made evidence."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Literal

import pytest
from rich.console import Console
from traffic_reports import accounted

from harness.errors import ConfigError
from harness.evidence import ConnectionMode, ErrorKind, RequestRecord, TimelineEvent, TimelineKind
from harness.report import (
    junit_xml,
    print_verdict,
    read_result_json,
    verdict_renderable,
    write_junit,
    write_result_json,
)
from harness.verdict import (
    Evidence,
    GateConfig,
    GateStatus,
    RolloutFacts,
    RunFacts,
    Verdict,
    judge,
    summarize_requests,
)

M0 = 100.0
T0 = 1_700_000_000.0


def rec(i: int, at: float, *, status: int | None = 200, error: ErrorKind | None = None,
        conn_pod: str | None = None, detail: str | None = None) -> RequestRecord:
    return RequestRecord(id=f"r{i}", user="KeepAliveUser", conn=ConnectionMode.KEEP_ALIVE, t_start=T0 + at,
                         m_start=M0 + at, t_end=T0 + at + 0.01, m_end=M0 + at + 0.01,
                         status=None if error else status, error=error, detail=detail,
                         pod=None if error else "web-a", conn_pod=conn_pod)


def ev(at: float, kind: TimelineKind, type_: str, obj: str, **data: Any) -> TimelineEvent:
    return TimelineEvent(t=T0 + at, m=M0 + at, kind=kind, type=type_, name=obj, data=data)


def timeline(*, gap: bool = False) -> list[TimelineEvent]:
    events = [
        ev(-1.0, TimelineKind.POD, "LIST", "web-a", name="web-a", phase="Running", ready=True, terminating=False),
        ev(-1.0, TimelineKind.ENDPOINTS, "ADDED", "web-x", name="web-x", service="web",
           endpoints=[{"pod": "web-a", "ready": True, "serving": True, "terminating": False}]),
        ev(5.0, TimelineKind.ACTION, "start", "restart", step="restart", phase="start"),
        ev(6.0, TimelineKind.POD, "ADDED", "web-b", name="web-b", phase="Running", ready=True, terminating=False),
        ev(7.0, TimelineKind.POD, "MODIFIED", "web-a", name="web-a", phase="Running", ready=False,
           terminating=True),
        ev(9.0, TimelineKind.ACTION, "end", "restart", step="restart", phase="end"),
    ]
    for r in ("pods", "endpointslices", "events"):  # each observer covers the traffic window
        events += [ev(-1.0, TimelineKind.OBSERVER, "synced", r, resource=r, what="synced"),
                   ev(11.0, TimelineKind.OBSERVER, "stopped", r, resource=r, what="stopped", healthy=True)]
    if gap:
        events.append(ev(8.0, TimelineKind.OBSERVER, "gap", "pods", resource="pods", what="gap", detail="lost"))
    return events


def make_verdict(*, failures: list[RequestRecord] | None = None, expect: Literal["pass", "fail"] = "pass",
                 gap: bool = False,
                 scenario: str = "rolling-restart", config: GateConfig | None = None, n: int = 200) -> Verdict:
    records, report = accounted([rec(i, i * 0.05) for i in range(n)] + (failures or []))
    summary = summarize_requests(records, disruption_windows=[(M0 + 5.0, M0 + 9.0)])
    facts = RunFacts(scenario=scenario, run_id=f"{scenario}-1", started_at=T0 - 10, ended_at=T0 + 20,
                     traffic_started_m=M0, traffic_stopped_m=M0 + 10.0,
                     rollout=RolloutFacts(completed=True, deadline_s=30, duration_s=4), old_pods=["web-a"],
                     expect=expect, service="web", traffic=report,
                     # one keep-alive request every 0.05 s, the rate the flow gate holds it to
                     connection_modes=["keep-alive"], mode_rates={"keep-alive": 20.0}, rate_rps=20.0)
    return judge(Evidence(summary=summary, timeline=timeline(gap=gap), facts=facts), config or GateConfig())


RESET = rec(900, 7.5, error=ErrorKind.RESET, conn_pod="web-a", detail="reset <by> peer & \"friends\"")
HTTP_503 = rec(901, 7.6, status=503)


# --- result.json ----------------------------------------------------------------------------------------


def test_result_json_round_trips(tmp_path: Path) -> None:
    verdict = make_verdict(failures=[RESET, HTTP_503], config=GateConfig(latency_p99_ms_during_disruption=100))
    path = write_result_json(tmp_path, verdict)
    assert path == tmp_path / "result.json"
    again = read_result_json(path)
    assert again == verdict
    data = json.loads(path.read_text())
    assert data["outcome"] == "FAIL"
    assert data["counts"]["outcomes"]["reset"] == 1
    assert data["counts"]["by_error_kind"] == {"reset": 1}
    assert data["first_failures"][0]["pod_state"]["terminating"] is True
    assert data["buckets"][0]["offset_s"] == 0.0
    assert sum(b["counts"]["ok"] for b in data["buckets"]) == 200
    assert {g["name"] for g in data["gates"]} >= {"no_5xx", "no_connection_errors", "disruption_observed"}


def test_result_json_to_a_named_file(tmp_path: Path) -> None:
    target = tmp_path / "custom.json"
    assert write_result_json(target, make_verdict()) == target
    assert read_result_json(target).outcome is GateStatus.PASS


def test_reading_a_missing_or_foreign_result_json(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        read_result_json(tmp_path)
    (tmp_path / "result.json").write_text('{"outcome": "PASS"}')
    with pytest.raises(ConfigError, match="field"):
        read_result_json(tmp_path)


# --- JUnit -----------------------------------------------------------------------------------------


def cases(suite: ET.Element) -> dict[str, ET.Element]:
    return {c.get("name", ""): c for c in suite.iter("testcase")}


def test_junit_has_a_testcase_per_gate_and_failures_for_failing_gates() -> None:
    verdict = make_verdict(failures=[RESET, HTTP_503])
    root = ET.fromstring(junit_xml(verdict))
    assert root.tag == "testsuites"
    [suite] = root.findall("testsuite")
    assert suite.get("name") == "rolling-restart"
    by_name = cases(suite)
    assert set(by_name) == {g.name for g in verdict.gates}
    assert suite.get("tests") == str(len(verdict.gates))
    assert suite.get("failures") == "2"
    assert suite.get("errors") == "0"
    # No latency bound, and records without a schedule (4xx are judged: not allowed by default).
    assert suite.get("skipped") == "2"

    failure = by_name["no_connection_errors"].find("failure")
    assert failure is not None
    assert failure.get("type") == "fail"
    # The judge diagnosed the two failures: the message leads with that, then the gate's reason.
    assert verdict.diagnosis is not None
    message = failure.get("message", "")
    assert message.startswith(verdict.diagnosis.headline())
    assert "; 1 of 202 requests" in message
    body = failure.text or ""
    assert "r900" in body and "reset <by> peer & \"friends\"" in body  # escaped in the file, intact here
    assert "web-a" in body and "terminating" in body
    assert "r901" not in body  # the 503 belongs to no_5xx's body
    five = by_name["no_5xx"].find("failure")
    assert five is not None and "r901" in (five.text or "")
    assert by_name["latency_during_disruption"].find("skipped") is not None
    assert by_name["min_traffic"].find("failure") is None
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["outcome"] == "FAIL" and props["requests"] == "202" and props["failed"] == "2"


def test_junit_error_and_inconclusive_never_pass() -> None:
    errored = ET.fromstring(junit_xml(make_verdict(gap=True)))
    error = cases(errored.findall("testsuite")[0])["observers_complete"].find("error")
    assert error is not None and "observer gap in pods" in error.get("message", "")
    assert errored.get("errors") == "1"

    inconclusive = ET.fromstring(junit_xml(make_verdict(n=10)))
    failure = cases(inconclusive.findall("testsuite")[0])["min_traffic"].find("failure")
    assert failure is not None
    assert failure.get("type") == "inconclusive"
    # Ten requests in half a second neither reach the minimum nor flow through the disruption.
    flow = cases(inconclusive.findall("testsuite")[0])["traffic_flow"].find("failure")
    assert flow is not None and flow.get("type") == "inconclusive"
    assert inconclusive.get("failures") == "2"


def test_junit_negative_control_that_failed_is_green() -> None:
    verdict = make_verdict(failures=[HTTP_503], expect="fail", scenario="naive-restart")
    assert verdict.matches_expectation
    suite = ET.fromstring(junit_xml(verdict)).findall("testsuite")[0]
    by_name = cases(suite)
    assert suite.get("failures") == "0" and suite.get("errors") == "0"
    assert by_name["expected_outcome"].find("failure") is None
    out = by_name["no_5xx"].find("system-out")
    assert out is not None and "failed as expected" in (out.text or "")
    assert suite.get("tests") == str(len(verdict.gates) + 1)


def test_junit_negative_control_that_passed_fails() -> None:
    verdict = make_verdict(expect="fail", scenario="naive-restart")
    assert verdict.outcome is GateStatus.PASS
    suite = ET.fromstring(junit_xml(verdict)).findall("testsuite")[0]
    failure = cases(suite)["expected_outcome"].find("failure")
    assert failure is not None and "expected to FAIL" in failure.get("message", "")
    assert suite.get("failures") == "1"


def test_one_junit_file_for_many_scenarios(tmp_path: Path) -> None:
    verdicts = [make_verdict(), make_verdict(failures=[HTTP_503], scenario="kill-pod"),
                make_verdict(gap=True, scenario="drain")]
    path = write_junit(tmp_path, verdicts)
    assert path == tmp_path / "junit.xml"
    root = ET.parse(path).getroot()
    assert [s.get("name") for s in root.findall("testsuite")] == ["rolling-restart", "kill-pod", "drain"]
    suites = root.findall("testsuite")
    assert root.get("tests") == str(sum(int(s.get("tests", "0")) for s in suites))
    assert root.get("failures") == "1" and root.get("errors") == "1"
    assert path.read_text().startswith("<?xml")


def test_junit_survives_characters_xml_cannot_carry() -> None:
    nasty = rec(902, 7.7, error=ErrorKind.OTHER, detail="bad\x00byte\x1b[31m <tag>")
    root = ET.fromstring(junit_xml(make_verdict(failures=[nasty], scenario="odd<&>name")))
    suite = root.findall("testsuite")[0]
    assert suite.get("name") == "odd<&>name"
    failure = cases(suite)["no_connection_errors"].find("failure")
    assert failure is not None
    assert "bad\ufffdbyte\ufffd[31m <tag>" in (failure.text or "")


# --- terminal ------------------------------------------------------------------------------------------


def render(verdict: Verdict) -> str:
    console = Console(record=True, width=200, color_system=None)
    console.print(verdict_renderable(verdict, failures=1))
    return console.export_text()


def test_terminal_summary_shows_outcome_gates_counts_and_first_failures() -> None:
    text = render(make_verdict(failures=[RESET, HTTP_503]))
    assert " FAIL " in text
    assert "no_connection_errors" in text and "disruption_observed" in text
    assert "1 reset" in text and "1 5xx" in text
    assert "first 1 of 2 failing requests" in text
    assert "r900" in text and "terminating" in text
    assert "r901" not in text


def test_terminal_summary_marks_an_unmet_negative_control() -> None:
    text = render(make_verdict(expect="fail"))
    assert "expected FAIL, did not fail" in text


def test_terminal_summary_goes_to_the_given_console() -> None:
    console = Console(record=True, width=160, color_system=None)
    print_verdict(make_verdict(gap=True), console)
    text = console.export_text()
    assert " ERROR " in text and "harness errors" not in text  # a gap is a gate, not a harness error
    assert "observer gap in pods" in text
