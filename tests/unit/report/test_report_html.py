"""report.html from hand-made verdicts and from two recorded runs (tests/unit/data/recorded: run.json,
timeline.jsonl, the requests gzipped, and result.json as judging them gives it)."""

from __future__ import annotations

import gzip
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_report import HTTP_503, RESET, make_verdict, rec, timeline

from harness.evidence import TIMELINE_FILE, ErrorKind, TimelineEvent, read_timeline
from harness.report import read_result_json, render_html, write_html_report
from harness.report.view import build_views
from harness.verdict import GateStatus, Verdict, judge_run_dir

RUNS = Path(__file__).parents[1] / "data" / "recorded"
PASS_RUN = RUNS / "rolling-restart"
FAIL_RUN = RUNS / "naive-rolling-restart"


def recorded(run: Path) -> tuple[Verdict, list[TimelineEvent]]:
    return read_result_json(run), read_timeline(run / TIMELINE_FILE)


def recorded_reports() -> tuple[list[Verdict], dict[str, list[TimelineEvent]]]:
    verdicts, timelines = [], {}
    for run in (PASS_RUN, FAIL_RUN):
        verdict, events = recorded(run)
        verdicts.append(verdict)
        timelines[verdict.run_id] = events
    return verdicts, timelines


class _Page(HTMLParser):
    """Every tag with its attributes, and the text of style elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


def parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    return page


def assert_self_contained(text: str) -> None:
    page = parse(text)
    for tag, attrs in page.tags:
        for name in ("src", "href", "xlink:href", "srcset", "action", "data", "poster"):
            value = attrs.get(name, "").strip().lower()
            assert "http://" not in value and "https://" not in value and not value.startswith("//"), (
                f"<{tag} {name}={value!r}> reaches outside the file")
        assert tag != "link", f"<link {attrs}> loads something from elsewhere"
        assert tag != "script" or "src" not in attrs, "a script loaded from elsewhere"
        assert tag not in ("iframe", "object", "embed"), f"<{tag}> embeds another document"
    for css in page.styles:
        assert "@import" not in css and not re.search(r"url\(\s*['\"]?(https?:)?//", css)


def test_html_shows_each_scenario_its_verdict_gates_and_first_failures(tmp_path: Path) -> None:
    good = make_verdict()
    bad = make_verdict(failures=[RESET, HTTP_503], scenario="kill-pod")
    path = write_html_report(tmp_path, [good, bad])
    assert path == tmp_path / "report.html"
    text = path.read_text()
    for verdict in (good, bad):
        assert f'id="s-{verdict.scenario}"' in text
        assert f'data-outcome="{verdict.outcome.value}"' in text
        assert verdict.run_id in text
        for gate in verdict.gates:
            assert f'<td class="mono">{gate.name}</td>' in text
    assert '<span class="badge FAIL">FAIL</span> kill-pod' in text
    assert '<span class="badge PASS">PASS</span> rolling-restart' in text
    # The first failures with the pod each one reached, as the timeline saw it then.
    assert "r900" in text and "r901" in text
    assert "connection&#39;s last answer" in text and "terminating for 0.50s" in text
    assert "HTTP 503" in text
    assert "GATE FAILED: 1 of 2 scenarios did not meet their expectation: kill-pod" in text
    assert "expected PASS, got FAIL" in text
    assert '<a href="#s-kill-pod">kill-pod</a>' in text
    assert text.count("<svg") == 2


def test_html_key_numbers(tmp_path: Path) -> None:
    verdict = make_verdict(failures=[RESET, HTTP_503])
    [view] = build_views([verdict], chart=False)
    shown = {n.label: (n.value, n.detail, n.tone) for n in view.numbers}
    assert shown["requests"][0] == "202"
    assert shown["failed"] == ("2", "1 5xx, 1 reset", "bad")
    assert shown["failure rate"][0] == "0.99 %"
    assert shown["rollout"][0] == "4.00 s" and "deadline 30 s" in shown["rollout"][1]
    assert shown["disruption"][0] == "4.00 s"
    assert shown["p99 during disruption"][0].endswith(" ms")
    assert view.value("no such number") == "-"


def test_a_negative_control_is_shown_against_its_expectation(tmp_path: Path) -> None:
    caught = make_verdict(failures=[HTTP_503], expect="fail", scenario="naive")
    text = render_html(build_views([caught], chart=False), title="t")
    assert "AS EXPECTED: the scenario met its expectation" in text
    assert "negative control: failed as expected" in text

    missed = make_verdict(expect="fail", scenario="naive")
    text = render_html(build_views([missed], chart=False), title="t")
    assert "NOT AS EXPECTED" in text
    assert "negative control: expected FAIL, got PASS" in text
    assert 'class="scenario mismatch"' in text


def test_html_escapes_what_it_shows(tmp_path: Path) -> None:
    nasty = rec(902, 7.7, error=ErrorKind.OTHER, detail="<script>alert(1)</script> & co")
    verdict = make_verdict(failures=[nasty], scenario="odd<&>name")
    text = write_html_report(tmp_path, [verdict], title="a <b> title").read_text()
    assert "<script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in text
    assert "odd&lt;&amp;&gt;name" in text
    assert "<title>a &lt;b&gt; title</title>" in text


def test_html_is_self_contained(tmp_path: Path) -> None:
    verdicts, timelines = recorded_reports()
    text = write_html_report(tmp_path, [*verdicts, make_verdict(failures=[RESET])], timelines).read_text()
    # The run records the URL traffic went to; it may be shown, never linked or loaded.
    assert "http://127.0.0.1:30080" in text
    assert_self_contained(text)
    assert "<script" not in text


def test_the_self_contained_check_catches_remote_references() -> None:
    for bad in ('<img src="https://cdn.example/x.png">', '<a href="http://example.com">x</a>',
                '<link rel="stylesheet" href="style.css">', '<script src="//cdn.example/p.js"></script>',
                "<style>@import 'x.css';</style>", '<svg><image xlink:href="https://e.example/i.png"/></svg>'):
        with pytest.raises(AssertionError):
            assert_self_contained(bad)


def test_every_id_in_the_page_is_unique(tmp_path: Path) -> None:
    verdicts, timelines = recorded_reports()
    text = write_html_report(tmp_path, verdicts, timelines).read_text()
    ids = [attrs["id"] for _, attrs in parse(text).tags if "id" in attrs]
    assert len(ids) > 20
    assert len(ids) == len(set(ids))
    for ref in set(re.findall(r'url\(#([^)]+)\)', text)):
        assert ref in ids


def test_a_recorded_pass_and_a_recorded_fail(tmp_path: Path) -> None:
    verdicts, timelines = recorded_reports()
    passed, failed = verdicts
    assert (passed.outcome, failed.outcome) == (GateStatus.PASS, GateStatus.FAIL)
    text = write_html_report(tmp_path, verdicts, timelines).read_text()
    assert "GATE PASSED: all 2 scenarios met their expectations" in text
    assert "negative control: failed as expected" in text
    for failure in failed.first_failures:
        assert failure.id in text
    # The pods of both runs are named in the charts' lanes.
    for verdict in verdicts:
        for pod in verdict.facts.old_pods:
            assert pod in text
    assert "rollout-restart" in text and "no failed requests" in text


def test_a_verdict_without_a_timeline_still_gets_its_chart(tmp_path: Path) -> None:
    text = write_html_report(tmp_path, [make_verdict(failures=[RESET])]).read_text()
    assert "requests/s by outcome" in text and "no EndpointSlice seen" in text


def test_timelines_may_be_keyed_by_scenario(tmp_path: Path) -> None:
    verdict = make_verdict()
    text = write_html_report(tmp_path, [verdict], {verdict.scenario: timeline()}).read_text()
    assert "web-b" in text


def test_a_chart_that_cannot_be_drawn_does_not_lose_the_report(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kwargs: object) -> str:
        raise RuntimeError("no fonts")

    monkeypatch.setattr("harness.report.view.render_chart_svg", broken)
    text = write_html_report(tmp_path, [make_verdict(failures=[RESET])], {}).read_text()
    assert "The chart could not be drawn" in text and "RuntimeError: no fonts" in text
    assert "no_connection_errors" in text and "r900" in text


def test_the_recorded_fixtures_judge_as_their_result_json_says(tmp_path: Path) -> None:
    for run in (PASS_RUN, FAIL_RUN):
        work = tmp_path / run.name
        work.mkdir()
        for name in ("run.json", TIMELINE_FILE):
            shutil.copy(run / name, work / name)
        (work / "requests.jsonl").write_bytes(gzip.decompress((run / "requests.jsonl.gz").read_bytes()))
        verdict = judge_run_dir(work, workers=1)
        saved = read_result_json(run)
        assert (verdict.outcome, verdict.counts.outcomes) == (saved.outcome, saved.counts.outcomes)
