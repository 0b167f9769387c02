"""Applying and deleting cluster-scoped objects, against an API server stand-in that keeps objects by path."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from harness.cluster_objects import ApiDiscovery, AppliedObject, apply_cluster_scoped, delete_cluster_scoped
from harness.errors import WorkloadError

LABEL = "rollout-harness/run"
RBAC = "/apis/rbac.authorization.k8s.io/v1"


class FakeApi:
    """Discovery for rbac and the core group, and a store of created objects."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.discovery = {
            RBAC: {"resources": [
                {"name": "clusterroles", "kind": "ClusterRole", "namespaced": False},
                {"name": "roles", "kind": "Role", "namespaced": True},
            ]},
            "/api/v1": {"resources": [
                {"name": "pods", "kind": "Pod", "namespaced": True},
                {"name": "pods/eviction", "kind": "Eviction", "namespaced": True},
            ]},
        }

    def param_serialize(self, method: str, path: str, *, body: Any = None, **_: Any) -> tuple[str, str, Any]:
        return method, path, body

    def call_api(self, method: str, path: str, body: Any = None, **_: Any) -> Response:
        self.calls.append((method, path))
        try:
            return Response(200, self.answer(method, path, body))
        except ApiException as exc:
            return Response(exc.status, {"reason": exc.reason})

    def answer(self, method: str, path: str, body: Any) -> dict[str, Any]:
        if method == "GET" and path in self.discovery:
            return self.discovery[path]
        if method == "POST":
            target = f"{path}/{body['metadata']['name']}"
            if target in self.objects:
                raise ApiException(status=409, reason="AlreadyExists")
            self.objects[target] = dict(body)
            return self.objects[target]
        if path not in self.objects:
            raise ApiException(status=404, reason="NotFound")
        if method == "DELETE":
            return self.objects.pop(path)
        return self.objects[path]


class Response:
    """What the client's call_api hands back: a status and the body, once read."""

    def __init__(self, status: int, data: dict[str, Any]) -> None:
        self.status = status
        self.reason = str(data.get("reason", "OK"))
        self.data = json.dumps(data).encode()

    def read(self) -> bytes:
        return self.data


ROLE = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "reader"},
        "rules": []}


def test_discovery_reads_scope_and_skips_subresources() -> None:
    api = FakeApi()
    discovery = ApiDiscovery(api)
    assert discovery.namespaced("rbac.authorization.k8s.io/v1", "ClusterRole") is False
    assert discovery.namespaced("rbac.authorization.k8s.io/v1", "Role") is True
    assert discovery.namespaced("v1", "Eviction") is None
    assert discovery.namespaced("example.com/v1", "Widget") is None  # the group version is not served
    assert api.calls.count(("GET", RBAC)) == 1  # asked once per group version


def test_apply_labels_each_object_and_delete_removes_it() -> None:
    api = FakeApi()
    applied: list[AppliedObject] = []
    apply_cluster_scoped(api, [ROLE], "run-1", LABEL, ApiDiscovery(api), applied)
    path = f"{RBAC}/clusterroles/reader"
    assert applied == [AppliedObject("ClusterRole/reader", path)]
    assert api.objects[path]["metadata"]["labels"] == {LABEL: "run-1"}
    assert "labels" not in ROLE["metadata"]
    assert delete_cluster_scoped(api, applied) == []
    assert api.objects == {}


def test_a_leftover_of_an_earlier_run_is_replaced() -> None:
    api = FakeApi()
    path = f"{RBAC}/clusterroles/reader"
    api.objects[path] = {**ROLE, "metadata": {"name": "reader", "labels": {LABEL: "run-0"}}}
    applied: list[AppliedObject] = []
    apply_cluster_scoped(api, [ROLE], "run-1", LABEL, ApiDiscovery(api), applied)
    assert api.objects[path]["metadata"]["labels"] == {LABEL: "run-1"}


def test_an_object_the_harness_did_not_make_is_left_alone() -> None:
    api = FakeApi()
    path = f"{RBAC}/clusterroles/reader"
    theirs = {**ROLE, "metadata": {"name": "reader"}}
    api.objects[path] = theirs
    applied: list[AppliedObject] = []
    with pytest.raises(WorkloadError, match="was not made by a run"):
        apply_cluster_scoped(api, [ROLE], "run-1", LABEL, ApiDiscovery(api), applied)
    assert api.objects[path] is theirs and applied == []


def test_a_namespaced_kind_is_not_applied_as_cluster_scoped() -> None:
    api = FakeApi()
    role = {**ROLE, "kind": "Role"}
    with pytest.raises(WorkloadError, match="no cluster-scoped kind Role"):
        apply_cluster_scoped(api, [role], "run-1", LABEL, ApiDiscovery(api), [])


def test_delete_reports_what_it_could_not_delete_and_skips_what_is_gone() -> None:
    api = FakeApi()
    gone = AppliedObject("ClusterRole/gone", f"{RBAC}/clusterroles/gone")

    def refuse(method: str, path: str, body: Any = None, **_: Any) -> Response:
        return Response(403, {"reason": "Forbidden"})

    assert delete_cluster_scoped(api, [gone]) == []
    api.call_api = refuse  # type: ignore[method-assign]
    assert delete_cluster_scoped(api, [gone]) == [gone]
