"""Scenario files: every shipped one validates; malformed ones give errors naming file, field and value."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.scenario import load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "scenarios").glob("*.yaml"))


def test_there_are_shipped_scenarios() -> None:
    names = {p.stem for p in SHIPPED}
    assert {"rolling-restart", "naive-rolling-restart"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_scenario_validates(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.steps
    assert scenario.resolve(scenario.target.manifests).is_dir()
    if scenario.name.startswith("naive-"):
        assert scenario.expect == "fail", "negative controls must expect to fail"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    return path


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: x\nsteps:\n  - action: [rollout-restart\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(path) in info.value.problem
    assert "line" in info.value.problem
    assert info.value.fix


def test_unknown_action_names_field_value_and_allowed(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: x\nsteps:\n  - action: explode\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    text = info.value.problem
    assert str(path) in text
    assert "steps[0].action" in text
    assert "'explode'" in text
    assert "rollout-restart" in text  # what is allowed


def test_out_of_range_rate_names_the_value(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: x\ntraffic:\n  rate: -3\nsteps:\n  - action: rollout-restart\n")
    with pytest.raises(ScenarioError, match=r"traffic\.rate \(value -3\)"):
        load_scenario(path)


def test_unknown_field_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: x\ntrafic:\n  rate: 3\nsteps:\n  - action: rollout-restart\n")
    with pytest.raises(ScenarioError, match="trafic"):
        load_scenario(path)


def test_step_needs_its_fields() -> None:
    with pytest.raises(ScenarioError, match="needs version or image"):
        parse_scenario({"name": "x", "steps": [{"action": "set-image"}]}, "mem.yaml")


def test_missing_steps_and_non_mapping() -> None:
    with pytest.raises(ScenarioError, match="steps"):
        parse_scenario({"name": "x"}, "mem.yaml")
    with pytest.raises(ScenarioError, match="must be a mapping"):
        parse_scenario(["not", "a", "mapping"], "mem.yaml")


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="does not exist"):
        load_scenario(tmp_path / "nope.yaml")


def test_connection_modes_map_to_keepalive_share() -> None:
    base = {"name": "x", "steps": [{"action": "rollout-restart"}]}
    both = parse_scenario(base, "m.yaml")
    only_new = parse_scenario({**base, "traffic": {"connection_modes": ["new"]}}, "m.yaml")
    only_ka = parse_scenario({**base, "traffic": {"connection_modes": ["keep-alive"]}}, "m.yaml")
    assert (both.traffic.keepalive_share, only_new.traffic.keepalive_share, only_ka.traffic.keepalive_share) == (
        0.5, 0.0, 1.0)


def test_when_condition_needs_a_condition() -> None:
    ok = parse_scenario({"name": "x", "steps": [{"action": "delete-pod", "when": {"requests_at_least": 10}}]},
                        "m.yaml")
    assert ok.steps[0].when is not None and ok.steps[0].when.requests_at_least == 10
    with pytest.raises(ScenarioError, match=r"steps\[0\]\.when.*name a condition"):
        parse_scenario({"name": "x", "steps": [{"action": "delete-pod", "when": {"timeout_s": 5}}]}, "m.yaml")
