"""JUnit XML: one testsuite per scenario, one testcase per gate, for any CI that shows test results.

Mapping, chosen so that nothing but a proven result ever shows green:
  PASS -> passed; FAIL -> <failure>; ERROR -> <error>; INCONCLUSIVE -> <failure type="inconclusive">;
  SKIPPED -> <skipped>.
A negative control (a scenario expected to fail) inverts only FAIL: its failing gates are reported as
passed ("failed as expected"), and an extra ``expected_outcome`` testcase fails unless the verdict
really was FAIL. ERROR and INCONCLUSIVE never turn green, whatever was expected.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from harness.files import write_atomic
from harness.report.diagnosis_view import diagnosis_text, headline_with_fix
from harness.verdict import FailedRequest, GateResult, GateStatus, Verdict

__all__ = ["JUNIT_FILE", "junit_document", "junit_testsuite", "junit_xml", "write_junit"]

JUNIT_FILE = "junit.xml"
CLASS_PREFIX = "rollout-harness"
# First failing requests listed in one failure body; the rest are in result.json.
BODY_FAILURES = 10
# A failure message is one line in a CI's test list: the diagnosis and the gate's reason, cut to this.
MESSAGE_CHARS = 500

# Characters XML 1.0 cannot carry at all; ElementTree escapes markup but would write these as is.
_INVALID_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# Which first failures belong to which gate's failure body.
_GATE_OUTCOMES: dict[str, frozenset[str]] = {
    "no_5xx": frozenset({"http_5xx"}),
    "no_connection_errors": frozenset({"refused", "reset", "timeout", "other"}),
    "all_completed": frozenset({"incomplete"}),
    "no_4xx": frozenset({"http_4xx"}),
    "no_bad_status": frozenset({"bad_status"}),
    "expected_status": frozenset({"unexpected_status"}),
}


def _clean(text: str) -> str:
    return _INVALID_XML.sub("\ufffd", text)


def _failures_for(verdict: Verdict, gate: GateResult) -> list[FailedRequest]:
    wanted = _GATE_OUTCOMES.get(gate.name)
    chosen = [f for f in verdict.first_failures if wanted is None or f.outcome in wanted]
    return chosen[:BODY_FAILURES]


def _message(verdict: Verdict, gate: GateResult) -> str:
    """The gate's reason, led by the diagnosis (top mechanisms and the top fix) when there is one."""
    if verdict.diagnosis is None:
        return _clean(gate.reason)
    text = " ".join(f"{headline_with_fix(verdict.diagnosis)}; {gate.reason}".split())
    if len(text) > MESSAGE_CHARS:
        text = text[:MESSAGE_CHARS - 1].rstrip() + "\u2026"
    return _clean(text)


def _describe(failure: FailedRequest) -> str:
    return failure.describe() + (f"; mechanism {failure.mechanism}" if failure.mechanism else "")


def _body(verdict: Verdict, gate: GateResult) -> str:
    lines = [] if verdict.diagnosis is None else [diagnosis_text(verdict.diagnosis), ""]
    lines.append(gate.reason)
    if gate.numbers:
        lines.append("numbers: " + ", ".join(f"{k}={v}" for k, v in gate.numbers.items()))
    failures = _failures_for(verdict, gate)
    if failures and gate.name in _GATE_OUTCOMES:
        lines.append(f"first failing requests (run {verdict.run_id}):")
        lines.extend("  " + _describe(f) for f in failures)
    return "\n".join(lines)


