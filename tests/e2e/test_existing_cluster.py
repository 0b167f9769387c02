"""A cluster the harness did not create, as a user's staging cluster: the e2e cluster reached through a
context of its own, with the token of a ServiceAccount that holds only the ClusterRoles of
manifests/rbac/ bound to it. With a part missing the run stops before it deploys anything and names
what is missing; with them all it reaches a verdict and leaves nothing behind."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from harness.cluster.kind import ClusterRecord, ensure_kind
from harness.image import SAMPLE_REPOSITORY, build_sample_image, sample_service_dir, sample_version
from harness.workload import RUN_LABEL, kind_load_image

ROOT = Path(__file__).resolve().parents[2]
RBAC = ROOT / "manifests" / "rbac"
ROLES = ("rollout-harness-namespaces", "rollout-harness-workload", "rollout-harness-drain")
CONTEXT = "rh-staging"  # no kind- prefix, no harness record: a foreign context


@dataclass
class Staging:
    admin: list[str]  # kubectl with the cluster's admin credentials
    namespace: str
    account: str
    kubeconfig: Path
    bindings: list[str]
    url: str

    def bind(self, role: str) -> None:
        name = f"{self.namespace}-{role.removeprefix('rollout-harness-')}"
        _ok([*self.admin, "create", "clusterrolebinding", name, "--clusterrole", role,
             "--serviceaccount", f"{self.namespace}:{self.account}"])
        self.bindings.append(name)


def _ok(argv: list[str], timeout: float = 60) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(argv)}: {proc.stderr[-2000:]}"
    return proc.stdout


def _run_namespaces(admin: list[str]) -> list[str]:
    return _ok([*admin, "get", "namespaces", "-l", RUN_LABEL, "-o", "name"]).split()


def _sample_on_node(cluster: ClusterRecord, admin: list[str]) -> str:
    """The sample image, on the node as a registry would have given it (this cluster pulls from none)."""
    ref = f"{SAMPLE_REPOSITORY}:{sample_version(sample_service_dir())}"
    nodes = json.loads(_ok([*admin, "get", "nodes", "-o", "json"]))["items"]
    present = all(any(ref in name or f"docker.io/{ref}" in name for image in node["status"].get("images", [])
                      for name in image.get("names", [])) for node in nodes)
    if not present:
        built = build_sample_image()
        kind_load_image(ensure_kind(), built.ref, cluster.name)
    return ref


@pytest.fixture
def staging(cluster: ClusterRecord, tmp_path: Path) -> Iterator[Staging]:
    admin = ["kubectl", "--kubeconfig", cluster.kubeconfig, "--context", cluster.context]
    # Earlier runs' namespaces would hold the sample's nodePort; a harness run on its own cluster removes
    # them the same way.
    for stale in _run_namespaces(admin):
        _ok([*admin, "delete", stale, "--wait=true"], timeout=120)
    existed = {r for r in ROLES if subprocess.run([*admin, "get", "clusterrole", r], capture_output=True,
                                                  check=False).returncode == 0}
    namespace = f"rh-x-staging-{uuid.uuid4().hex[:6]}"
    _ok([*admin, "create", "namespace", namespace])
    env = Staging(admin=admin, namespace=namespace, account="harness", kubeconfig=tmp_path / "kubeconfig",
                  bindings=[], url=f"http://127.0.0.1:{cluster.host_port}")
    try:
        _ok([*admin, "-n", namespace, "create", "serviceaccount", env.account])
        _ok([*admin, "apply", "-f", str(RBAC)])
        token = _ok([*admin, "-n", namespace, "create", "token", env.account, "--duration", "15m"]).strip()
        view = json.loads(_ok([*admin, "config", "view", "--raw", "--minify", "-o", "json"]))
        server = view["clusters"][0]["cluster"]
        env.kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": CONTEXT,
            "clusters": [{"name": "staging", "cluster": {
                "server": server["server"], "certificate-authority-data": server["certificate-authority-data"]}}],
            "users": [{"name": "harness", "user": {"token": token}}],
            "contexts": [{"name": CONTEXT, "context": {"cluster": "staging", "user": "harness"}}]}))
        yield env
    finally:
        for name in env.bindings:
            subprocess.run([*admin, "delete", "clusterrolebinding", name, "--ignore-not-found"], check=False,
                           capture_output=True)
        subprocess.run([*admin, "delete", "namespace", namespace, "--wait=false"], check=False, capture_output=True)
        for role in set(ROLES) - existed:
            subprocess.run([*admin, "delete", "clusterrole", role, "--ignore-not-found"], check=False,
                           capture_output=True)


def _scenario(tmp_path: Path, name: str, steps: list[dict[str, object]], image: str, url: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "name": name, "expect": "pass", "steps": steps,
        "target": {"manifests": str(ROOT / "manifests" / "sample-service"), "image": image, "url": url,
                   "replicas": 2},
        "traffic": {"rate": 50, "users": 10, "warmup_s": 3, "settle_s": 3},
        "gates": {"min_requests": 200}}))
    return path


def _harness_run(scenario: Path, staging: Staging, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", "run", str(scenario), "--context", CONTEXT,
                           "--kubeconfig", str(staging.kubeconfig), "--out", str(out)],
                          capture_output=True, text=True, check=False, timeout=240, cwd=ROOT)


def test_a_foreign_context_is_checked_first_then_run_and_left_clean(
        cluster: ClusterRecord, staging: Staging, tmp_path: Path) -> None:
    image = _sample_on_node(cluster, staging.admin)
    pod_delete = _scenario(tmp_path, "staging-pod-delete",
                           [{"action": "delete-pod", "count": 1, "when": {"requests_at_least": 300}}],
                           image, staging.url)
    drain = _scenario(tmp_path, "staging-drain", [{"action": "drain"}], image, staging.url)
    account = f"--serviceaccount {staging.namespace}:{staging.account}"

    # Namespaces only: refused before anything is deployed, every missing permission named.
    staging.bind("rollout-harness-namespaces")
    before = _run_namespaces(staging.admin)
    refused = _harness_run(pod_delete, staging, tmp_path / "out-refused")
    told = refused.stdout + refused.stderr
    assert refused.returncode == 2, told
    for missing in ("create deployments.apps", "create services", "create poddisruptionbudgets.policy",
                    "watch pods", "watch endpointslices.discovery.k8s.io", "get pods/log", "delete pods"):
        assert missing in told, (missing, told)
    assert "create namespaces" not in told and "nodes" not in told
    assert f"kubectl apply -f {RBAC / 'workload.yaml'}" in told, told
    assert account in told, told
    assert _run_namespaces(staging.admin) == before

    # The run's own roles, but a drain step: refused for the node and the eviction only.
    staging.bind("rollout-harness-workload")
    refused = _harness_run(drain, staging, tmp_path / "out-drain")
    told = refused.stdout + refused.stderr
    assert refused.returncode == 2, told
    assert "patch nodes" in told and "create pods/eviction" in told and "drain.yaml" in told, told
    assert "create deployments.apps" not in told
    assert _run_namespaces(staging.admin) == before

    # Everything a pod-delete run needs: it reaches a verdict and removes all it made.
    start = time.monotonic()
    ran = _harness_run(pod_delete, staging, tmp_path / "out")
    report = ran.stdout[-4000:] + ran.stderr[-4000:]
    [result] = (tmp_path / "out").glob("*/result.json")
    verdict = json.loads(result.read_text())
    assert verdict["outcome"] == "PASS", report
    assert ran.returncode == 0, report
    assert "must pull" in ran.stderr and image in ran.stderr, report
    versions = json.loads((result.parent / "versions.json").read_text())
    assert versions["owned_cluster"] is False and versions["context"] == CONTEXT
    assert versions["images"][image]["how"] == "left to the cluster"

    def left() -> list[str]:
        return _run_namespaces(staging.admin)

    deadline = time.monotonic() + 120
    while left() and time.monotonic() < deadline:
        time.sleep(2)
    assert left() == [], "the run's namespace is still there"
    nodes = json.loads(_ok([*staging.admin, "get", "nodes", "-o", "json"]))["items"]
    assert not any(n["spec"].get("unschedulable") for n in nodes)
    assert time.monotonic() - start < 200
