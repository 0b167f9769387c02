"""``report.html``: the release-gate report a person reads. One self-contained file: styles inline, each
timeline chart an inline SVG, no script and nothing fetched, so it opens offline, from a CI artifact
store, or under a Content-Security-Policy that forbids scripts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import jinja2

from harness.evidence import TimelineEvent
from harness.files import write_atomic
from harness.report.chart import OUTCOME_LABELS
from harness.report.view import ScenarioView, build_views, overview
from harness.verdict import OUTCOMES, Verdict

__all__ = ["HTML_FILE", "default_title", "render_html", "write_html_report"]

HTML_FILE = "report.html"


def default_title(verdicts: Sequence[Verdict]) -> str:
    if len(verdicts) == 1:
        return f"rollout-harness: {verdicts[0].scenario}"
    return "rollout-harness release gate"


def _environment(*, autoescape: bool) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("harness.report", "templates"),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_html(views: Sequence[ScenarioView], *, title: str, generated: datetime | None = None) -> str:
    template = _environment(autoescape=True).get_template("report.html.j2")
    when = (generated or datetime.now(tz=UTC)).strftime("%Y-%m-%d %H:%M:%S UTC")
    return template.render(
        title=title, views=list(views), overview=overview([v.verdict for v in views]), generated=when,
        outcome_labels=[OUTCOME_LABELS[o] for o in OUTCOMES],
    )


def write_html_report(out_dir: Path, verdicts: Sequence[Verdict],
                      timelines: Mapping[str, Sequence[TimelineEvent]] | None = None,
                      title: str | None = None, *, views: Sequence[ScenarioView] | None = None) -> Path:
    """Write ``report.html`` into ``out_dir`` for one or many verdicts and return its path.

    ``timelines`` maps a run id (or a scenario name) to that run's timeline events; a verdict without
    one still gets its numbers, gates and request chart, only the pod and endpoint lanes stay empty.
    ``views`` reuses views already built (charts drawn once for several reports)."""
    shown = list(views) if views is not None else build_views(verdicts, timelines)
    text = render_html(shown, title=title or default_title(verdicts))
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / HTML_FILE
    return write_atomic(target, text)
