"""The gate report in a real browser: Debian's Chromium, headless, driven by Playwright, with the network
cut off. The page must load from its file alone, log no error, fetch nothing, and draw every chart.

Never skipped: without Chromium the test fails and says how to install it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from test_report import HTTP_503, RESET, make_verdict, timeline
from test_report_html import recorded_reports

from harness.report import write_reports

if TYPE_CHECKING:
    from playwright.sync_api import Page

INSTALL_HINT = "install Debian's Chromium with `apt-get install -y chromium` (scripts/setup does)"
# Keep a headless run quiet and independent of the machine: no GPU, no first-run work, no background
# fetches of the browser's own.
FLAGS = ["--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-default-apps", "--disable-sync", "--metrics-recording-only", "--no-default-browser-check"]
T = TypeVar("T")


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(f"no Chromium on PATH: {INSTALL_HINT}")


@dataclass
class Visit:
    requested: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def visit(html: Path, inspect: Callable[[Page], T]) -> tuple[T, Visit]:
    """Open ``html`` offline, run ``inspect`` on the loaded page, and say what the page asked for and
    complained about."""
    browser_path = chromium()
    try:
        from playwright.sync_api import Route, sync_playwright
    except ImportError:
        pytest.fail("Playwright is missing: install the dev tools with `pip install -e '.[dev]'`")
    seen = Visit()

    def only_local(route: Route) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:")):
            route.continue_()
        else:
            seen.blocked.append(url)
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path, args=FLAGS, timeout=20_000)
        try:
            context = browser.new_context(offline=True, viewport={"width": 1400, "height": 1000})
            context.set_default_timeout(10_000)
            context.route("**/*", only_local)
            page = context.new_page()
            page.on("request", lambda r: seen.requested.append(r.url))
            page.on("requestfailed", lambda r: seen.problems.append(f"request failed: {r.url}"))
            page.on("console", lambda m: seen.problems.append(f"console {m.type}: {m.text}")
                    if m.type in ("error", "assert") else None)
            page.on("pageerror", lambda e: seen.problems.append(f"page error: {e}"))
            page.goto(html.as_uri(), wait_until="load")
            result = inspect(page)
        finally:
            browser.close()
    return result, seen


def test_the_report_opens_offline_draws_its_charts_and_logs_no_error(tmp_path: Path) -> None:
    verdicts, timelines = recorded_reports()
    hand_made = make_verdict(failures=[RESET, HTTP_503], scenario="kill-pod")
    verdicts.append(hand_made)
    timelines[hand_made.run_id] = timeline()
    html = write_reports(tmp_path, verdicts, timelines)["html"]

    def inspect(page: Page) -> dict[str, Any]:
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        return page.evaluate("""() => ({
            title: document.title,
            resources: performance.getEntriesByType('resource').map(e => e.name),
            banner: document.querySelector('#overall').innerText,
            bannerColour: getComputedStyle(document.querySelector('#overall')).backgroundColor,
            sections: Array.from(document.querySelectorAll('section.scenario')).map(section => {
                const svg = section.querySelector('figure.chart svg');
                const badge = section.querySelector('h2 .badge');
                const box = svg.getBoundingClientRect();
                const painted = Array.from(svg.querySelectorAll('path')).filter(p => {
                    const b = p.getBBox(); return b.width > 0 || b.height > 0; });
                return {scenario: section.dataset.scenario, badge: badge.innerText,
                        badgeColour: getComputedStyle(badge).backgroundColor,
                        width: box.width, height: box.height, painted: painted.length,
                        text: Array.from(svg.querySelectorAll('text')).map(t => t.textContent).join(' ')};
            }),
        })""")

    page, seen = visit(html, inspect)
    assert seen.problems == []
    assert seen.blocked == []
    assert html.as_uri() in seen.requested
    assert all(url.startswith(("file:", "data:")) for url in seen.requested), seen.requested
    assert page["resources"] == []
    assert page["title"] == "rollout-harness release gate"
    assert "GATE FAILED" in page["banner"]  # kill-pod was expected to pass
    assert page["bannerColour"] == "rgb(207, 34, 46)"

    colours = {"PASS": "rgb(26, 127, 55)", "FAIL": "rgb(207, 34, 46)"}
    assert [s["scenario"] for s in page["sections"]] == [v.scenario for v in verdicts]
    for verdict, section in zip(verdicts, page["sections"], strict=True):
        assert section["badge"] == verdict.outcome.value
        assert section["badgeColour"] == colours[verdict.outcome.value]
        assert section["width"] > 1000 and section["height"] > 500, section
        assert section["painted"] > 50, section
        assert "requests/s by outcome" in section["text"] and "seconds since" in section["text"]
        for pod in verdict.facts.old_pods:
            assert pod in section["text"]
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_the_browser_check_sees_a_fetch_and_a_console_error(tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text('<!doctype html><title>bad</title><img src="https://example.invalid/x.png">'
                    '<script>console.error("boom")</script>')
    title, seen = visit(page, lambda p: p.title())
    assert title == "bad"
    assert seen.blocked == ["https://example.invalid/x.png"]
    assert any("boom" in p for p in seen.problems)
