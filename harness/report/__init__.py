"""Reports of a verdict: result.json, JUnit XML, a terminal summary, and the HTML and Markdown reports
with timeline charts; for a release gate over many scenarios, all of them plus gate.json."""

from harness.report.chart import ChartData, chart_data, render_chart_svg
from harness.report.html import HTML_FILE, render_html, write_html_report
from harness.report.junit import JUNIT_FILE, junit_document, junit_testsuite, junit_xml, write_junit
from harness.report.markdown import MARKDOWN_FILE, render_markdown, write_markdown_report
from harness.report.release import (
    GATE_FILE,
    gate_exit_code,
    gate_holds,
    gate_summary,
    verdict_summary,
    write_gate_json,
)
from harness.report.result_json import RESULT_FILE, read_result_json, verdict_to_json, write_result_json
from harness.report.terminal import print_verdict, verdict_renderable
from harness.report.view import ScenarioView, build_views
from harness.report.writers import REPORT_WRITERS, write_reports, write_run_reports

__all__ = [
    "GATE_FILE",
    "HTML_FILE",
    "JUNIT_FILE",
    "MARKDOWN_FILE",
    "REPORT_WRITERS",
    "RESULT_FILE",
    "ChartData",
    "ScenarioView",
    "build_views",
    "chart_data",
    "gate_exit_code",
    "gate_holds",
    "gate_summary",
    "junit_document",
    "junit_testsuite",
    "junit_xml",
    "print_verdict",
    "read_result_json",
    "render_chart_svg",
    "render_html",
    "render_markdown",
    "verdict_renderable",
    "verdict_summary",
    "verdict_to_json",
    "write_gate_json",
    "write_html_report",
    "write_junit",
    "write_markdown_report",
    "write_reports",
    "write_result_json",
    "write_run_reports",
]
