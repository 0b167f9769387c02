"""``report.md``: the same report as ``report.html`` for places that render Markdown (a pull request, a CI
job summary). Each scenario's timeline chart is written next to it as an SVG file and linked."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import jinja2

from harness.evidence import TimelineEvent
from harness.files import write_atomic
from harness.report.html import HTML_FILE, default_title
from harness.report.view import ScenarioView, build_views, overview
from harness.verdict import Verdict

__all__ = ["MARKDOWN_FILE", "md_code", "md_text", "render_markdown", "write_markdown_report"]

MARKDOWN_FILE = "report.md"

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|])")


def md_text(value: object) -> str:
    """Text safe inside a Markdown table cell: one line, no markup, no raw HTML."""
    text = " ".join(str(value).split())
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return text.replace("<", "&lt;").replace(">", "&gt;")


def md_code(value: object) -> str:
    """Text safe inside a code span within a table cell (a pipe would still end the cell)."""
    return " ".join(str(value).split()).replace("`", "'").replace("|", "\\|")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("harness.report", "templates"),
        autoescape=False,  # Markdown, escaped cell by cell by the md and code filters
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_text
    env.filters["code"] = md_code
    return env


def render_markdown(views: Sequence[ScenarioView], *, title: str, html_name: str | None = HTML_FILE,
                    chart_files: Mapping[str, str] | None = None) -> str:
    """``chart_files`` maps a view's anchor to the chart file (relative to the report) to embed."""
    template = _environment().get_template("report.md.j2")
    text = template.render(title=md_text(title), views=list(views), overview=overview([v.verdict for v in views]),
                           html_name=html_name, chart_files=dict(chart_files or {}))
    # Blank lines pile up where optional blocks are left out.
    return re.sub(r"\n{3,}", "\n\n", text).rstrip("\n") + "\n"


def write_markdown_report(out_dir: Path, verdicts: Sequence[Verdict],
                          timelines: Mapping[str, Sequence[TimelineEvent]] | None = None,
                          title: str | None = None, *, html_name: str | None = HTML_FILE, charts: bool = True,
                          views: Sequence[ScenarioView] | None = None) -> Path:
    """Write ``report.md`` (and ``chart-<scenario>.svg`` per scenario when ``charts``) into ``out_dir``.

    ``html_name`` is the HTML report the Markdown links to for the full detail (None: no link)."""
    shown = list(views) if views is not None else build_views(verdicts, timelines, chart=charts)
    out_dir.mkdir(parents=True, exist_ok=True)
    chart_files: dict[str, str] = {}
    if charts:
        for view in shown:
            if view.chart_svg:
                name = f"chart-{view.anchor.removeprefix('s-')}.svg"
                (out_dir / name).write_text('<?xml version="1.0" encoding="utf-8" standalone="no"?>\n'
                                            + view.chart_svg, encoding="utf-8")
                chart_files[view.anchor] = name
    text = render_markdown(shown, title=title or default_title(verdicts), html_name=html_name,
                           chart_files=chart_files)
    target = out_dir / MARKDOWN_FILE
    return write_atomic(target, text)
