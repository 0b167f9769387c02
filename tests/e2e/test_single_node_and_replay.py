"""The single-node cluster's health, and replaying a recorded run the same way."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from kubernetes import client

from harness.cluster.kind import ClusterRecord, cluster_status
from harness.k8s import api_client
from harness.replay import replay_run
from harness.verdict import GateStatus
from tests.e2e.conftest import run_in, scenario_from


def test_single_node_cluster_is_healthy(cluster: ClusterRecord) -> None:
    status = cluster_status(cluster.name)
    assert status.healthy, status.problems
    assert [n["ready"] for n in status.nodes] == [True]
    pods = client.CoreV1Api(api_client(Path(cluster.kubeconfig), cluster.context)).list_namespaced_pod(
        "kube-system").items
    names = [p.metadata.name for p in pods]
    for prefix in ("coredns-", "kube-proxy-", "etcd-", "kube-apiserver-", "kube-controller-manager-",
                   "kube-scheduler-"):
        assert any(n.startswith(prefix) for n in names), f"no {prefix}* pod in {names}"
    assert all(p.status.phase == "Running" for p in pods)
    node = status.nodes[0]["name"]
    active = subprocess.run(["docker", "exec", node, "systemctl", "is-active", "rh-podnet"],
                            capture_output=True, check=False).stdout.decode().strip()
    assert active == "active"


def test_replay_runs_the_recorded_scenario_the_same_way(cluster: ClusterRecord, runs_dir: Path) -> None:
    scenario = scenario_from({"steps": [{"action": "rollout-restart"}], "traffic": {"rate": 100, "users": 10},
                              "gates": {"min_requests": 300}, "seed": 7}, "replay-source")
    first = run_in(cluster, scenario, runs_dir / "replay-first")
    assert first.verdict.outcome is GateStatus.PASS
    second, differences = replay_run(first.run_dir, out=runs_dir / "replay-second")
    assert differences == [], differences
    assert second.verdict.outcome is GateStatus.PASS
    assert second.verdict.scenario == "replay-source"
    recorded = json.loads((first.run_dir / "scenario.json").read_text())
    replayed = json.loads((second.run_dir / "scenario.json").read_text())
    assert recorded == replayed
