"""report.md, and the release gate's reports (HTML, Markdown, one JUnit file, gate.json) and exit code."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from test_report import HTTP_503, RESET, make_verdict, rec, timeline
from test_report_html import assert_self_contained, recorded_reports

from harness.evidence import ErrorKind
from harness.report import gate_exit_code, gate_holds, gate_summary, write_markdown_report, write_reports
from harness.report.markdown import md_code, md_text
from harness.verdict import GateStatus

# --- Markdown --------------------------------------------------------------------------------------------


def test_markdown_has_the_verdict_numbers_gates_and_first_failures(tmp_path: Path) -> None:
    verdict = make_verdict(failures=[RESET, HTTP_503])
    path = write_markdown_report(tmp_path, [verdict], {verdict.run_id: timeline()})
    assert path == tmp_path / "report.md"
    text = path.read_text()
    assert text.startswith("# rollout-harness: rolling-restart\n")
    assert "**NOT AS EXPECTED**: 1 of 1 scenarios did not meet their expectation: rolling-restart" in text
    assert "## rolling-restart: FAIL" in text
    assert "**FAIL** (NOT as expected): expected PASS, got FAIL." in text
    assert "| requests | **202** (20.2 req/s over 10.0 s) |" in text
    assert "| failed | **2** (1 5xx, 1 reset) |" in text
    assert ("| `no_5xx` | **FAIL** | 1 of 202 requests (0.495%) got a 5xx response (1x 503), the first at "
            "+7.600s |") in text
    assert "| `no_4xx` | **PASS** |" in text
    assert "| `min_traffic` | **PASS** |" in text
    assert "| +7.500 s | `r900-00000201` | keep\\-alive |" not in text  # a hyphen needs no escape
    # Each failure shows the mechanism the judge's diagnosis gave it.
    mechanism = next(f.mechanism for f in verdict.first_failures if f.id == "r900-00000201")
    assert mechanism is not None
    assert ("| +7.500 s | `r900-00000201` | keep-alive | **reset**: reset: reset &lt;by&gt; peer & \"friends\" "
            f"(`{mechanism}`) |") in text
    assert "`web-a` (connection's last answer) | Running, not ready, terminating for 0.50s |" in text
    assert "| 1 | +5.000 s | restart | start |  |" in text
    # The chart is a file beside the report, and the HTML report is linked for the rest.
    assert "![timeline of rolling-restart](chart-rolling-restart.svg)" in text
    assert "[report.html](report.html#s-rolling-restart)" in text
    chart = (tmp_path / "chart-rolling-restart.svg").read_text()
    assert chart.startswith("<?xml") and "<svg" in chart and "web-a" in chart
    assert "\n\n\n" not in text


def test_markdown_without_charts_or_html_link(tmp_path: Path) -> None:
    path = write_markdown_report(tmp_path, [make_verdict()], charts=False, html_name=None)
    text = path.read_text()
    assert "No request failed." in text
    assert "![" not in text and "report.html" not in text
    assert not list(tmp_path.glob("*.svg"))


def test_markdown_escapes_cells() -> None:
    assert md_text("a | b\nc *d* _e_ <f> [g](h) `i`") == (
        "a \\| b c \\*d\\* \\_e\\_ &lt;f&gt; \\[g\\](h) \\`i\\`")
    assert md_code("a|b `c`\n") == "a\\|b 'c'"


def test_markdown_table_row_stays_one_row_whatever_the_detail(tmp_path: Path) -> None:
    nasty = rec(902, 7.7, error=ErrorKind.OTHER, detail="pipe | and\nnewline")
    text = write_markdown_report(tmp_path, [make_verdict(failures=[nasty])], charts=False).read_text()
    [row] = [line for line in text.splitlines() if line.startswith("| +") and "`r902-" in line]
    assert "pipe \\| and newline" in row
    assert row.count(" | ") == 6 and row.count("\\|") == 1  # seven cells, the pipe in the detail escaped


# --- gate ------------------------------------------------------------------------------------------------


def test_gate_reports_for_many_scenarios(tmp_path: Path) -> None:
    verdicts, timelines = recorded_reports()
    verdicts.append(make_verdict(failures=[HTTP_503], expect="fail", scenario="naive-hand-made"))
    paths = write_reports(tmp_path / "gate", verdicts, timelines)
    out = tmp_path / "gate"
    assert paths == {"html": out / "report.html", "markdown": out / "report.md", "junit": out / "junit.xml",
                     "json": out / "gate.json"}
    assert all(p.is_file() for p in paths.values())
    assert sorted(p.name for p in out.glob("chart-*.svg")) == [
        "chart-naive-hand-made.svg", "chart-naive-rolling-restart.svg", "chart-rolling-restart.svg"]

    root = ET.parse(paths["junit"]).getroot()
    assert [s.get("name") for s in root.findall("testsuite")] == [v.scenario for v in verdicts]
    assert root.get("failures") == "0" and root.get("errors") == "0"

    gate = json.loads(paths["json"].read_text())
    assert gate["overall"]["ok"] is True
    assert gate["overall"]["scenarios"] == 3 and gate["overall"]["matched"] == 3
    assert gate["overall"]["mismatched"] == []
    assert gate["overall"]["by_outcome"] == {"PASS": 1, "FAIL": 2}
    assert [v["scenario"] for v in gate["verdicts"]] == [v.scenario for v in verdicts]
    naive = gate["verdicts"][1]
    assert naive["outcome"] == "FAIL" and naive["expected"] == "FAIL" and naive["matches_expectation"]
    assert naive["failing_gates"] == ["no_connection_errors"]
    assert naive["failed"] == verdicts[1].counts.outcomes.failed()
    assert [f["id"] for f in naive["first_failures"]] == [f.id for f in verdicts[1].first_failures[:5]]

    html = paths["html"].read_text()
    assert "GATE PASSED: all 3 scenarios met their expectations" in html
    assert_self_contained(html)
    markdown = paths["markdown"].read_text()
    assert "**GATE PASSED**" in markdown
    assert "| [naive-hand-made](#s-naive-hand-made) | **FAIL** | FAIL | yes |" in markdown
    assert gate_exit_code(verdicts) == 0


def test_gate_json_overall_is_false_when_any_expectation_is_missed(tmp_path: Path) -> None:
    cases = {
        "a negative control that passed": [make_verdict(), make_verdict(expect="fail", scenario="naive")],
        "a scenario that failed": [make_verdict(failures=[RESET]), make_verdict(expect="fail", scenario="naive",
                                                                                failures=[RESET])],
        "an error where a failure was expected": [make_verdict(gap=True, expect="fail", scenario="naive")],
        "an inconclusive run": [make_verdict(n=10)],
    }
    for what, verdicts in cases.items():
        summary = gate_summary(verdicts)
        assert summary["overall"]["ok"] is False, what
        assert summary["overall"]["mismatched"], what
        assert gate_exit_code(verdicts) == 1, what
        assert not gate_holds(verdicts), what
    errored = cases["an error where a failure was expected"][0]
    assert errored.outcome is GateStatus.ERROR
    summary = gate_summary([make_verdict(failures=[RESET]), make_verdict()])
    assert summary["overall"]["mismatched"] == ["rolling-restart"]
    assert summary["overall"]["headline"].startswith("1 of 2 scenarios did not meet their expectation")


def test_gate_json_overall_is_true_when_every_expectation_is_met() -> None:
    verdicts = [make_verdict(), make_verdict(expect="fail", scenario="naive", failures=[HTTP_503])]
    summary = gate_summary(verdicts)
    assert summary["overall"]["ok"] is True and summary["overall"]["matched"] == 2
    assert gate_exit_code(verdicts) == 0
    json.dumps(summary)  # plain JSON all the way down


def test_a_gate_over_no_scenario_proves_nothing(tmp_path: Path) -> None:
    assert gate_exit_code([]) == 1
    summary = gate_summary([])
    assert summary["overall"]["ok"] is False and summary["verdicts"] == []
    paths = write_reports(tmp_path, [], {})
    assert "no scenario was judged" in paths["html"].read_text()
    assert json.loads(paths["json"].read_text())["overall"]["ok"] is False
