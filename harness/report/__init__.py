"""Reports of a verdict: result.json, JUnit XML and a terminal summary."""

from harness.report.junit import JUNIT_FILE, junit_document, junit_testsuite, junit_xml, write_junit
from harness.report.result_json import RESULT_FILE, read_result_json, verdict_to_json, write_result_json
from harness.report.terminal import print_verdict, verdict_renderable

__all__ = [
    "JUNIT_FILE",
    "RESULT_FILE",
    "junit_document",
    "junit_testsuite",
    "junit_xml",
    "print_verdict",
    "read_result_json",
    "verdict_renderable",
    "verdict_to_json",
    "write_junit",
    "write_result_json",
]
