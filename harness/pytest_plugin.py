"""pytest plugin (registered by entry point): rollout checks in a team's own test suite.

    def test_rolling_restart_loses_nothing(run_scenario):
        verdict = run_scenario("scenarios/rolling-restart.yaml")
        assert verdict.passed, verdict.outcome

Fixtures: ``rollout_cluster`` (session-scoped: the harness's kind cluster, created or reused;
or an existing context named with ``--rollout-context``) and ``run_scenario`` (runs a scenario
file, a Scenario or a mapping on it and returns the Verdict). Nothing starts unless a test asks
for one of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

__all__ = ["RolloutCluster"]


@dataclass(frozen=True)
class RolloutCluster:
    name: str | None  # the harness cluster, when the harness owns it
    context: str | None  # an existing context named explicitly
    kubeconfig: Path | None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rollout-harness")
    group.addoption("--rollout-cluster", default="rollout-harness",
                    help="name of the harness's kind cluster (created when missing)")
    group.addoption("--rollout-workers", type=int, default=0, help="worker nodes of that cluster")
    group.addoption("--rollout-context", default=None,
                    help="run on this existing kube context instead; naming it allows disrupting it")
    group.addoption("--rollout-kubeconfig", default=None, help="kubeconfig holding --rollout-context")
    group.addoption("--rollout-keep-cluster", action="store_true",
                    help="keep a cluster that the session created")


@pytest.fixture(scope="session")
def rollout_cluster(request: pytest.FixtureRequest) -> Iterator[RolloutCluster]:
    from harness.cluster.kind import NODE_PORT, cluster_down, load_record
    from harness.cluster.lifecycle import up
    from harness.cluster.versions import DEFAULT_K8S_VERSION

    context = request.config.getoption("--rollout-context")
    kubeconfig = request.config.getoption("--rollout-kubeconfig")
    if context:
        yield RolloutCluster(name=None, context=context, kubeconfig=Path(kubeconfig) if kubeconfig else None)
        return
    name = request.config.getoption("--rollout-cluster")
    existed = load_record(name) is not None
    record = up(name=name, workers=request.config.getoption("--rollout-workers"), k8s_version=DEFAULT_K8S_VERSION,
                node_image="auto", host_port=NODE_PORT)
    yield RolloutCluster(name=record.name, context=None, kubeconfig=None)
    if not existed and not request.config.getoption("--rollout-keep-cluster"):
        cluster_down(name)


@pytest.fixture
def run_scenario(rollout_cluster: RolloutCluster, tmp_path: Path) -> Callable[..., Any]:
    from harness.run import RunOptions
    from harness.run import run_scenario as run
    from harness.scenario import Scenario, load_scenario, parse_scenario
    from harness.verdict import Verdict

    def runner(scenario: str | Path | Scenario | dict[str, Any], *, out_dir: Path | None = None) -> Verdict:
        if isinstance(scenario, Scenario):
            loaded = scenario
        elif isinstance(scenario, dict):
            loaded = parse_scenario(scenario, "<test>")
        else:
            loaded = load_scenario(Path(scenario))
        if rollout_cluster.name is not None:
            loaded = loaded.model_copy(update={
                "cluster": loaded.cluster.model_copy(update={"name": rollout_cluster.name})})
        options = RunOptions(out_dir=out_dir or tmp_path, context=rollout_cluster.context,
                             kubeconfig=rollout_cluster.kubeconfig)
        return run(loaded, options).verdict

    return runner
