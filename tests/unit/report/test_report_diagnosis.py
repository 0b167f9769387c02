"""Every report shows a verdict's diagnosis first: the recorded naive-rolling-restart run (requests lost
when pods without preStop were deleted) with a diagnosis built here, hostile text and all, so every
part of the section is exercised; the recording's own diagnosis is rendered in test_recorded."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console
from test_report_html import FAIL_RUN, PASS_RUN, recorded

from harness.diagnosis import Diagnosis, Finding, Mechanism, PodTimeline, Recommendation
from harness.report import (
    chart_data,
    gate_summary,
    junit_xml,
    read_result_json,
    render_chart_svg,
    render_html,
    render_markdown,
    verdict_renderable,
    write_result_json,
)
from harness.report.chart import MECHANISM_COLORS, chart_figure
from harness.report.diagnosis_view import SECTION_TITLE, headline_with_fix, summary_line
from harness.report.junit import MESSAGE_CHARS
from harness.report.view import build_views
from harness.verdict import Verdict

GOING = "sample-service-779bcd9b76-xbtbd"
NEW = "sample-service-5d8f7c9b4-k2m9q"
HOSTILE = "a <script>alert(1)</script> | *bold* [red]markup[/red] sentence"
PRESTOP = ("set preStop >= 3 s (endpoint removal took 1.42 s here, the last request reached the pod 1.10 s "
           "after deletion; preStop was 0 s), or keep serving that long after SIGTERM before closing the listener")
KEEPALIVE = ("at shutdown, stop keep-alives before closing anything: answer in-flight requests with "
             "`Connection: close` and close only idle connections")


def diagnosis(*, top_fix: str = PRESTOP) -> Diagnosis:
    shutdown = Finding(
        mechanism=Mechanism.SHUTDOWN_BEFORE_ENDPOINT_REMOVAL,
        title="new connections refused or reset by a pod that was still an endpoint",
        count=30, pods=[GOING], by_conn={"new": 30}, by_error={"reset": 12, "timeout": 18},
        first_offset_s=6.083, last_offset_s=6.64,
        evidence=[
            "endpoint removal took up to 1.42 s after deletion; the last request reached a going pod 1.10 s "
            "after its deletion",
            f"timeout on a new connection at +6.09 s: {GOING} 0.05 s after deletion, 0.04 s after SIGTERM "
            "(no preStop), a ready endpoint",
            f"reset on a new connection at +6.10 s: {GOING} 0.07 s after deletion, still an endpoint",
            "fourth sentence, left for the files on disk",
        ],
        measurements={"endpoint_removal_s": 1.42, "last_reach_after_deletion_s": 1.1, "pre_stop_s": 0.0,
                      "recommended_pre_stop_s": 3},
        recommendations=[Recommendation(setting="preStop", text=top_fix,
                                        overrides={"target.pre_stop_seconds": 3})],
        examples=["da4a52-00001385", "da4a52-00001391"],
    )
    keepalive = Finding(
        mechanism=Mechanism.KEEPALIVE_CLOSED_AT_SHUTDOWN, title="kept-alive connections closed by a terminating pod",
        count=10, retry_hidden=4, pods=[GOING], by_conn={"keep-alive": 10}, by_error={"reset": 6, "timeout": 4},
        first_offset_s=6.19, last_offset_s=6.59,
        evidence=[HOSTILE],
        recommendations=[Recommendation(setting="Connection: close at shutdown", text=KEEPALIVE)],
    )
    unexplained = Finding(
        mechanism=Mechanism.UNEXPLAINED, title="the evidence does not decide (what was seen is listed)",
        count=2, by_conn={"new": 2}, by_error={"timeout": 2}, first_offset_s=6.66, last_offset_s=6.66,
        evidence=["timeout at +6.66 s: no pod answered; 3/4 endpoints ready"],
    )
    return Diagnosis(
        failed=44, diagnosed=42, explained=40, retry_hidden=4, findings=[shutdown, keepalive, unexplained],
        pods=[
            PodTimeline(pod=GOING, node="kind-worker", deleted_s=6.03, grace_s=30, sigterm_s=6.04,
                        sigterm_source="no preStop", endpoint_not_ready_s=6.9, endpoint_removed_s=7.45,
                        exit_code=0, exit_reason="Completed", exited_s=6.2, last_answer_s=6.1, failures=40),
            PodTimeline(pod=NEW, node="kind-worker2", new=True, ready_s=5.6, last_answer_s=9.0),
        ],
        attribution="a failed request is tied to the pod that answered it, else to its connection's last "
                    "answer, else to the pods going away when it was sent",
        notes=["2 failed request(s) beyond the first 42 were not diagnosed"],
    )


def undiagnosed() -> Verdict:
    """The recorded failed run as a verdict without a diagnosis (judged before diagnoses existed)."""
    verdict, _ = recorded(FAIL_RUN)
    failures = [f.model_copy(update={"mechanism": None}) for f in verdict.first_failures]
    return verdict.model_copy(update={"diagnosis": None, "first_failures": failures})


def diagnosed(d: Diagnosis | None = None) -> Verdict:
    """The recorded failed run with the diagnosis above, its first failures marked with its mechanisms."""
    verdict = undiagnosed()
    failures = []
    for i, failure in enumerate(verdict.first_failures):
        if i == 1:
            mechanism = Mechanism.KEEPALIVE_CLOSED_AT_SHUTDOWN
        elif i == len(verdict.first_failures) - 1:
            mechanism = Mechanism.UNEXPLAINED
        else:
            mechanism = Mechanism.SHUTDOWN_BEFORE_ENDPOINT_REMOVAL
        failures.append(failure.model_copy(update={"mechanism": mechanism.value}))
    return verdict.model_copy(update={"diagnosis": d or diagnosis(), "first_failures": failures})


def test_the_summary_line_counts_explained_unexplained_and_what_a_retrying_client_sees() -> None:
    assert summary_line(diagnosis()) == (
        "44 failed requests: 40 explained, 2 unexplained, 2 not diagnosed; a retrying client would still "
        "have seen 38 of them (4 resent on a reused kept-alive connection)")


# --- result.json --------------------------------------------------------------------------------------


def test_result_json_carries_the_diagnosis_and_round_trips(tmp_path: Path) -> None:
    verdict = diagnosed()
    path = write_result_json(tmp_path, verdict)
    text = path.read_text()
    assert Verdict.model_validate_json(text) == verdict
    assert read_result_json(path) == verdict
    data = json.loads(text)
    assert [f["mechanism"] for f in data["diagnosis"]["findings"]] == [
        "shutdown-before-endpoint-removal", "keepalive-closed-at-shutdown", "unexplained"]
    assert data["diagnosis"]["findings"][0]["recommendations"][0]["overrides"] == {"target.pre_stop_seconds": 3}
    assert data["first_failures"][0]["mechanism"] == "shutdown-before-endpoint-removal"


# --- HTML ---------------------------------------------------------------------------------------------


def html_of(verdict: Verdict) -> str:
    return render_html(build_views([verdict], chart=False), title="t")


def test_html_shows_why_it_failed_first_with_the_fixes_and_every_sentence() -> None:
    html = html_of(diagnosed())
    section = html.index(SECTION_TITLE)
    assert section < html.index('<div class="numbers">') < html.index("<h3>Gates</h3>")
    assert ("44 failed requests: 40 explained, 2 unexplained, 2 not diagnosed; a retrying client would still "
            "have seen 38 of them (4 resent on a reused kept-alive connection)") in html
    assert '<span class="setting">preStop</span>: set preStop &gt;= 3 s (endpoint removal took 1.42 s' in html
    assert "<code>target.pre_stop_seconds=3</code>" in html
    assert "`Connection: close`" in html
    assert "fourth sentence, left for the files on disk" in html  # all evidence, not the terminal's three
    assert re.search(r'<td class="mono">endpoint_removal_s</td><td class="num mono">1.42</td>', html)
    assert "by error: reset 12, timeout 18; by connection: new 30" in html
    # The pods' way out, in seconds from the origin.
    assert "+6.04 s (no preStop)" in html and "0 Completed" in html and "+7.45 s" in html
    assert f"{NEW} <span class=\"muted\">(new)</span>" in html
    assert "were not diagnosed" in html and "else to the pods going away" in html


def test_html_labels_the_unexplained_and_escapes_hostile_text() -> None:
    html = html_of(diagnosed())
    unexplained = re.search(r'<div class="finding( unexplained)?" data-mechanism="unexplained">(.*?)</h4>', html,
                            re.S)
    assert unexplained is not None and unexplained.group(1) == " unexplained"
    assert '<span class="unexplained-label">unexplained</span> x2' in unexplained.group(2)
    assert 'class="mech"' not in unexplained.group(2)  # never styled as a finding of cause
    assert "not a finding of cause" in html
    assert "<script>" not in html
    assert "a &lt;script&gt;alert(1)&lt;/script&gt; | *bold* [red]markup[/red] sentence" in html


def test_html_without_a_diagnosis_has_no_such_section() -> None:
    verdict = undiagnosed()
    html = html_of(verdict)
    assert SECTION_TITLE not in html and 'class="why"' not in html


# --- Markdown -----------------------------------------------------------------------------------------


def markdown_of(*verdicts: Verdict) -> str:
    return render_markdown(build_views(list(verdicts), chart=False), title="t", html_name=None)


def test_markdown_shows_why_it_failed_first() -> None:
    text = markdown_of(diagnosed())
    assert text.index("### Why it failed and what to change") < text.index("| requests |") < text.index("### Gates")
    assert "#### 1. `shutdown-before-endpoint-removal` x30: new connections refused" in text
    assert ("- **preStop**: set preStop &gt;= 3 s (endpoint removal took 1.42 s here, the last request reached the "
            "pod 1.10 s after deletion; preStop was 0 s), or keep serving") in text
    assert "(scenario overrides: `target.pre_stop_seconds=3`)\n\nEvidence:\n\n- endpoint removal" in text
    assert "- **Connection: close at shutdown**: at shutdown" in text
    assert "- fourth sentence, left for the files on disk" in text
    assert "| `recommended_pre_stop_s` | 3 |" in text
    assert (f"| `{GOING}` | +6.03 s | +6.04 s (no preStop) | +6.90 s | +7.45 s | 0 Completed | +6.20 s | "
            "+6.10 s | 40 |") in text
    assert f"| `{NEW}` (new) | - |" in text
    assert "Attribution: a failed request is tied" in text
    assert "(`shutdown-before-endpoint-removal`) |" in text  # the first failures' mechanism


def test_markdown_labels_the_unexplained_and_escapes_hostile_text() -> None:
    text = markdown_of(diagnosed())
    assert "#### 3. Unexplained x2: the evidence does not decide" in text
    assert "`unexplained`" not in text.split("### Gates")[0]  # no heading of cause for it
    assert "_Not a finding of cause" in text
    assert "<script>" not in text
    assert "- a &lt;script&gt;alert(1)&lt;/script&gt; \\| \\*bold\\* \\[red\\]markup\\[/red\\] sentence" in text


def test_markdown_overview_names_each_failed_scenarios_top_mechanism() -> None:
    passed, _ = recorded(PASS_RUN)
    text = markdown_of(passed, diagnosed())
    rows = {line.split("](")[0]: line for line in text.splitlines() if line.startswith("| [")}
    failed = diagnosed()
    sent, lost = failed.counts.outcomes.total, failed.counts.outcomes.failed()
    assert f"| {sent} | {lost} | {100 * lost / sent:.2f} % | shutdown-before-endpoint-removal |" in rows[
        "| [naive-rolling-restart"]
    assert "| 0 % | - | 3.07 s |" in rows["| [rolling-restart"]


# --- terminal -----------------------------------------------------------------------------------------


def terminal(verdict: Verdict) -> str:
    console = Console(record=True, width=200, color_system=None)
    console.print(verdict_renderable(verdict))
    return console.export_text()


def test_terminal_shows_why_it_failed_first_and_compactly() -> None:
    out = terminal(diagnosed())
    assert out.index(SECTION_TITLE) < out.index("no_connection_errors")
    assert out.index("FAIL") < out.index(SECTION_TITLE)  # the outcome line stays on top
    assert "1. shutdown-before-endpoint-removal x30: new connections refused" in out
    assert "\u2192 preStop: set preStop >= 3 s (endpoint removal took 1.42 s" in out
    assert "[target.pre_stop_seconds=3]" in out
    assert "fourth sentence" not in out and "1 more in report.html" in out  # three sentences a finding
    assert ("? unexplained x2: the evidence does not decide (what was seen is listed) (unexplained: the evidence "
            "does not decide, not a finding of cause)") in out
    assert "pods -" not in out
    assert HOSTILE in out  # printed as text: neither markup nor lost
    assert "[keepalive-closed-at-shutdown]" in out  # a first failure's mechanism


def test_terminal_without_a_diagnosis_is_as_before() -> None:
    verdict = undiagnosed()
    out = terminal(verdict)
    assert SECTION_TITLE not in out
    assert out.splitlines()[0].startswith(" FAIL ")
    assert f"first 5 of {verdict.counts.outcomes.failed()} failing requests:" in out
    assert "[shutdown-before-endpoint-removal]" not in out


# --- JUnit --------------------------------------------------------------------------------------------


def ordinary(verdict: Verdict) -> Verdict:
    """The recorded run is a negative control; as an ordinary scenario its failing gates fail in JUnit."""
    return verdict.model_copy(update={"expected": "pass", "matches_expectation": False})


def failures_of(verdict: Verdict) -> dict[str, ET.Element]:
    root = ET.fromstring(junit_xml(verdict))
    found = {}
    for case in root.iter("testcase"):
        failure = case.find("failure")
        if failure is not None:
            found[case.get("name", "")] = failure
    return found


def test_junit_failure_leads_with_the_diagnosis_and_the_top_fix() -> None:
    verdict = ordinary(diagnosed())
    failures = failures_of(verdict)
    failure = failures["no_connection_errors"]
    message = failure.get("message", "")
    assert verdict.diagnosis is not None and message.startswith(verdict.diagnosis.headline())
    assert message.startswith("shutdown-before-endpoint-removal x30; keepalive-closed-at-shutdown x10; "
                              "unexplained x2 (set preStop >= 3 s \u2026); ")
    assert message.endswith(verdict.gate("no_connection_errors").reason)
    body = failure.text or ""
    assert body.startswith(f"{SECTION_TITLE}:\n44 failed requests: 40 explained")
    assert "change preStop: set preStop >= 3 s" in body and "fourth sentence" in body
    assert "3. unexplained x2 (unexplained: the evidence does not decide, not a finding of cause): " in body
    assert HOSTILE in body  # escaped in the XML text, intact once parsed
    assert body.index(SECTION_TITLE) < body.index("first failing requests")
    listed = [line for line in body.splitlines() if line.startswith("  +")]
    assert listed and all("; mechanism " in line for line in listed)
    assert any(line.endswith("; mechanism keepalive-closed-at-shutdown") for line in listed)


def test_junit_message_stays_bounded_and_the_xml_escapes_hostile_text() -> None:
    long_fix = "raise " + "the setting " * 80
    verdict = ordinary(diagnosed(diagnosis(top_fix=long_fix)))
    gates = [g.model_copy(update={"reason": g.reason + " <b>" + "x" * 2000}) for g in verdict.gates]
    verdict = verdict.model_copy(update={"gates": gates})
    xml = junit_xml(verdict)
    assert "<script>" not in xml and "&lt;script&gt;" in xml
    message = failures_of(verdict)["no_connection_errors"].get("message", "")
    assert len(message) <= MESSAGE_CHARS
    assert verdict.diagnosis is not None
    assert message.startswith(f"{verdict.diagnosis.headline()} (preStop: raise ")
    assert message.endswith("\u2026")
    assert headline_with_fix(diagnosis(top_fix=long_fix)).endswith(" \u2026)")


def test_junit_negative_control_that_failed_says_why_in_its_output() -> None:
    root = ET.fromstring(junit_xml(diagnosed()))
    [case] = [c for c in root.iter("testcase") if c.get("name") == "no_connection_errors"]
    assert case.find("failure") is None
    out = case.find("system-out")
    assert out is not None
    assert (out.text or "").startswith(f"failed as expected (negative control): {SECTION_TITLE}:")


def test_junit_without_a_diagnosis_keeps_the_gates_reason() -> None:
    verdict = ordinary(undiagnosed())
    failure = failures_of(verdict)["no_connection_errors"]
    assert failure.get("message") == verdict.gate("no_connection_errors").reason
    assert not (failure.text or "").startswith(SECTION_TITLE)


# --- chart --------------------------------------------------------------------------------------------


def test_chart_data_marks_each_mechanism_at_its_failed_requests() -> None:
    verdict = diagnosed()
    _, events = recorded(FAIL_RUN)
    data = chart_data(verdict, events)
    assert [(m.mechanism, m.count, m.span) for m in data.mechanisms] == [
        ("shutdown-before-endpoint-removal", 30, (6.083, 6.64)),
        ("keepalive-closed-at-shutdown", 10, (6.19, 6.59)),
        ("unexplained", 2, (6.66, 6.66)),
    ]
    by_name = {m.mechanism: m for m in data.mechanisms}
    keep_alive = [round(f.offset_s, 6) for f in verdict.first_failures
                  if f.mechanism == Mechanism.KEEPALIVE_CLOSED_AT_SHUTDOWN.value]
    assert keep_alive and list(by_name["keepalive-closed-at-shutdown"].xs) == keep_alive
    assert len(by_name["unexplained"].xs) == 1
    assert sum(len(m.xs) for m in data.mechanisms) == len(verdict.first_failures)
    assert by_name["unexplained"].color == MECHANISM_COLORS["unexplained"]


def test_chart_has_a_legend_entry_per_mechanism() -> None:
    verdict = diagnosed()
    _, events = recorded(FAIL_RUN)
    data = chart_data(verdict, events)
    fig = chart_figure(data)
    labels = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert [label for label in labels if label.startswith("mechanism: ")] == [
        "mechanism: shutdown-before-endpoint-removal", "mechanism: keepalive-closed-at-shutdown",
        "mechanism: unexplained"]
    lanes = [t.get_text() for ax in fig.axes for t in ax.get_yticklabels() if " x" in t.get_text()]
    assert lanes == ["unexplained x2", "keepalive-closed-at-shutdown x10", "shutdown-before-endpoint-removal x30"]
    svg = render_chart_svg(data, id_prefix="s-naive")
    assert "mechanism: shutdown-before-endpoint-removal" in svg and "failed requests by mechanism" in svg


def test_chart_without_a_diagnosis_has_no_mechanism() -> None:
    _, events = recorded(FAIL_RUN)
    verdict = undiagnosed()
    data = chart_data(verdict, events)
    assert data.mechanisms == []
    fig = chart_figure(data)
    assert len(fig.axes) == 4
    assert not [t for legend in fig.legends for t in legend.get_texts() if "mechanism" in t.get_text()]


# --- release gate -------------------------------------------------------------------------------------


def test_gate_json_rows_name_each_failed_scenarios_top_mechanism() -> None:
    passed, _ = recorded(PASS_RUN)
    summary = gate_summary([passed, diagnosed()])
    ok, failed = summary["verdicts"]
    assert ok["top_mechanism"] is None and ok["diagnosis"] is None
    assert failed["top_mechanism"] == "shutdown-before-endpoint-removal"
    assert failed["diagnosis"].startswith("shutdown-before-endpoint-removal x30; ")
    assert failed["first_failures"][0]["mechanism"] == "shutdown-before-endpoint-removal"
    json.dumps(summary)  # gate.json is written from it


def test_html_overview_names_each_failed_scenarios_top_mechanism() -> None:
    passed, _ = recorded(PASS_RUN)
    html = render_html(build_views([passed, diagnosed()], chart=False), title="t")
    overview = html.split("</table>")[0]
    assert '<td class="mono mechanism">shutdown-before-endpoint-removal</td>' in overview
    assert '<td class="mono mechanism">-</td>' in overview
