"""Scenario files: every shipped one validates; malformed ones give errors naming file, field and value."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from harness.disruptions import gate_defaults
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
    assert scenario.manifests_dir().is_dir()
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
    assert f"{path}:4:1:" in info.value.problem  # file, line, column: where the parser gave up
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


# Hostile YAML: every input gives one short ScenarioError, never a parser's exception or a flood of text


def _refusal(tmp_path: Path, content: bytes) -> str:
    path = tmp_path / "hostile.yaml"
    path.write_bytes(content)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    text = str(info.value)
    assert str(path) in text
    assert len(text.splitlines()) <= 12 and len(text) < 2500
    assert info.value.fix
    return text


LAUGHS = b"".join(
    [b"a: &a [x, x, x, x, x, x, x, x, x]\n"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n".encode() for i in range(8)]
)


@pytest.mark.parametrize(("content", "says"), [
    pytest.param(LAUGHS, "expands to more than", id="billion-laughs"),
    pytest.param(b"name: " + b"[" * 20_000 + b"]" * 20_000 + b"\n", "nested more than", id="deep-nesting"),
    pytest.param(b"a: &a [*a]\n", "contains it", id="recursive-alias"),
    pytest.param(b"name: x\nsteps: []\nname: y\n", "key 'name' appears twice", id="duplicate-key"),
    pytest.param(b"name: x\x00\nsteps: []\n", "#x0000", id="nul-byte"),
    pytest.param(b"name: caf\xe9\n", "not UTF-8", id="invalid-utf8"),
    pytest.param(b"name: x\nseed: 2024-13-45\n", "month must be in 1..12", id="impossible-date"),
    pytest.param(b"name: !!bool maybe\n", "cannot be read", id="bad-tagged-scalar"),
    pytest.param(b"name: !!python/object/apply:os.system [true]\n", "constructor", id="python-tag"),
    pytest.param(b"name: x\n---\nname: y\n", "a second YAML document", id="two-documents"),
    pytest.param(b"", "empty", id="empty"),
    pytest.param(b"# only a comment\n", "empty", id="only-comment"),
    pytest.param(b"- a\n- b\n", "must be a mapping", id="a-list"),
    pytest.param(b"name: [unclosed\n", "YAML syntax error", id="syntax"),
])
def test_hostile_yaml_is_one_short_error(tmp_path: Path, content: bytes, says: str) -> None:
    assert says in _refusal(tmp_path, content)


def test_duplicate_key_names_the_line_of_both(tmp_path: Path) -> None:
    text = _refusal(tmp_path, b"name: x\nsteps:\n  - action: wait\n    seconds: 1\n    seconds: 2\n")
    assert ":5:" in text and "first at line 4" in text


def test_an_oversized_file_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    assert "more than the" in _refusal(tmp_path, b"name: x\n" + b"# padding\n" * 120_000)


def test_any_bytes_give_a_scenario_or_a_scenario_error(tmp_path: Path) -> None:
    # Mutations of a real scenario (bytes flipped, cut, duplicated, spliced) plus random noise.
    seed_text = (ROOT / "scenarios" / "pod-delete.yaml").read_bytes()
    rng = random.Random(1234)
    alphabet = b" :-[]{}&*!|>'\"#%@`,?\n\t\x00\xff0123456789.abcdefghijklmnopqrstuvwxyz"
    path = tmp_path / "fuzz.yaml"
    outcomes = {"loaded": 0, "refused": 0}
    for _ in range(250):
        data = bytearray(seed_text)
        for _ in range(rng.randint(1, 6)):
            pos = rng.randrange(len(data) + 1)
            op = rng.randrange(4)
            if op == 0 and data:
                data[min(pos, len(data) - 1)] = rng.choice(alphabet)
            elif op == 1:
                data[pos:pos] = bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
            elif op == 2:
                del data[pos:pos + rng.randint(1, 20)]
            else:
                data[pos:pos] = data[rng.randrange(len(data) + 1):][:40]
        if rng.random() < 0.1:
            data = bytearray(rng.randbytes(rng.randint(0, 200)))
        path.write_bytes(bytes(data))
        try:
            load_scenario(path)
            outcomes["loaded"] += 1
        except ScenarioError as exc:
            assert len(str(exc).splitlines()) <= 12, str(exc)
            outcomes["refused"] += 1
    assert outcomes["refused"] > 0 and outcomes["loaded"] > 0


# Contradictions and bounds: refused at load, naming the field, the value and what is allowed

_BASE: dict[str, Any] = {"name": "x", "steps": [{"action": "rollout-restart"}]}


def _refused(data: dict[str, Any]) -> str:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, "mem.yaml")
    assert info.value.problem.startswith("mem.yaml: invalid scenario")
    return info.value.problem


@pytest.mark.parametrize(("change", "says"), [
    ({"steps": [{"action": "rollout-restart", "at_s": 10, "after_s": 2}]}, "steps[0]: at_s 10 and after_s 2 both set"),
    ({"traffic": {"min_duration_s": 100, "max_duration_s": 50}}, "min_duration_s 100 > max_duration_s 50"),
    ({"traffic": {"warmup_s": 60, "max_duration_s": 60}}, "warmup_s 60 is not below max_duration_s 60"),
    ({"traffic": {"max_duration_s": 100}, "steps": [{"action": "rollout-restart", "at_s": 100}]},
     "steps[0].at_s (value 100.0): the step starts 100 s after traffic began"),
    ({"traffic": {"max_duration_s": 100, "warmup_s": 10},
      "steps": [{"action": "wait", "seconds": 50}, {"action": "scale", "replicas": 2, "after_s": 40}]},
     "steps[1].after_s (value 40.0): the step starts 100 s"),
    ({"traffic": {"max_duration_s": 100}, "steps": [{"action": "wait", "seconds": 99}]},
     "steps[0].seconds (value 99.0): the wait ends 104 s"),
    ({"traffic": {"max_duration_s": 100}, "steps": [{"action": "drain", "deadline_s": 150}]},
     "steps[0].deadline_s (value 150.0): longer than traffic.max_duration_s 100"),
    ({"steps": [{"action": "delete-pod", "when": {"ready_pods_at_least": 3, "ready_pods_at_most": 1}}]},
     "steps[0].when: ready_pods_at_least 3 > ready_pods_at_most 1"),
    ({"traffic": {"rate": 2, "max_duration_s": 100}, "steps": [{"action": "kill-pod",
                                                                "when": {"requests_at_least": 1000}}]},
     "steps[0].when.requests_at_least (value 1000): more than traffic sends in all"),
    ({"steps": [{"action": "set-image", "version": "0.2.0", "image": "nginx"}]}, "exactly one (both given)"),
    ({"target": {"image": "nginx:1.27"}, "steps": [{"action": "set-image", "version": "0.2.0"}]},
     "steps[0].version (value '0.2.0'): a version is built from the sample service"),
    ({"steps": [{"action": "rollback"}]}, "steps[0].action (value 'rollback'): nothing to roll back to"),
    ({"target": {"replicas": 2}, "steps": [{"action": "delete-pod", "count": 3}]},
     "steps[0].count (value 3): more pods than the 2 replica(s)"),
    ({"steps": [{"action": "scale", "replicas": 1}, {"action": "kill-pod", "count": 2}]},
     "steps[1].count (value 2): more pods than the 1 replica(s)"),
    ({"target": {"max_surge": "banana"}}, "target.max_surge (value 'banana'): 'banana' is not an integer or a perc"),
    ({"target": {"max_unavailable": True}}, "target.max_unavailable (value True): True is neither an integer"),
    ({"target": {"max_unavailable": "150%"}}, "may not be more than 100%"),
    ({"target": {"max_surge": 0, "max_unavailable": "0%"}}, "both 0, which Kubernetes refuses"),
    ({"target": {"replicas": 0}}, "target.replicas (value 0): Input should be greater than or equal to 1"),
    ({"target": {"replicas": 1000}}, "target.replicas (value 1000): Input should be less than or equal to 100"),
    ({"target": {"env": {"1BAD": "x"}}}, "'1BAD' is not an environment variable name"),
    ({"target": {"paths": ["health"]}}, "'health' is not a request path"),
    ({"steps": [{"action": "scale", "replicas": -1}]}, "steps[0].replicas (value -1): Input should be greater"),
    ({"steps": [{"action": "scale", "replicas": True}]}, "steps[0].replicas (value True): Input should be a valid"),
    ({"cluster": {"k8s_version": "v1.20.0"}}, "cluster.k8s_version (value 'v1.20.0'): no node image of this "
                                              "version; one of v1.34.0, v1.34.2, v1.34.3, v1.34.4"),
    ({"cluster": {"name": "Not_Valid"}}, "cluster.name (value 'Not_Valid'): String should match pattern"),
    ({"traffic": {"rate": float("inf")}}, "traffic.rate (value inf): Input should be a finite number"),
    ({"steps": [{"action": "wait", "seconds": float("nan")}]}, "steps[0].seconds (value nan): Input should be a fin"),
    ({"steps": [{"action": "kill-pod", "when": {"requests_at_least": 5, "timeout_s": float("inf")}}]},
     "steps[0].when.timeout_s (value inf): Input should be a finite number"),
    ({"gates": {"min_rate_rps": float("inf")}}, "gates.min_rate_rps (value inf)"),
    ({"steps": [{"action": "rollout-restart", "deadline_s": 1e6}]}, "less than or equal to 3600"),
    ({"steps": [{"action": "wait", "at_s": 99999}]}, "steps[0].at_s (value 99999): Input should be less than or"),
    ({"steps": [{"action": "set-image", "version": 1.1}]}, "(YAML read it as float; quote it to keep it text"),
    ({"steps": [{"count": 2}]}, "steps[0]: a step needs an action: one of delete-pod, drain"),
])
def test_contradictions_and_bounds_are_refused(change: dict[str, Any], says: str) -> None:
    assert says in _refused({**_BASE, **change})


def test_a_default_bound_contradicts_nothing_but_a_written_one_does() -> None:
    short = {"traffic": {"max_duration_s": 60}, "steps": [{"action": "rollout-restart",
                                                           "when": {"requests_at_least": 10}}]}
    parse_scenario({**_BASE, **short}, "m.yaml")  # default deadline 180 s and timeout 120 s: no contradiction
    written = {**short, "steps": [{"action": "rollout-restart", "when": {"requests_at_least": 10, "timeout_s": 90}}]}
    assert "steps[0].when.timeout_s (value 90.0)" in _refused({**_BASE, **written})


def test_an_error_lists_at_most_nine_problems_and_counts_the_rest() -> None:
    text = _refused({"name": "BAD", "seed": -1, "traffic": {"rate": 0, "users": 0, "warmup_s": -1, "settle_s": -1,
                                                            "timeout_s": 0, "max_duration_s": 0},
                     "target": {"replicas": 0, "paths": [], "workers": 1}, "steps": [{"action": "nope"}]})
    lines = text.splitlines()
    assert lines[0] == "mem.yaml: invalid scenario (12 problems)"
    assert len(lines) == 11 and lines[-1] == "  ... and 3 more"


def test_a_long_value_is_shortened_in_the_message() -> None:
    text = _refused({**_BASE, "cluster": {"name": "x" * 5000}})
    assert "x" * 60 not in text and "..." in text and len(text) < 400


def test_the_seed_is_bounded_and_kept() -> None:
    assert parse_scenario({**_BASE, "seed": 42}, "m.yaml").seed == 42
    assert "seed (value -1)" in _refused({**_BASE, "seed": -1})


# The JSON dump a run writes (scenario.json) parses back to the same scenario and the same gates


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_the_json_dump_round_trips(path: Path) -> None:
    scenario = load_scenario(path)
    data = json.loads(scenario.model_dump_json(indent=2))
    again = parse_scenario(data, "run/scenario.json")
    assert again.model_dump() == scenario.model_dump()
    assert gate_defaults(again) == gate_defaults(scenario)
    assert again.gates.model_fields_set == scenario.gates.model_fields_set


def test_a_round_trip_keeps_what_a_short_scenario_leaves_to_defaults() -> None:
    scenario = parse_scenario({**_BASE, "traffic": {"max_duration_s": 60},
                               "steps": [{"action": "kill-pod", "at_s": 10}]}, "m.yaml")
    again = parse_scenario(json.loads(scenario.model_dump_json()), "scenario.json")
    assert again == scenario.model_copy(update={"source": "scenario.json"})
    assert gate_defaults(again).disruption_replaces == "any"
