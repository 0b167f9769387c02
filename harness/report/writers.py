"""The one list of report writers: a run, a re-judged run and a release gate all write these.

A single run's directory gets ``result.json`` (its verdict); a release gate's directory gets
``gate.json`` (every verdict and whether each matched its expectation). The HTML, Markdown and JUnit
reports are the same writers for both, fed one verdict or many.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal

from harness.evidence import TIMELINE_FILE, TimelineEvent, read_timeline
from harness.report.html import HTML_FILE, write_html_report
from harness.report.junit import write_junit
from harness.report.markdown import write_markdown_report
from harness.report.release import write_gate_json
from harness.report.result_json import write_result_json
from harness.report.view import ScenarioView, build_views
from harness.verdict import Verdict

__all__ = ["REPORT_WRITERS", "write_reports", "write_run_reports"]

Scope = Literal["run", "release"]
Writer = Callable[[Path, Sequence[Verdict], list[ScenarioView], str | None, Scope], Path | None]


def _html(out: Path, verdicts: Sequence[Verdict], views: list[ScenarioView], title: str | None, scope: Scope) -> Path:
    return write_html_report(out, verdicts, title=title, views=views)


def _markdown(out: Path, verdicts: Sequence[Verdict], views: list[ScenarioView], title: str | None,
              scope: Scope) -> Path:
    return write_markdown_report(out, verdicts, title=title, html_name=HTML_FILE, views=views)


def _junit(out: Path, verdicts: Sequence[Verdict], views: list[ScenarioView], title: str | None, scope: Scope) -> Path:
    return write_junit(out, verdicts)


def _json(out: Path, verdicts: Sequence[Verdict], views: list[ScenarioView], title: str | None, scope: Scope) -> Path:
    if scope == "run":
        (verdict,) = verdicts
        return write_result_json(out, verdict)
    return write_gate_json(out, verdicts)


# Name in the returned mapping -> writer. A new report format is one entry here plus its module.
REPORT_WRITERS: dict[str, Writer] = {"html": _html, "markdown": _markdown, "junit": _junit, "json": _json}


def write_reports(out_dir: Path, verdicts: Sequence[Verdict],
                  timelines: Mapping[str, Sequence[TimelineEvent]] | None = None, *,
                  scope: Scope = "release", title: str | None = None) -> dict[str, Path]:
    """Every report into ``out_dir``, by name (html, markdown, junit, json)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    views = build_views(verdicts, timelines)  # each chart is drawn once, for every report
    written: dict[str, Path] = {}
    for name, writer in REPORT_WRITERS.items():
        path = writer(out_dir, verdicts, views, title, scope)
        if path is not None:
            written[name] = path
    return written


def write_run_reports(run_dir: Path, verdict: Verdict) -> dict[str, Path]:
    """The reports of one judged run directory (a run, or a re-judge of a saved one)."""
    timelines = {verdict.run_id: read_timeline(run_dir / TIMELINE_FILE)}
    return write_reports(run_dir, [verdict], timelines, scope="run")
