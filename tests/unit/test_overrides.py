"""Scenario overrides: paths and aliases, values converted by their field, the result validated again."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.disruptions.delete_pod import DeletePod
from harness.disruptions.kill_pod import KillPod
from harness.disruptions.wait import Wait
from harness.errors import ConfigError
from harness.overrides import ALIASES, apply_overrides, canonical_key, coerce_value, parse_assignment, parse_vary
from harness.scenario import Scenario, load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def scenario() -> Scenario:
    return load_scenario(ROOT / "scenarios" / "rolling-restart.yaml")


def test_aliases_and_paths_name_scenario_fields() -> None:
    assert canonical_key("pre_stop_seconds") == "target.pre_stop_seconds"
    assert canonical_key("env.DRAIN_DELAY") == "target.env.DRAIN_DELAY"
    assert canonical_key("mode") == "traffic.connection_modes"
    assert canonical_key("traffic.rate") == "traffic.rate"
    assert canonical_key("steps.0.count") == "steps.0.count"
    for alias, path in ALIASES.items():
        assert canonical_key(path) == path, alias  # every alias points at a real path
    with pytest.raises(ConfigError, match="'presto' names no scenario field") as err:
        canonical_key("presto")
    assert "pre_stop_seconds" in err.value.fix
    with pytest.raises(ConfigError):
        canonical_key("target..env")


def test_text_is_converted_by_the_type_of_its_field(scenario: Scenario) -> None:
    assert parse_vary("pre_stop_seconds=0,2,5", scenario) == ("target.pre_stop_seconds", [0, 2, 5])
    assert parse_vary("max_surge=1,25%", scenario) == ("target.max_surge", [1, "25%"])
    assert parse_vary("mode=keep-alive|new,new", scenario) == ("traffic.connection_modes", [["keep-alive", "new"],
                                                                                            ["new"]])
    assert parse_vary("env.DRAIN_DELAY=0,5s", scenario) == ("target.env.DRAIN_DELAY", ["0", "5s"])
    assert parse_vary("rate=100,250.5", scenario) == ("traffic.rate", [100.0, 250.5])
    assert parse_vary("gates.allow_4xx=true,false", scenario) == ("gates.allow_4xx", [True, False])
    assert parse_vary("replicas=null,2", scenario) == ("target.replicas", [None, 2])
    assert parse_vary("steps.0.deadline_s=60", scenario) == ("steps.0.deadline_s", [60.0])
    # A step: an action name, or a mapping (commas inside braces do not split values).
    assert parse_vary("disruption=delete-pod,{action: kill-pod, count: 2}", scenario) == (
        "steps.0", ["delete-pod", {"action": "kill-pod", "count": 2}])


def test_typed_values_from_a_file_are_kept_or_made_text_for_text_fields(scenario: Scenario) -> None:
    assert coerce_value("pre_stop_seconds", 5, scenario) == 5
    assert coerce_value("env.DRAIN_DELAY", 0, scenario) == "0"  # unquoted YAML 0 for an env value
    assert coerce_value("mode", "new", scenario) == ["new"]
    assert coerce_value("mode", ["keep-alive", "new"], scenario) == ["keep-alive", "new"]


def test_bad_text_names_the_key_and_value(scenario: Scenario) -> None:
    with pytest.raises(ConfigError, match=r"target.pre_stop_seconds='x': not an integer"):
        parse_vary("pre_stop_seconds=x", scenario)
    with pytest.raises(ConfigError, match=r"traffic.rate='fast': not a number"):
        parse_vary("rate=fast", scenario)
    with pytest.raises(ConfigError, match="not key=value"):
        parse_vary("pre_stop_seconds", scenario)
    with pytest.raises(ConfigError, match="an empty value"):
        parse_vary("pre_stop_seconds=0,,2", scenario)
    with pytest.raises(ConfigError, match="listed twice"):
        parse_vary("pre_stop_seconds=2,2", scenario)
    with pytest.raises(ConfigError, match="2 values where one is expected"):
        parse_assignment("pre_stop_seconds=1,2", scenario)
    assert parse_assignment("grace=40", scenario) == ("target.termination_grace_period_seconds", 40)


def test_overrides_make_a_new_validated_scenario_and_leave_the_old_alone(scenario: Scenario) -> None:
    changed = apply_overrides(scenario, {"pre_stop_seconds": "2", "env.DRAIN_DELAY": "0s", "mode": "new",
                                         "max_surge": "25%", "traffic.rate": 50, "target.replicas": 2})
    assert changed.target.pre_stop_seconds == 2
    assert changed.target.env == {"DRAIN_DELAY": "0s"}
    assert changed.traffic.connection_modes == ["new"]
    assert changed.target.max_surge == "25%"
    assert changed.traffic.rate == 50
    assert changed.target.replicas == 2
    assert changed.source == scenario.source  # manifests still resolve relative to the file
    assert changed.gates.min_requests == 1000  # untouched fields as the file had them
    assert scenario.target.pre_stop_seconds is None
    assert scenario.traffic.connection_modes == ["keep-alive", "new"]
    assert apply_overrides(scenario, {}) is scenario


def test_env_null_removes_the_override_and_keeps_the_others() -> None:
    base = parse_scenario({"name": "x", "target": {"env": {"DRAIN_DELAY": "0s", "KEEPALIVE_CLOSE": "polite"}},
                           "steps": [{"action": "rollout-restart"}]}, "x.yaml")
    changed = apply_overrides(base, {"env.DRAIN_DELAY": "null"})
    assert changed.target.env == {"KEEPALIVE_CLOSE": "polite"}


def test_a_step_can_be_replaced_by_name_keeping_when_it_starts() -> None:
    base = parse_scenario({"name": "x", "steps": [
        {"action": "rollout-restart", "at_s": 4, "deadline_s": 90}]}, "x.yaml")
    by_name = apply_overrides(base, {"disruption": "delete-pod"})
    step = by_name.steps[0]
    assert isinstance(step, DeletePod)
    assert step.at_s == 4 and step.deadline_s == 90 and step.count == 1
    waited = apply_overrides(base, {"steps.0.action": "wait"})
    assert isinstance(waited.steps[0], Wait)  # deadline_s, which wait does not take, is dropped
    mapped = apply_overrides(base, {"steps.0": {"action": "kill-pod", "count": 2}})
    assert isinstance(mapped.steps[0], KillPod) and mapped.steps[0].count == 2 and mapped.steps[0].at_s is None
    counted = apply_overrides(by_name, {"steps.0.count": "2"})
    assert isinstance(counted.steps[0], DeletePod) and counted.steps[0].count == 2


def test_a_bad_override_names_its_key_value_and_the_rule(scenario: Scenario) -> None:
    with pytest.raises(ConfigError) as err:
        apply_overrides(scenario, {"pre_stop_seconds": -1})
    assert "target.pre_stop_seconds=-1" in err.value.problem
    assert "greater than or equal to 0" in err.value.problem
    with pytest.raises(ConfigError, match="both 0"):
        apply_overrides(scenario, {"max_surge": 0, "max_unavailable": 0})
    with pytest.raises(ConfigError, match=r"connection_modes\[0\] \(value 'keep'\): Input should be 'keep-alive' or"):
        apply_overrides(scenario, {"mode": "keep"})
    with pytest.raises(ConfigError, match=r"steps.3 is past the end \(the list holds 1\)"):
        apply_overrides(scenario, {"steps.3.count": 1})
    with pytest.raises(ConfigError, match="'teleport': not an action"):
        apply_overrides(scenario, {"disruption": "teleport"})
    with pytest.raises(ConfigError, match="unknown field"):
        apply_overrides(scenario, {"target.presto": 1})
    with pytest.raises(ConfigError, match="does not apply to action rollout-restart"):
        apply_overrides(scenario, {"steps.0.count": 2})
