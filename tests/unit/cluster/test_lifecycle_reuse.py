"""`up` on a healthy cluster the harness made reuses it without resolving a node image (which could
start a build), and resolves one only when there is a cluster to create."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from harness.cluster import lifecycle
from harness.cluster.kind import ClusterRecord, ClusterSpec

RECORD = ClusterRecord(name="c", context="kind-c", kubeconfig="/k", node_image="kindest/node:v1.34.0", workers=0,
                       host_port=30080)


def patch(monkeypatch: pytest.MonkeyPatch, *, record: ClusterRecord | None, healthy: bool) -> list[Any]:
    seen: list[Any] = []
    monkeypatch.setattr(lifecycle.docker, "docker_available", lambda: None)
    monkeypatch.setattr(lifecycle, "load_record", lambda name: record)
    monkeypatch.setattr(lifecycle, "cluster_status", lambda name: SimpleNamespace(healthy=healthy))

    def resolve(version: str, choice: str) -> tuple[str, bool]:
        seen.append(("resolve", version, choice))
        return "built:1", True

    def create(spec: ClusterSpec) -> ClusterRecord:
        seen.append(spec)
        return RECORD

    monkeypatch.setattr(lifecycle, "resolve_node_image", resolve)
    monkeypatch.setattr(lifecycle, "cluster_up", create)
    return seen


def test_a_healthy_cluster_is_reused_without_resolving_a_node_image(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = patch(monkeypatch, record=RECORD, healthy=True)
    assert lifecycle.up(name="c", workers=0, k8s_version="v1.34.4", node_image="auto", host_port=30080) is RECORD
    assert [s for s in seen if isinstance(s, tuple)] == []
    (spec,) = seen
    assert spec.node_image == RECORD.node_image and spec.workers == 0


@pytest.mark.parametrize(("record", "healthy"), [(None, False), (RECORD, False)])
def test_without_a_healthy_cluster_the_node_image_is_resolved(monkeypatch: pytest.MonkeyPatch,
                                                              record: ClusterRecord | None, healthy: bool) -> None:
    seen = patch(monkeypatch, record=record, healthy=healthy)
    lifecycle.up(name="c", workers=1, k8s_version="v1.34.4", node_image="auto", host_port=30080)
    assert seen[0] == ("resolve", "v1.34.4", "auto")
    assert seen[1].node_image == "built:1" and seen[1].workers == 1
