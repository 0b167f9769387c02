from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ApiUnavailableError, ScopeError
from harness.manifests import load_documents, load_manifests
from harness.manifests.scope import (
    CLUSTER_SCOPED_KINDS,
    NAMESPACED_KINDS,
    scope_documents,
    scope_objects,
)

REPO = Path(__file__).resolve().parents[2]
GOOD = REPO / "manifests" / "sample-service"

Obj = dict[str, Any]


def obj(kind: str, name: str, api_version: str = "v1", namespace: str | None = None, **extra: Any) -> Obj:
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, **extra}


CLUSTER_ROLE = obj("ClusterRole", "reader", "rbac.authorization.k8s.io/v1", rules=[])


def test_the_sample_manifests_pass_unchanged() -> None:
    objects = load_manifests(GOOD)
    scoped = scope_objects(objects, namespace="rh-12345678")
    assert scoped.objects == objects
    assert scoped.notes == [] and scoped.cluster_scoped == [] and scoped.undecided == []


def test_a_fixed_namespace_is_rewritten_to_the_run_namespace_and_noted() -> None:
    config = obj("ConfigMap", "settings", namespace="other", data={"a": "b"})
    original = copy.deepcopy(config)
    scoped = scope_objects([config], namespace="rh-12345678")
    assert scoped.objects == [{**original, "metadata": {"name": "settings", "namespace": "rh-12345678"}}]
    assert config == original  # the input is left alone
    [note] = scoped.notes
    assert (note.object, note.action) == ("ConfigMap/settings", "moved")
    assert "from namespace other into the run's namespace rh-12345678" in note.detail
    assert note.as_dict() == {"object": "ConfigMap/settings", "action": "moved", "detail": note.detail}


def test_without_a_run_namespace_the_fixed_one_is_removed() -> None:
    scoped = scope_objects([obj("Service", "web", namespace="default")], namespace=None)
    assert "namespace" not in scoped.objects[0]["metadata"]
    assert scoped.notes[0].detail == "from namespace default into the run's namespace"


def test_an_object_already_in_the_run_namespace_has_no_note() -> None:
    scoped = scope_objects([obj("Service", "web", namespace="rh-1")], namespace="rh-1")
    assert scoped.notes == []


def test_a_namespace_object_is_dropped_with_a_note() -> None:
    scoped = scope_objects([obj("Namespace", "other"), obj("ConfigMap", "c")], namespace="rh-1")
    assert [o["kind"] for o in scoped.objects] == ["ConfigMap"]
    assert [(n.object, n.action) for n in scoped.notes] == [("Namespace/other", "dropped")]


def test_cluster_scoped_objects_are_refused_by_default_naming_each_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "all.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n"
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}\n---\n"
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: high}\nvalue: 1000\n")
    with pytest.raises(ScopeError) as raised:
        scope_documents(load_documents(tmp_path), namespace="rh-1")
    problem = raised.value.problem
    assert f"ClusterRole/reader ({tmp_path / 'all.yaml'}:5)" in problem
    assert f"PriorityClass/high ({tmp_path / 'all.yaml'}:9)" in problem
    assert "ConfigMap" not in problem
    assert "target.cluster_scoped: apply" in raised.value.fix
    assert "install them beforehand" in raised.value.fix


def test_with_apply_cluster_scoped_objects_are_handed_back_without_a_namespace() -> None:
    role = {**CLUSTER_ROLE, "metadata": {"name": "reader", "namespace": "other"}}
    scoped = scope_objects([role, obj("ConfigMap", "c")], namespace="rh-1", policy="apply")
    assert scoped.cluster_objects == [{**CLUSTER_ROLE, "metadata": {"name": "reader"}}]
    assert [o["kind"] for o in scoped.objects] == ["ConfigMap"]
    assert [(n.object, n.action) for n in scoped.notes] == [("ClusterRole/reader", "cluster-scoped")]


def test_an_unknown_kind_waits_for_discovery_when_there_is_none() -> None:
    widget = obj("Widget", "w", "example.com/v1", namespace="other")
    scoped = scope_objects([widget], namespace="rh-1")
    assert [d.obj for d in scoped.undecided] == [widget]
    assert scoped.objects == []


@pytest.mark.parametrize(("namespaced", "policy", "placed"), [(True, "refuse", "namespaced"),
                                                              (False, "apply", "cluster")])
