"""The permissions a run needs on a cluster the harness did not create: the list in code and the
ClusterRoles of manifests/rbac/ agree, each scenario asks for what its steps do, a missing permission
is named with its fix, and a foreign context is never loaded into nor chosen unasked."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from harness import access
from harness.access import (
    CAPABILITIES,
    ROLES,
    STEP_NEEDS,
    Permission,
    check_access,
    check_run_access,
    find_missing,
    missing_error,
    required,
)
from harness.containers import ContainerWatch
from harness.disruptions import ACTIONS
from harness.errors import ContextRefusedError, PermissionMissingError
from harness.evidence import TimelineEvent, TimelineKind
from harness.images import place_images
from harness.manifests import K8sObject, Overrides, load_manifests, render
from harness.scenario import load_scenario, parse_scenario
from harness.target import RunOptions, Target, resolve_target

ROOT = Path(__file__).resolve().parents[2]
RBAC = ROOT / "manifests" / "rbac"
SAMPLE = ROOT / "manifests" / "sample-service"
STEPS: dict[str, Any] = {"name": "x", "steps": [{"action": "rollout-restart"}]}


def _rules_of(path: Path) -> tuple[str, set[tuple[str, str, str]]]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert document["kind"] == "ClusterRole", path
    granted = {(verb, group, resource) for rule in document["rules"] for group in rule["apiGroups"]
               for resource in rule["resources"] for verb in rule["verbs"]}
    return str(document["metadata"]["name"]), granted


def test_each_clusterrole_file_grants_exactly_what_the_code_lists_for_it() -> None:
    assert sorted(p.name for p in RBAC.glob("*.yaml")) == sorted(ROLES.values())
    for role, file in ROLES.items():
        name, granted = _rules_of(RBAC / file)
        listed = {(p.verb, p.group, p.resource) for c in CAPABILITIES.values() if c.role == role
                  for p in c.permissions}
        assert name == role
        assert granted == listed, (file, granted ^ listed)


def test_every_step_action_says_what_it_needs() -> None:
    assert set(STEP_NEEDS) == set(ACTIONS)
    for needs in STEP_NEEDS.values():
        for need in needs:
            assert {need.format(kind="deployment"), need.format(kind="statefulset")} <= set(CAPABILITIES)


def _sample_objects() -> list[K8sObject]:
    return render(load_manifests(SAMPLE), Overrides())


def _permissions(scenario_name: str, objects: list[K8sObject] | None = None, kind: str = "Deployment"
                 ) -> set[str]:
    scenario = load_scenario(ROOT / "scenarios" / f"{scenario_name}.yaml")
    needed = required([s.action for s in scenario.steps], kind, objects or _sample_objects())
    return {str(p) for c in needed for p in c.permissions}


def test_a_pod_delete_run_needs_pod_deletion_and_no_node() -> None:
    needed = _permissions("pod-delete")
    assert "delete pods" in needed
    assert {"create namespaces", "delete namespaces", "list pods", "watch pods", "get pods/log",
            "watch endpointslices.discovery.k8s.io",
            "get deployments.apps"} <= needed
    assert not any("nodes" in p or "eviction" in p for p in needed)
    assert "patch deployments.apps" not in needed
    # Deploying asks for exactly the kinds the shipped manifests hold.
    creates = {p for p in needed if p.startswith("create ") and "namespaces" not in p}
    assert creates == {"create deployments.apps", "create services", "create poddisruptionbudgets.policy"}


def test_a_drain_run_needs_the_node_and_the_eviction_api() -> None:
    needed = _permissions("node-drain")
    assert {"patch nodes", "create pods/eviction"} <= needed
    assert "delete pods" not in needed


def test_rolling_and_rollback_runs_need_the_patch_and_the_replicasets() -> None:
    assert "patch deployments.apps" in _permissions("rolling-restart")
    assert "list replicasets.apps" not in _permissions("rolling-restart")
    assert {"patch deployments.apps", "list replicasets.apps"} <= _permissions("rollback")


def test_a_statefulset_run_asks_for_statefulsets_not_deployments() -> None:
    objects = [{"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"}},
               {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}},
               {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "db"}}]
    needed = _permissions("rolling-restart", objects, kind="StatefulSet")
    assert {"get statefulsets.apps", "patch statefulsets.apps", "create statefulsets.apps", "create secrets",
            "create networkpolicies.networking.k8s.io"} <= needed
    assert not any("deployments" in p for p in needed)


def _fake_ask(denied: set[str], asked: list[tuple[str, str | None]]) -> access.Ask:
    def ask(permission: Permission, namespace: str | None) -> bool:
        asked.append((str(permission), namespace))
        return str(permission) not in denied
    return ask


def test_each_permission_is_asked_once_in_the_right_scope() -> None:
    scenario = parse_scenario({"name": "x", "steps": [{"action": "drain"}, {"action": "kill-pod"},
                                                      {"action": "delete-pod"}]}, "x.yaml")
    needed = required([s.action for s in scenario.steps], "Deployment", _sample_objects())
    asked: list[tuple[str, str | None]] = []
    assert find_missing(needed, _fake_ask(set(), asked), "rh-0000abcd") == []
    names = [a for a, _ in asked]
    assert len(names) == len(set(names))
    scopes = dict(asked)
    assert scopes["patch nodes"] is None and scopes["create namespaces"] is None
    assert scopes["delete pods"] == scopes["create pods/eviction"] == "rh-0000abcd"


def test_the_error_names_every_missing_permission_its_purpose_and_the_commands() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "node-drain.yaml")
    objects = [*_sample_objects(), {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}]
    needed = required([s.action for s in scenario.steps], "Deployment", objects)
    denied = {"patch nodes", "create pods/eviction", "create secrets", "watch events"}
    missing = find_missing(needed, _fake_ask(denied, []), "rh-12345678")
    error = missing_error("staging", "rh-12345678", missing, user="system:serviceaccount:ci:harness",
                          rbac=Path("/opt/rbac"))
    assert isinstance(error, PermissionMissingError) and isinstance(error, ContextRefusedError)
    assert "context staging" in error.problem and "4 permission(s)" in error.problem
    assert "rh-12345678" in error.problem and "system:serviceaccount:ci:harness" in error.problem
    assert "for the drain step (cordon and uncordon its node, evict its pods): patch nodes, create pods/eviction" \
        in error.problem
    assert "for deploying the manifests: create secrets" in error.problem
    assert "watch events" in error.problem
    assert "kubectl apply -f /opt/rbac/drain.yaml" in error.fix
    assert ("kubectl create clusterrolebinding rollout-harness-drain-harness --clusterrole rollout-harness-drain "
            "--serviceaccount ci:harness") in error.fix
    assert "kubectl apply -f /opt/rbac/workload.yaml" in error.fix
    assert "namespaces.yaml" not in error.fix  # granted, so not named
    assert "does not hold create secrets: add these rules to /opt/rbac/workload.yaml" in error.fix


def test_a_user_without_a_known_name_gets_a_placeholder() -> None:
    missing = [(CAPABILITIES["delete-pods"], Permission("delete", "", "pods", namespaced=True))]
    error = missing_error("staging", "rh-1", missing, user=None, rbac=Path("/r"))
    assert "--user <the user of this context>" in error.fix
    assert "credentials lack 1 permission(s)" in error.problem
    assert "add these rules" not in error.fix


def test_check_access_refuses_before_anything_with_the_answers_of_the_server(
        monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[str, str | None]] = []
    monkeypatch.setattr(access, "_ssar_ask", lambda api: _fake_ask({"delete pods"}, asked))
    monkeypatch.setattr(access, "_who_am_i", lambda api: "alice")
    api = cast(Any, object())
    with pytest.raises(PermissionMissingError) as info:
        check_access(api, context="staging", namespace="rh-1", actions=["kill-pod"], workload_kind="Deployment",
                     objects=_sample_objects())
    assert "(alice)" in info.value.problem
    assert "for the kill-pod and delete-pod steps: delete pods" in info.value.problem
    assert "--user alice" in info.value.fix
    asked.clear()
    check_access(api, context="staging", namespace="rh-1", actions=["rollout-restart"], workload_kind="Deployment",
                 objects=_sample_objects())
    assert ("patch deployments.apps", "rh-1") in asked and ("delete pods", "rh-1") not in asked


def _target(owned: bool) -> Target:
    return Target(kubeconfig=None, context="kind-rh" if owned else "staging", kind_cluster="rh" if owned else None,
                  host_port=30080, owned=owned)


def test_a_harness_cluster_is_not_checked_and_a_foreign_one_is(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(access, "check_access", lambda api, **kw: calls.append(kw["context"]))
    scenario = load_scenario(ROOT / "scenarios" / "pod-delete.yaml")
    check_run_access(cast(Any, None), _target(True), "rh-1", scenario, _sample_objects())
    assert calls == []
    check_run_access(cast(Any, None), _target(False), "rh-1", scenario, _sample_objects())
    assert calls == ["staging"]


# The foreign context itself


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RH_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def _kubeconfig(path: Path, current: str) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": current,
        "clusters": [{"name": current, "cluster": {"server": "https://prod.example:6443"}}],
        "users": [{"name": current, "user": {"token": "t"}}],
        "contexts": [{"name": current, "context": {"cluster": current, "user": current}}]}))
    return path


def test_a_kubeconfig_without_a_context_is_refused_not_read_for_its_current_one(
        state_dir: Path, tmp_path: Path) -> None:
    config = _kubeconfig(tmp_path / "kc", "prod")
    scenario = parse_scenario(STEPS, str(tmp_path / "s.yaml"))
    with pytest.raises(ContextRefusedError) as info:
        resolve_target(scenario, RunOptions(kubeconfig=config, create_cluster=False))
    assert "no context" in info.value.problem and "--context" in info.value.fix
    written = parse_scenario({**STEPS, "cluster": {"kubeconfig": "kc"}}, str(tmp_path / "s.yaml"))
    with pytest.raises(ContextRefusedError):
        resolve_target(written, RunOptions(create_cluster=False))


def test_without_a_context_the_default_kubeconfig_context_is_never_used(
        state_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(_kubeconfig(tmp_path / "default", "prod")))
    record = state_dir / "clusters" / "own" / "cluster.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"name": "own", "context": "kind-own", "kubeconfig": str(record.parent / "kc"),
                                  "node_image": "img", "workers": 0, "host_port": 30080}))
    scenario = parse_scenario({**STEPS, "cluster": {"name": "own"}}, str(tmp_path / "s.yaml"))
    target = resolve_target(scenario, RunOptions(create_cluster=False))
    assert (target.context, target.kubeconfig, target.owned) == ("kind-own", record.parent / "kc", True)
    other = parse_scenario({**STEPS, "cluster": {"name": "absent"}}, str(tmp_path / "s.yaml"))
    with pytest.raises(ContextRefusedError):
        resolve_target(other, RunOptions(create_cluster=False))


def test_a_kind_context_someone_else_made_is_foreign(state_dir: Path) -> None:
    scenario = parse_scenario(STEPS, "x.yaml")
    target = resolve_target(scenario, RunOptions(context="kind-theirs", create_cluster=False))
    assert not target.owned and target.kind_cluster is None


def test_a_foreign_context_gets_no_image_and_is_told_which_its_nodes_must_pull(
        caplog: pytest.LogCaptureFixture) -> None:
    def never(*_: Any) -> Any:
        raise AssertionError("a foreign context's nodes and the local engine are not touched")

    with caplog.at_level(logging.WARNING, logger="harness"):
        placed = place_images(["registry.example/web:1", "envoy:1"], kind_cluster=None, context="staging",
                              local_id=never, nodes=never, load=never, already=set())
    assert [p.how for p in placed] == ["left to the cluster"] * 2
    assert "context staging" in caplog.text and "registry.example/web:1, envoy:1" in caplog.text
    assert "must pull" in caplog.text


def test_outside_a_harness_cluster_a_pod_counts_as_gone_only_once_its_grace_bound_has_passed(
        tmp_path: Path) -> None:
    timeline = tmp_path / "timeline.jsonl"
    now = time.monotonic()
    events = [TimelineEvent(t=1000.0, m=now, kind=TimelineKind.POD, type="MODIFIED", name="web-a",
                            data={"name": "web-a", "node": "n1", "terminating": True, "grace_period_s": 30}),
              TimelineEvent(t=1000.0, m=now - 40, kind=TimelineKind.POD, type="DELETED", name="web-b",
                            data={"name": "web-b", "node": "n1", "terminating": True, "grace_period_s": 30})]
    timeline.write_text("".join(e.to_json() + "\n" for e in events))
    watch = ContainerWatch(timeline, "rh-x", kind_nodes=False)
    watch.poll()
    # The settle waits on this: traffic must flow until the kubelet may have killed what is left.
    assert watch.pending() == ["web-a"] and not watch.all_gone()
    assert watch.facts()["web-a"].containers_gone_m == pytest.approx(now + 30)
