"""End-to-end fixtures: a real kind cluster (registry-free node image), real pods, real traffic.

Nothing here skips: without Docker or the build tools the tests fail and say what is missing.
Set RH_KEEP_CLUSTER=1 to keep the single-node cluster after the session.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import Future
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


def assert_watch_events(result: RunResult, *, all_old_replaced: bool = True) -> None:
    """The timeline holds watch ADDED/MODIFIED/DELETED for every replaced pod and EndpointSlice
    changes, with zero observer errors: the evidence of a live run is complete."""
    from harness.evidence import TimelineKind, read_timeline

    timeline = read_timeline(result.run_dir / "timeline.jsonl")
    errors = [e for e in timeline if e.kind is TimelineKind.OBSERVER and e.data.get("what") in ("error", "gap")]
    assert not errors, [e.data for e in errors]
    start = result.verdict.facts.traffic_started_m
    assert start is not None
    seen: dict[str, set[str]] = {}
    for event in timeline:
        if event.kind is TimelineKind.POD:
            seen.setdefault(event.name, set()).add(event.type)
    old = result.verdict.facts.old_pods
    replaced = old if all_old_replaced else [p for p in old if "DELETED" in seen.get(p, set())]
    assert replaced, "no old pod was replaced"
    for pod in replaced:
        assert {"MODIFIED", "DELETED"} <= seen.get(pod, set()), f"{pod}: {seen.get(pod)}"
    new = [p for p in seen if p not in result.verdict.facts.old_pods]
    assert new and all("ADDED" in seen[p] for p in new), {p: seen[p] for p in new}
    slices = [e for e in timeline if e.kind is TimelineKind.ENDPOINTS and e.type == "MODIFIED" and e.m > start]
    assert slices, "no EndpointSlice change was recorded during the run"


def wait_for_action(out: Path, step: str, phase: str, running: Future[RunResult], timeout_s: float = 300) -> None:
    """Block until a run writing below ``out`` records the action ``step``/``phase`` on its timeline."""
    marker = f'"step":"{step}","phase":"{phase}"'
    deadline = time.monotonic() + timeout_s
    while not any(marker in t.read_text(encoding="utf-8") for t in out.glob("*/timeline.jsonl")):
        assert time.monotonic() < deadline, f"the run never recorded {step} {phase}"
        if running.done():
            raise AssertionError(f"the run ended before {step} {phase}: {running.result()}")
        time.sleep(0.2)