def test_discovery_decides_an_unknown_kind(namespaced: bool, policy: str, placed: str) -> None:
    asked: list[tuple[str, str]] = []

    def discover(api_version: str, kind: str) -> bool | None:
        asked.append((api_version, kind))
        return namespaced

    widget = obj("Widget", "w", "example.com/v1", namespace="other")
    scoped = scope_objects([widget], namespace="rh-1", policy=policy, discover=discover)  # type: ignore[arg-type]
    assert asked == [("example.com/v1", "Widget")]
    found = scoped.objects if placed == "namespaced" else scoped.cluster_objects
    assert [o["metadata"]["name"] for o in found] == ["w"]


def test_discovery_saying_cluster_scoped_is_refused_by_default() -> None:
    with pytest.raises(ScopeError, match="Widget/w"):
        scope_objects([obj("Widget", "w", "example.com/v1")], namespace="rh-1", discover=lambda _v, _k: False)


def test_a_kind_the_cluster_does_not_serve_is_refused() -> None:
    with pytest.raises(ScopeError) as raised:
        scope_objects([obj("Widget", "w", "example.com/v1")], namespace="rh-1", discover=lambda _v, _k: None)
    assert "the cluster serves no kind Widget in example.com/v1" in raised.value.problem
    assert "CustomResourceDefinition" in raised.value.fix


def test_unreachable_discovery_refuses_with_the_reason() -> None:
    def discover(_v: str, _k: str) -> bool | None:
        raise ApiUnavailableError("discover example.com/v1: the API server did not answer", "check the cluster")

    with pytest.raises(ScopeError, match="discovery did not answer"):
        scope_objects([obj("Widget", "w", "example.com/v1")], namespace="rh-1", discover=discover)


def test_both_refusals_are_named_at_once() -> None:
    with pytest.raises(ScopeError) as raised:
        scope_objects([CLUSTER_ROLE, obj("Widget", "w", "example.com/v1")], namespace="rh-1",
                      discover=lambda _v, _k: None)
    assert "ClusterRole/reader" in raised.value.problem and "Widget/w" in raised.value.problem


def test_a_crd_in_the_manifests_tells_the_scope_of_its_kind_without_discovery() -> None:
    crd = obj("CustomResourceDefinition", "widgets.example.com", "apiextensions.k8s.io/v1",
              spec={"group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget"}})
    widget = obj("Widget", "w", "example.com/v1", namespace="other")
    scoped = scope_objects([crd, widget], namespace="rh-1", policy="apply")
    assert [o["kind"] for o in scoped.cluster_objects] == ["CustomResourceDefinition"]
    assert scoped.objects[0]["metadata"] == {"name": "w", "namespace": "rh-1"}


def test_the_kind_lists_do_not_overlap_and_hold_the_usual_suspects() -> None:
    assert not NAMESPACED_KINDS & CLUSTER_SCOPED_KINDS
    for kind in ("ClusterRole", "ClusterRoleBinding"):
        assert ("rbac.authorization.k8s.io", kind) in CLUSTER_SCOPED_KINDS
    assert ("apiextensions.k8s.io", "CustomResourceDefinition") in CLUSTER_SCOPED_KINDS
    assert ("", "PersistentVolume") in CLUSTER_SCOPED_KINDS
    assert ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration") in CLUSTER_SCOPED_KINDS
    assert ("", "PersistentVolumeClaim") in NAMESPACED_KINDS
    assert ("apps", "StatefulSet") in NAMESPACED_KINDS


def _scenario_with_role(tmp_path: Path, cluster_scoped: str) -> Any:
    from harness.scenario import parse_scenario

    shutil.copytree(GOOD, tmp_path / "manifests", dirs_exist_ok=True)
    (tmp_path / "manifests" / "role.yaml").write_text(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}\nrules: []\n"
        "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: other}\n")
    return parse_scenario({"name": "scoped", "target": {"manifests": "manifests", "cluster_scoped": cluster_scoped},
                           "steps": [{"action": "rollout-restart"}]}, str(tmp_path / "scenario.yaml"))


def test_validate_refuses_cluster_scoped_objects_before_any_cluster_work(tmp_path: Path) -> None:
    from harness.errors import ManifestError
    from harness.validate import validate_scenario

    with pytest.raises(ManifestError) as raised:
        validate_scenario(_scenario_with_role(tmp_path, "refuse"))
    assert "ClusterRole/reader" in raised.value.problem
    assert "target.cluster_scoped: apply" in raised.value.fix
    assert validate_scenario(_scenario_with_role(tmp_path, "apply")).target.cluster_scoped == "apply"


def test_an_unknown_cluster_scoped_value_is_a_scenario_error(tmp_path: Path) -> None:
    from harness.errors import ScenarioError

    with pytest.raises(ScenarioError, match="cluster_scoped"):
        _scenario_with_role(tmp_path, "sometimes")