def _testcase(suite: ET.Element, verdict: Verdict, gate: GateResult) -> tuple[int, int, int]:
    """Append one gate's testcase; return (failures, errors, skipped) it adds."""
    case = ET.SubElement(suite, "testcase", {
        "classname": _clean(f"{CLASS_PREFIX}.{verdict.scenario}"), "name": _clean(gate.name), "time": "0",
    })
    reason = _clean(gate.reason)
    status = gate.status
    if status is GateStatus.PASS:
        ET.SubElement(case, "system-out").text = reason
        return 0, 0, 0
    if status is GateStatus.SKIPPED:
        ET.SubElement(case, "skipped", {"message": reason})
        return 0, 0, 1
    if status is GateStatus.ERROR:
        error = ET.SubElement(case, "error", {"message": _message(verdict, gate), "type": "error"})
        error.text = _clean(_body(verdict, gate))
        return 0, 1, 0
    if status is GateStatus.INCONCLUSIVE:
        failure = ET.SubElement(case, "failure", {"message": _message(verdict, gate), "type": "inconclusive"})
        failure.text = _clean(_body(verdict, gate))
        return 1, 0, 0
    if verdict.expected == "fail":
        ET.SubElement(case, "system-out").text = _clean(
            "failed as expected (negative control): " + _body(verdict, gate))
        return 0, 0, 0
    failure = ET.SubElement(case, "failure", {"message": _message(verdict, gate), "type": "fail"})
    failure.text = _clean(_body(verdict, gate))
    return 1, 0, 0


def junit_testsuite(verdict: Verdict) -> ET.Element:
    facts = verdict.facts
    duration = 0.0 if facts.ended_at is None else max(0.0, facts.ended_at - facts.started_at)
    suite = ET.Element("testsuite", {
        "name": _clean(verdict.scenario),
        "timestamp": datetime.fromtimestamp(facts.started_at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "time": f"{duration:.3f}",
    })
    props = ET.SubElement(suite, "properties")
    outcomes = verdict.counts.outcomes
    for name, value in (
        ("run_id", verdict.run_id), ("outcome", verdict.outcome.value), ("expected", verdict.expected),
        ("matches_expectation", str(verdict.matches_expectation).lower()),
        ("requests", str(outcomes.total)), ("failed", str(outcomes.failed(allow_4xx=verdict.config.allow_4xx))),
    ):
        ET.SubElement(props, "property", {"name": name, "value": _clean(value)})

    failures = errors = skipped = 0
    for gate in verdict.gates:
        f, e, s = _testcase(suite, verdict, gate)
        failures, errors, skipped = failures + f, errors + e, skipped + s
    tests = len(verdict.gates)
    if verdict.expected == "fail":
        tests += 1
        case = ET.SubElement(suite, "testcase", {
            "classname": _clean(f"{CLASS_PREFIX}.{verdict.scenario}"), "name": "expected_outcome", "time": "0",
        })
        if verdict.matches_expectation:
            ET.SubElement(case, "system-out").text = "the negative control failed, as it must"
        else:
            message = (f"the scenario is expected to FAIL (a negative control) but its verdict is "
                       f"{verdict.outcome.value}: the harness did not see the failure it exists to catch")
            ET.SubElement(case, "failure", {"message": message, "type": "expectation"}).text = message
            failures += 1
    for key, n in (("tests", tests), ("failures", failures), ("errors", errors), ("skipped", skipped)):
        suite.set(key, str(n))
    if verdict.harness_errors:
        ET.SubElement(suite, "system-err").text = _clean("\n".join(verdict.harness_errors))
    return suite


def junit_document(verdicts: Sequence[Verdict]) -> ET.Element:
    root = ET.Element("testsuites", {"name": CLASS_PREFIX})
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    time_total = 0.0
    for verdict in verdicts:
        suite = junit_testsuite(verdict)
        root.append(suite)
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
        time_total += float(suite.get("time", "0"))
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{time_total:.3f}")
    return root


def junit_xml(verdicts: Verdict | Sequence[Verdict]) -> str:
    items = [verdicts] if isinstance(verdicts, Verdict) else list(verdicts)
    root = junit_document(items)
    ET.indent(root)
    text: str = ET.tostring(root, encoding="unicode", xml_declaration=True)
    return text + "\n"


def write_junit(out: Path, verdicts: Verdict | Sequence[Verdict]) -> Path:
    """Write one JUnit file for one or many scenarios to ``out`` (a directory gets ``junit.xml``)."""
    target = out / JUNIT_FILE if out.is_dir() else out
    return write_atomic(target, junit_xml(verdicts))
