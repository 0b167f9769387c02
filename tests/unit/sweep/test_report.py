"""The table, the heat map and the cheapest passing combination, on the verdicts of recorded runs."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from harness.confidence import failure_rate_upper, format_percent
from harness.repeat import RunSummary
from harness.scenario import parse_scenario
from harness.sweep.plan import plan_sweep
from harness.sweep.report import cheapest_passing, heat_map, render_heat_map, sweep_markdown, write_sweep_reports
from harness.sweep.state import CellStatus, SweepState, new_state
from harness.verdict import GateStatus
from tests.unit.recorded_verdicts import recorded_verdict, with_mechanisms

PASS = RunSummary.from_verdict(recorded_verdict("rolling-restart"), run_dir="runs/pass")
FAIL = RunSummary.from_verdict(with_mechanisms(recorded_verdict("naive-rolling-restart"),
                                               shutdown_before_endpoint_removal=34, keepalive_closed_at_shutdown=10),
                               run_dir="runs/fail")
UNDIAGNOSED = RunSummary.from_verdict(recorded_verdict("naive-rolling-restart").model_copy(update={"diagnosis": None}),
                                      run_dir="runs/fail-plain")
# A cell of two failed runs, in the recording's own numbers.
TWO_LOST = f"{2 * FAIL.failed:,} / {2 * FAIL.requests:,} ({format_percent(FAIL.failed / FAIL.requests)})"
TWO_BOUND = f"≤ {format_percent(failure_rate_upper(2 * FAIL.failed, 2 * FAIL.requests))}"
KEEP_ALIVE = FAIL.by_mode["keep-alive"]


def state(vary: list[tuple[str, list[Any]]], results: dict[str, list[RunSummary]], *, repeat: int = 2) -> SweepState:
    """A sweep whose cells (by label) hold the given recorded runs; the others stay as they are."""
    scenario = parse_scenario({"name": "grid", "steps": [{"action": "rollout-restart"}]}, "grid.yaml")
    recorded = new_state(plan_sweep(scenario, vary, repeat=repeat))
    for cell in recorded.cells:
        if cell.label in results:
            cell.runs = list(results[cell.label])
            cell.status = CellStatus.DONE if len(cell.runs) >= repeat else CellStatus.PENDING
            recorded.summarize(cell)
    return recorded


GRID = [("pre_stop_seconds", [0, 2, 5]), ("env.DRAIN_DELAY", ["0s", "5s"]), ("mode", ["keep-alive", "new"])]


def boundary_state() -> SweepState:
    results: dict[str, list[RunSummary]] = {}
    for pre_stop in (0, 2, 5):
        for drain in ("0s", "5s"):
            for mode in ("keep-alive", "new"):
                label = f"pre_stop_seconds={pre_stop}, env.DRAIN_DELAY={drain}, mode={mode}"
                if pre_stop == 0 and drain == "0s":
                    results[label] = [FAIL, FAIL]
                elif pre_stop == 0 and mode == "new":
                    results[label] = [PASS, UNDIAGNOSED]  # flaky
                elif pre_stop == 5 and drain == "5s" and mode == "new":
                    results[label] = [PASS]  # one of two repeats so far
                else:
                    results[label] = [PASS, PASS]
    return state(GRID, results)


class _Cells(HTMLParser):
    """The heat map's rows: each a list of (text, style) of its cells."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[tuple[str, str]]]] = []
        self._cell: list[str] | None = None
        self._style = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell, self._style = [], dict(attrs).get("style") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append((" ".join(" ".join(self._cell).split()), self._style))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_the_heat_map_puts_half_the_keys_down_and_half_across() -> None:
    heat = heat_map(boundary_state())
    assert heat.row_keys == ["pre_stop_seconds"] and heat.col_keys == ["env.DRAIN_DELAY", "mode"]
    assert heat.col_labels == ["env.DRAIN_DELAY=0s, mode=keep-alive", "env.DRAIN_DELAY=0s, mode=new",
                               "env.DRAIN_DELAY=5s, mode=keep-alive", "env.DRAIN_DELAY=5s, mode=new"]
    assert [label for label, _ in heat.rows] == ["pre_stop_seconds=0", "pre_stop_seconds=2", "pre_stop_seconds=5"]
    kinds = [[c.kind if c else None for c in cells] for _, cells in heat.rows]
    assert kinds == [["fail", "fail", "pass", "flaky"], ["pass"] * 4, ["pass", "pass", "pass", "pass"]]
    first = heat.rows[0][1][0]
    assert first is not None
    assert first.verdict == "FAIL 2/2"
    assert first.loss == TWO_LOST
    assert first.bound == TWO_BOUND
    assert first.mechanism == "shutdown-before-endpoint-removal"
    assert f"keep-alive: {2 * KEEP_ALIVE.failed:,} failures in {2 * KEEP_ALIVE.requests:,} requests" in first.title
    partial = heat.rows[2][1][3]
    assert partial is not None and partial.verdict == "PASS 1 (1 of 2 runs)"


def test_one_key_gives_one_row_and_two_keys_a_square() -> None:
    single = heat_map(state([("pre_stop_seconds", [0, 5])], {"pre_stop_seconds=0": [FAIL]}, repeat=1))
    assert single.row_keys == [] and [label for label, _ in single.rows] == ["all"]
    assert single.col_labels == ["pre_stop_seconds=0", "pre_stop_seconds=5"]
    assert [c.kind if c else None for c in single.rows[0][1]] == ["fail", "none"]
    square = heat_map(state(GRID[:2], {}))
    assert len(square.rows) == 3 and len(square.col_labels) == 2


