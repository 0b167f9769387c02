"""End-to-end fixtures: a real kind cluster (registry-free node image), real pods, real traffic.

Nothing here skips: without Docker or the build tools the tests fail and say what is missing.
Set RH_KEEP_CLUSTER=1 to keep the single-node cluster after the session.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cluster.kind import ClusterRecord, cluster_down, load_record
from harness.cluster.lifecycle import up
from harness.run import RunOptions, RunResult, run_scenario
from harness.scenario import Scenario, load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[2]
E2E_CLUSTER = "rh-e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def cluster() -> Iterator[ClusterRecord]:
    existed = load_record(E2E_CLUSTER) is not None
    record = up(name=E2E_CLUSTER, workers=0, k8s_version="v1.34.4", node_image="auto", host_port=30080)
    yield record
    if not existed and not os.environ.get("RH_KEEP_CLUSTER"):
        cluster_down(E2E_CLUSTER)


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    keep = os.environ.get("RH_E2E_RUNS")
    return Path(keep) if keep else tmp_path_factory.mktemp("runs")


def scenario_file(name: str) -> Scenario:
    return load_scenario(ROOT / "scenarios" / f"{name}.yaml")


def scenario_from(data: dict[str, object], name: str) -> Scenario:
    source = str(ROOT / "scenarios" / f"{name}.yaml")
    return parse_scenario({"name": name, **data, "cluster": {"name": E2E_CLUSTER}}, source)


def run_in(cluster: ClusterRecord, scenario: Scenario, runs_dir: Path) -> RunResult:
    pinned = scenario.model_copy(update={"cluster": scenario.cluster.model_copy(update={"name": cluster.name})})
    return run_scenario(pinned, RunOptions(out_dir=runs_dir, create_cluster=False))
