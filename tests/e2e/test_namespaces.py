"""Nothing a run applies escapes its cleanup: objects with a fixed namespace land in the run's namespace,
a Namespace in the manifests is not created, and a cluster-scoped object applied with
``target.cluster_scoped: apply`` is labelled with the run and gone afterwards."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from harness.cluster.kind import ClusterRecord
from harness.cluster_objects import apply_cluster_scoped
from harness.errors import ApiNotFoundError, ManifestError
from harness.k8s import api_client, call, wait_until
from harness.scenario import parse_scenario
from harness.validate import validate_scenario
from harness.verdict import GateStatus
from harness.workload import RUN_LABEL
from tests.e2e.conftest import ROOT, run_in

OTHER = "rh-e2e-other"


def _write_target(directory: Path, role: str) -> None:
    """The sample service's manifests, its Service pinned to another namespace, plus a Namespace, a
    ConfigMap in that namespace and a ClusterRole."""
    directory.mkdir()
    for path in (ROOT / "manifests" / "sample-service").glob("*.yaml"):
        shutil.copy(path, directory / path.name)
    service = (directory / "service.yaml").read_text()
    (directory / "service.yaml").write_text(
        service.replace("  name: sample-service\n", f"  name: sample-service\n  namespace: {OTHER}\n", 1))
    (directory / "extra.yaml").write_text(
        f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {OTHER}\n---\n"
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: rh-e2e-settings\n  namespace: {OTHER}\n"
        "data:\n  greeting: hello\n---\n"
        f"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: {role}\n"
        "rules:\n  - apiGroups: ['']\n    resources: [configmaps]\n    verbs: [get]\n")


def _scenario(tmp_path: Path, cluster_scoped: str) -> Any:
    return parse_scenario({
        "name": "namespaces", "seed": 1, "cluster": {"name": "rh-e2e"},
        "target": {"manifests": "manifests", "cluster_scoped": cluster_scoped},
        "traffic": {"rate": 50, "users": 5, "warmup_s": 2, "settle_s": 2},
        "steps": [{"action": "rollout-restart", "deadline_s": 120}],
        "gates": {"min_requests": 100},
    }, str(tmp_path / "scenario.yaml"))


def _exists(read: Any, *args: str) -> bool:
    try:
        call(read, *args, what="read", retry_s=10)
    except ApiNotFoundError:
        return False
    return True


def test_nothing_the_run_applies_outlives_it(cluster: ClusterRecord, runs_dir: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    role = f"rh-e2e-reader-{uuid.uuid4().hex[:6]}"
    _write_target(tmp_path / "manifests", role)
    with pytest.raises(ManifestError, match=f"ClusterRole/{role}"):
        validate_scenario(_scenario(tmp_path, "refuse"))
    scenario = validate_scenario(_scenario(tmp_path, "apply"))

    api = api_client(Path(cluster.kubeconfig), cluster.context)
    rbac, core = client.RbacAuthorizationV1Api(api), client.CoreV1Api(api)
    seen_labels: list[dict[str, str]] = []
    def apply_and_look(*args: Any, **kwargs: Any) -> None:
        apply_cluster_scoped(*args, **kwargs)
        seen_labels.append(call(rbac.read_cluster_role, role, what="read the role").metadata.labels or {})

    monkeypatch.setattr("harness.run.apply_cluster_scoped", apply_and_look)
    result = run_in(cluster, scenario, runs_dir / "namespaces")

    verdict = result.verdict
    summary = "; ".join(f"{g.name}={g.status.value}: {g.reason}" for g in verdict.gates)
    assert verdict.outcome is GateStatus.PASS, summary
    # The role existed during the run, labelled with it.
    assert [labels.get(RUN_LABEL) for labels in seen_labels] == [verdict.facts.run_id]
    notes = {(n["object"], n["action"]): n["detail"]
             for n in json.loads((result.run_dir / "versions.json").read_text())["scope"]}
    assert set(notes) == {("Service/sample-service", "moved"), ("ConfigMap/rh-e2e-settings", "moved"),
                          (f"Namespace/{OTHER}", "dropped"), (f"ClusterRole/{role}", "cluster-scoped")}
    assert notes[("ConfigMap/rh-e2e-settings", "moved")].startswith(f"from namespace {OTHER} into the run's")

    assert not _exists(rbac.read_cluster_role, role)
    assert not _exists(core.read_namespace, OTHER)

    def config_map_gone() -> bool | None:
        left = call(core.list_config_map_for_all_namespaces, field_selector="metadata.name=rh-e2e-settings",
                    what="list config maps").items
        return True if not left else None

    # The run's namespace goes in the background; its objects with it.
    assert wait_until(config_map_gone, timeout_s=90, what="config map gone"), "the ConfigMap outlived the run"
    services = call(core.list_service_for_all_namespaces, field_selector="metadata.name=sample-service",
                    what="list services").items
    assert not services, [s.metadata.namespace for s in services]
