"""The grid: expansion and order, keys from the file and the command line, every cell validated, and
the time estimate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.errors import ConfigError
from harness.scenario import Scenario, load_scenario, parse_scenario
from harness.sweep.plan import DEPLOY_OVERHEAD_S, check_sweep_section, estimate_run_s, format_duration, plan_sweep

ROOT = Path(__file__).resolve().parents[3]
SOURCE = str(ROOT / "scenarios" / "sweep-test.yaml")


def scenario(**extra: Any) -> Scenario:
    data: dict[str, Any] = {"name": "grid", "steps": [{"action": "rollout-restart"}],
                            "traffic": {"warmup_s": 3, "settle_s": 3}}
    return parse_scenario({**data, **extra}, SOURCE)


def test_the_grid_is_the_product_first_key_slowest_values_as_written() -> None:
    plan = plan_sweep(scenario(sweep={"vary": {"pre_stop_seconds": [5, 0, 2], "env.DRAIN_DELAY": ["0s", "5s"]}}))
    assert [c.label for c in plan.cells] == [
        "pre_stop_seconds=5, env.DRAIN_DELAY=0s", "pre_stop_seconds=5, env.DRAIN_DELAY=5s",
        "pre_stop_seconds=0, env.DRAIN_DELAY=0s", "pre_stop_seconds=0, env.DRAIN_DELAY=5s",
        "pre_stop_seconds=2, env.DRAIN_DELAY=0s", "pre_stop_seconds=2, env.DRAIN_DELAY=5s"]
    assert [c.positions for c in plan.cells] == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]
    assert [c.index for c in plan.cells] == list(range(6))
    third = plan.cells[2]
    assert third.id == "target.pre_stop_seconds=0; target.env.DRAIN_DELAY=0s"
    assert third.scenario.target.pre_stop_seconds == 0 and third.scenario.target.env == {"DRAIN_DELAY": "0s"}
    assert third.scenario.sweep is None  # a cell is a plain scenario
    assert plan.repeat == 1 and plan.runs == 6
    assert [d.setting for d in plan.dimensions] == [True, True]


def test_command_line_keys_add_to_the_file_and_a_key_named_again_takes_the_new_values() -> None:
    base = scenario(sweep={"vary": {"pre_stop_seconds": [0, 2], "mode": ["keep-alive", "new"]}}, repeat=3)
    plan = plan_sweep(base, [("pre_stop", ["5"]), ("rate", ["100", "200"])], repeat=2)
    assert [(d.key, d.path, d.values) for d in plan.dimensions] == [
        ("pre_stop", "target.pre_stop_seconds", (5,)), ("mode", "traffic.connection_modes", (["keep-alive"], ["new"])),
        ("rate", "traffic.rate", (100.0, 200.0))]
    assert [d.setting for d in plan.dimensions] == [True, False, False]
    assert len(plan.cells) == 4 and plan.repeat == 2 and plan.runs == 8
    assert plan_sweep(base).repeat == 3  # the scenario's repeat: when the command line names none


def test_nothing_to_vary_or_a_key_that_cannot_vary_is_refused() -> None:
    with pytest.raises(ConfigError, match="nothing to vary"):
        plan_sweep(scenario())
    with pytest.raises(ConfigError, match="cannot vary within a sweep"):
        plan_sweep(scenario(), [("cluster.workers", [0, 2])])
    with pytest.raises(ConfigError, match="listed twice"):
        plan_sweep(scenario(), [("pre_stop_seconds", [2, "2"])])
    with pytest.raises(ConfigError, match="names no scenario field"):
        plan_sweep(scenario(), [("presto", [1])])


def test_a_cell_that_cannot_run_is_named_before_any_run() -> None:
    with pytest.raises(ConfigError) as err:
        plan_sweep(scenario(target={"max_unavailable": 0}), [("max_surge", [1, 0])])
    assert err.value.problem.startswith("sweep cell max_surge=0: the override target.max_surge=0 makes an invalid")
    assert "both 0" in err.value.problem


def test_check_sweep_section_validates_every_cell_against_the_manifests() -> None:
    check_sweep_section(scenario(sweep={"vary": {"pre_stop_seconds": [0, 5]}}))  # valid: no error
    with pytest.raises(ConfigError, match=r"sweep cell env.bad name=1"):
        check_sweep_section(scenario(sweep={"vary": {"env.bad name": ["1"]}}))


def test_the_shipped_sweep_plans_twelve_cells_twice_each() -> None:
    shipped = load_scenario(ROOT / "scenarios" / "sweeps" / "shutdown-settings.yaml")
    plan = plan_sweep(shipped)
    assert len(plan.cells) == 12 and plan.repeat == 2
    assert plan.cells[0].label == "pre_stop_seconds=0, env.DRAIN_DELAY=0s, connection_modes=keep-alive"
    check_sweep_section(shipped)


def test_the_fingerprint_follows_the_scenario_and_the_grid_not_the_repeats() -> None:
    vary = [("pre_stop_seconds", [0, 2])]
    first = plan_sweep(scenario(), vary)
    assert plan_sweep(scenario(), vary, repeat=4).fingerprint == first.fingerprint
    assert plan_sweep(scenario(), [("pre_stop_seconds", [0, 5])]).fingerprint != first.fingerprint
    assert plan_sweep(scenario(traffic={"rate": 50}), vary).fingerprint != first.fingerprint


def test_the_estimate_grows_with_the_shutdown_each_pod_takes() -> None:
    plan = plan_sweep(scenario(), [("pre_stop_seconds", [0, 5]), ("env.DRAIN_DELAY", ["0s", "5s"])])
    estimates = {c.label: c.estimate_s for c in plan.cells}
    quick = estimates["pre_stop_seconds=0, env.DRAIN_DELAY=0s"]
    # Deployment and teardown, warm-up 3 s, three pods of about 3 s each, a 1 s shutdown, settle 3 s.
    assert quick == pytest.approx(DEPLOY_OVERHEAD_S + 3 + 9 + 1 + 3)
    assert estimates["pre_stop_seconds=5, env.DRAIN_DELAY=5s"] == pytest.approx(quick + 10)
    assert plan.estimate_s == pytest.approx(sum(estimates.values()))
    # The grace period bounds a shutdown, and min_duration_s the traffic.
    graced = scenario(target={"pre_stop_seconds": 30, "termination_grace_period_seconds": 2})
    assert estimate_run_s(graced) == pytest.approx(DEPLOY_OVERHEAD_S + 3 + 9 + 2 + 3)
    assert estimate_run_s(scenario(traffic={"min_duration_s": 120})) == pytest.approx(DEPLOY_OVERHEAD_S + 120)


def test_durations_read_as_people_write_them() -> None:
    assert format_duration(42) == "42 s"
    assert format_duration(125) == "2 min 05 s"
    assert format_duration(3 * 3600 + 61) == "3 h 01 min"
