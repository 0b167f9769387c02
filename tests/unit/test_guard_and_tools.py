"""The context guard and the clear errors for missing tools and failed steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ContextRefusedError, HarnessError, NodeImageBuildError, PrerequisiteMissingError
from harness.scenario import parse_scenario
from harness.shell import require_tool, run_step
from harness.target import RunOptions, resolve_target

SCENARIO = {"name": "x", "steps": [{"action": "rollout-restart"}]}


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RH_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def test_no_cluster_and_no_named_context_is_refused(state_dir: Path) -> None:
    scenario = parse_scenario(SCENARIO, "m.yaml")
    with pytest.raises(ContextRefusedError) as info:
        resolve_target(scenario, RunOptions(create_cluster=False))
    assert "no context was named" in info.value.problem
    assert "--context" in info.value.fix


def test_a_named_context_is_allowed_but_not_owned(state_dir: Path) -> None:
    scenario = parse_scenario(SCENARIO, "m.yaml")
    target = resolve_target(scenario, RunOptions(context="staging", kubeconfig=Path("/tmp/kc")))
    assert target.context == "staging"
    assert not target.owned
    assert target.kind_cluster is None
    assert target.kubeconfig == Path("/tmp/kc")


def test_context_from_the_scenario_counts_as_named(state_dir: Path) -> None:
    scenario = parse_scenario({**SCENARIO, "cluster": {"context": "kind-other"}}, "m.yaml")
    target = resolve_target(scenario, RunOptions(create_cluster=False))
    assert target.context == "kind-other"
    assert target.kind_cluster is None  # not the harness's: nothing is loaded into it
    assert not target.owned  # named, not created by the harness


def test_missing_tool_names_the_tool_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(PrerequisiteMissingError) as info:
        require_tool("go", "install Go >= 1.24")
    assert "`go`" in info.value.problem
    assert info.value.fix == "install Go >= 1.24"


def test_failed_step_names_the_step_its_output_and_the_fix(tmp_path: Path) -> None:
    log = tmp_path / "step.log"
    with pytest.raises(NodeImageBuildError) as info:
        run_step("build etcd v3.6.5", ["sh", "-c", "echo compiling; echo 'boom: no such package' >&2; exit 3"],
                 error=NodeImageBuildError, fix="check the Go module proxy", log_file=log)
    problem = info.value.problem
    assert problem.startswith("build etcd v3.6.5 failed with exit code 3")
    assert "boom: no such package" in problem
    assert str(log) in problem
    assert info.value.fix == "check the Go module proxy"


def test_missing_executable_is_a_prerequisite_error() -> None:
    with pytest.raises(PrerequisiteMissingError, match="not installed"):
        run_step("start", ["/nonexistent/tool"], error=HarnessError, fix="install it")
