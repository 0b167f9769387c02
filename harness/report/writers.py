"""The reports of one judged run directory: the one list that a run and a re-judge both write."""

from __future__ import annotations

from pathlib import Path

from harness.evidence import TIMELINE_FILE, read_timeline
from harness.report.html import write_html_report
from harness.report.junit import write_junit
from harness.report.markdown import write_markdown_report
from harness.report.result_json import write_result_json
from harness.verdict import Verdict

__all__ = ["write_run_reports"]


def write_run_reports(run_dir: Path, verdict: Verdict) -> dict[str, Path]:
    timelines = {verdict.run_id: read_timeline(run_dir / TIMELINE_FILE)}
    return {
        "result": write_result_json(run_dir, verdict),
        "junit": write_junit(run_dir, [verdict]),
        "html": write_html_report(run_dir, [verdict], timelines),
        "markdown": write_markdown_report(run_dir, [verdict], timelines),
    }
