"""The registry-free cluster itself: three nodes with pod networking between them, the NodePort
on 127.0.0.1, and a `cluster down` that leaves nothing behind.

Independent of the other tests' order: the host sysctls must be after `cluster down` exactly what they
were before `cluster up`, whether or not another harness cluster exists meanwhile (the harness
restores them only when its last cluster goes).
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from kubernetes import client

from harness.cluster import docker, hostsysctl
from harness.cluster.kind import cluster_down, cluster_status, ensure_kind, load_record
from harness.cluster.lifecycle import up
from harness.evidence import read_timeline
from harness.image import build_sample_image
from harness.k8s import api_client
from harness.manifests import Overrides, load_manifests, render
from harness.run import RunOptions, run_scenario
from harness.scenario import load_scenario
from harness.verdict import GateStatus
from harness.workload import apply_objects, create_namespace, delete_namespace, kind_load_image, wait_rollout
from tests.e2e.conftest import assert_watch_events

ROOT = Path(__file__).resolve().parents[2]
MULTI = "rh-e2e-multi"
MULTI_PORT = 30181


def _kind_clusters() -> list[str]:
    out = subprocess.run([ensure_kind(), "get", "clusters"], capture_output=True, check=True).stdout.decode()
    return [c for c in out.split() if c]


def _wait_pod_phase(core: client.CoreV1Api, ns: str, name: str, phases: set[str], timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    phase = "unknown"
    while time.monotonic() < deadline:
        phase = core.read_namespaced_pod(name, ns).status.phase
        if phase in phases:
            return str(phase)
        time.sleep(1)
    raise AssertionError(f"pod {ns}/{name} stayed {phase}")


def test_three_nodes_route_pods_publish_nodeport_and_clean_up(tmp_path: Path) -> None:
    assert MULTI not in _kind_clusters(), f"a leftover {MULTI} cluster exists; remove it first"
    sysctls_before = hostsysctl.read()
    volumes_before = set(docker.list_ids("volume"))
    networks_before = set(docker.list_ids("network"))

    record = up(name=MULTI, workers=2, k8s_version="v1.34.4", node_image="auto", host_port=MULTI_PORT)
    try:
        status = cluster_status(MULTI)
        assert status.healthy, status.problems
        assert len(status.nodes) == 3 and all(n["ready"] for n in status.nodes)
        api = api_client(Path(record.kubeconfig), record.context)
        core = client.CoreV1Api(api)
        system = core.list_namespaced_pod("kube-system").items
        prefixes = {p.metadata.name.rsplit("-", 1)[0] for p in system}
        assert any(p.startswith("coredns") for p in prefixes)
        assert sum(1 for p in system if p.metadata.name.startswith("kube-proxy")) == 3
        assert all(p.status.phase == "Running" for p in system), [(p.metadata.name, p.status.phase) for p in system]
        # The pod network agent runs on every node.
        for node in status.nodes:
            active = subprocess.run(["docker", "exec", node["name"], "systemctl", "is-active", "rh-podnet"],
                                    capture_output=True, check=False).stdout.decode().strip()
            assert active == "active", f"rh-podnet on {node['name']}: {active}"

        image = build_sample_image()
        kind_load_image(ensure_kind(), image.ref, MULTI)
        workers = sorted(n["name"] for n in status.nodes if "worker" in n["name"])
        ns = "rh-net-check"
        create_namespace(api, ns, "net-check")
        server = client.V1Pod(
            metadata=client.V1ObjectMeta(name="server", labels={"app": "server"}),
            spec=client.V1PodSpec(node_name=workers[0], containers=[client.V1Container(
                name="server", image=image.ref, env=[client.V1EnvVar(name="POD_NAME", value="server-pod")])]))
        core.create_namespaced_pod(ns, server)
        _wait_pod_phase(core, ns, "server", {"Running"})
        for _ in range(60):
            server_ip = core.read_namespaced_pod("server", ns).status.pod_ip
            if server_ip:
                break
            time.sleep(1)
        probe = client.V1Pod(
            metadata=client.V1ObjectMeta(name="probe"),
            spec=client.V1PodSpec(node_name=workers[1], restart_policy="Never", containers=[client.V1Container(
                name="probe", image=image.ref, command=["/sample-service", "fetch", f"http://{server_ip}:8080/"])]))
        core.create_namespaced_pod(ns, probe)
        phase = _wait_pod_phase(core, ns, "probe", {"Succeeded", "Failed"})
        logs = core.read_namespaced_pod_log("probe", ns)
        assert phase == "Succeeded", logs
        assert json.loads(logs.strip().splitlines()[-1])["pod"] == "server-pod"

        # The sample service from manifests/, its NodePort answering on 127.0.0.1.
        objects = render(load_manifests(ROOT / "manifests" / "sample-service"), Overrides(image=image.ref))
        deployed = apply_objects(api, ns, objects)
        _, state = wait_rollout(api, deployed, 180)
        assert state.done, state.message
        answered: set[str] = set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(answered) < 2:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{MULTI_PORT}/", timeout=3) as resp:
                    assert resp.status == 200
                    answered.add(resp.headers["X-Pod"])
            except OSError:
                time.sleep(0.5)
        assert len(answered) >= 2, f"NodePort answers came from {answered}"

        # A node drain under traffic: eviction API, PodDisruptionBudget honoured, nothing lost.
        delete_namespace(api, ns)
        drain = load_scenario(ROOT / "scenarios" / "node-drain.yaml")
        drain = drain.model_copy(update={"cluster": drain.cluster.model_copy(update={"name": MULTI})})
        result = run_scenario(drain, RunOptions(out_dir=tmp_path, create_cluster=False))
        reasons = [(g.name, g.status.value, g.reason) for g in result.verdict.gates]
        assert result.verdict.outcome is GateStatus.PASS, reasons
        evicted = [e for e in read_timeline(result.run_dir / "timeline.jsonl")
                   if e.kind.value == "event" and e.data.get("reason") in ("Killing", "Evicted", "Scheduled")]
        assert evicted, "the drain left no pod events in the timeline"
        assert_watch_events(result, all_old_replaced=False)
        nodes = client.CoreV1Api(api).list_node().items
        assert not any(n.spec.unschedulable for n in nodes), "the drained node was not uncordoned"
    finally:
        removed = cluster_down(MULTI)
    assert f"cluster {MULTI}" in removed
    assert MULTI not in _kind_clusters()
    assert not docker.list_ids("container", f"label=io.x-k8s.kind.cluster={MULTI}")
    assert set(docker.list_ids("volume")) <= volumes_before
    assert set(docker.list_ids("network")) <= networks_before
    assert hostsysctl.read() == sysctls_before
    assert load_record(MULTI) is None


def test_port_in_use_is_refused_cleanly() -> None:
    import socket

    from harness.errors import ClusterError

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        before = set(docker.list_ids("container"))
        with pytest.raises(ClusterError, match="already in use") as info:
            up(name="rh-e2e-port", workers=0, k8s_version="v1.34.4", node_image="auto", host_port=port)
        assert "fix" not in info.value.problem and info.value.fix
        assert set(docker.list_ids("container")) == before
        assert load_record("rh-e2e-port") is None