def test_the_html_shows_every_cell_with_its_verdict_loss_bound_and_mechanism(tmp_path: Path) -> None:
    written = write_sweep_reports(tmp_path, boundary_state())
    html = written["html"].read_text()
    assert "<script" not in html and "http://" not in html and "https://" not in html  # self-contained
    parser = _Cells()
    parser.feed(html)
    heat = parser.tables[0]
    assert [text for text, _ in heat[0]][1:] == heat_map(boundary_state()).col_labels
    loss_cell, style = heat[1][1]
    assert loss_cell.startswith(f"FAIL 2/2 lost {TWO_LOST} bound {TWO_BOUND} at 95 %")
    assert loss_cell.endswith("shutdown-before-endpoint-removal")
    assert "background:#" in style
    passed, pass_style = heat[2][1]
    assert passed.startswith("PASS 2/2 lost 0 / 8,544 (0 %) bound ≤ 0.035 % at 95 %")
    assert "#c7f0d0" in pass_style
    flaky, flaky_style = heat[1][4]
    assert flaky.startswith("PASS 1, FAIL 1") and "#ffd8a8" in flaky_style
    table = parser.tables[1]
    assert len(table) == 1 + 12
    assert "cheapest combination that passed every repeat: pre_stop_seconds=2, env.DRAIN_DELAY=0s" in html
    assert 'href="runs/fail/report.html"' in html


def test_heavier_loss_is_a_darker_red() -> None:
    light = FAIL.model_copy(update={"failed": 1, "requests": 100_000})
    grid = state([("pre_stop_seconds", [0, 2])], {"pre_stop_seconds=0": [light], "pre_stop_seconds=2": [FAIL]},
                 repeat=1)
    (_, (few, many)), = heat_map(grid).rows
    assert few is not None and many is not None

    def darkness(color: str) -> int:
        return sum(int(color[i:i + 2], 16) for i in (1, 3, 5))

    assert darkness(many.background) < darkness(few.background)


def test_the_cheapest_settings_pass_under_every_condition_and_every_repeat() -> None:
    # Settings: pre_stop_seconds and DRAIN_DELAY; the connection mode is a condition they must hold under.
    best = cheapest_passing(boundary_state())
    assert best is not None
    # preStop 0 with drain 5 s is cheaper, but flaky with new connections; preStop 2 with no drain passes.
    assert best.label == "pre_stop_seconds=2, env.DRAIN_DELAY=0s"
    assert best.cost == 1 and best.final
    assert {c.label.rsplit("=", 1)[1] for c in best.cells} == {"keep-alive", "new"}


def test_a_cheaper_combination_that_has_not_run_makes_the_answer_provisional() -> None:
    grid = state(GRID[:2], {"pre_stop_seconds=0, env.DRAIN_DELAY=0s": [FAIL, FAIL],
                            "pre_stop_seconds=2, env.DRAIN_DELAY=5s": [PASS, PASS]})
    best = cheapest_passing(grid)
    assert best is not None and best.label == "pre_stop_seconds=2, env.DRAIN_DELAY=5s" and not best.final
    assert cheapest_passing(state(GRID[:2], {})) is None


def test_ties_in_cost_go_to_the_shorter_measured_rollout() -> None:
    slow = PASS.model_copy(update={"rollout_s": 9.0})
    grid = state(GRID[:2], {"pre_stop_seconds=0, env.DRAIN_DELAY=5s": [slow, slow],
                            "pre_stop_seconds=2, env.DRAIN_DELAY=0s": [PASS, PASS],
                            "pre_stop_seconds=0, env.DRAIN_DELAY=0s": [FAIL, FAIL]})
    best = cheapest_passing(grid)
    assert best is not None and best.label == "pre_stop_seconds=2, env.DRAIN_DELAY=0s"


def test_the_markdown_table_has_a_row_per_combination() -> None:
    text = sweep_markdown(boundary_state())
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows[0] == ("| pre_stop_seconds | env.DRAIN_DELAY | mode | verdicts | failed / requests | "
                       "upper bound at 95 % | mechanism |")
    assert len(rows) == 13
    assert rows[1].startswith(f"| 0 | 0s | keep-alive | FAIL 2/2 | {TWO_LOST} | {TWO_BOUND} |")
    assert rows[1].endswith("| shutdown-before-endpoint-removal |")
    assert "- cheapest combination that passed every repeat: pre_stop_seconds=2, env.DRAIN_DELAY=0s" in text
    assert "11 of 12 cells done, 23 of 24 runs" in text


def test_cells_not_run_say_so_and_why() -> None:
    grid = state(GRID[:1], {"pre_stop_seconds=0": [FAIL]}, repeat=1)
    grid.cells[1].status, grid.cells[1].note = CellStatus.NOT_RUN, "not run: the time budget of 1 min was crossed"
    grid.stopped = "the time budget of 1 min was crossed"
    html = render_heat_map(grid)
    assert "not run: the time budget of 1 min was crossed" in html
    assert "| 2 | not run |" in sweep_markdown(grid)
    assert grid.cells[0].summary is not None and grid.cells[0].summary.outcomes == {GateStatus.FAIL.value: 1}
