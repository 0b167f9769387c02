"""Which images a run places on a kind cluster's nodes, and how: loaded from the local engine,
already there, pulled, or left to a cluster that is not kind; and the error when none works."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness.errors import WorkloadError
from harness.images import place_images, pod_images
from harness.manifests import load_manifests

ROOT = Path(__file__).resolve().parents[2]


def test_pod_images_lists_every_container_and_init_container_once() -> None:
    objects: list[dict[str, Any]] = [
        {"kind": "Deployment", "spec": {"template": {"spec": {
            "initContainers": [{"name": "migrate", "image": "tools:2"}],
            "containers": [{"name": "web", "image": "web:1"}, {"name": "proxy", "image": "envoy:1"},
                           {"name": "again", "image": "web:1"}]}}}},
        {"kind": "Service", "spec": {"ports": []}},
    ]
    assert pod_images(objects) == ["tools:2", "web:1", "envoy:1"]
    shipped = pod_images(load_manifests(ROOT / "manifests" / "sample-service"))
    assert len(shipped) == 1 and "sample-service" in shipped[0]


def never(*_: object) -> Any:
    raise AssertionError("not to be called")


def test_a_local_image_is_loaded_once_and_its_id_recorded() -> None:
    loads: list[str] = []
    already: set[str] = set()
    placed = place_images(["web:1", "envoy:1"], kind_cluster="c", context="kind-c",
                          local_id=lambda ref: f"sha256:{ref}", nodes=never, load=loads.append, already=already)
    assert [(p.image, p.how, p.image_id) for p in placed] == [("web:1", "loaded", "sha256:web:1"),
                                                              ("envoy:1", "loaded", "sha256:envoy:1")]
    again = place_images(["web:1"], kind_cluster="c", context="kind-c", local_id=lambda ref: "sha256:x",
                         nodes=never, load=loads.append, already=already)
    assert loads == ["web:1", "envoy:1"] and again[0].how == "loaded"


def test_on_a_cluster_that_is_not_kind_nothing_is_loaded() -> None:
    placed = place_images(["web:1"], kind_cluster=None, context="staging", local_id=never, nodes=never, load=never,
                          already=set())
    assert placed[0].how == "left to the cluster"


def fake_crictl(monkeypatch: pytest.MonkeyPatch, *, present: bool, pull_error: str | None) -> list[list[str]]:
    calls: list[list[str]] = []

    def run(cmd: list[str], **_: object) -> subprocess.CompletedProcess[bytes]:
        calls.append(cmd)
        if cmd[-2] == "inspecti":
            return subprocess.CompletedProcess(cmd, 0 if present else 1, b"", b"")
        if pull_error is None:
            return subprocess.CompletedProcess(cmd, 0, b"", b"")
        return subprocess.CompletedProcess(cmd, 1, b"", pull_error.encode())

    monkeypatch.setattr("harness.images.subprocess.run", run)
    return calls


def test_an_image_already_on_every_node_needs_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake_crictl(monkeypatch, present=True, pull_error=None)
    placed = place_images(["web:1"], kind_cluster="c", context="kind-c", local_id=lambda _: None,
                          nodes=lambda: ["c-control-plane", "c-worker"], load=never, already=set())
    assert placed[0].how == "on nodes" and [c[2] for c in calls] == ["c-control-plane", "c-worker"]


def test_an_image_the_nodes_can_pull_is_pulled_before_deploying(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake_crictl(monkeypatch, present=False, pull_error=None)
    placed = place_images(["web:1"], kind_cluster="c", context="kind-c", local_id=lambda _: None,
                          nodes=lambda: ["n1", "n2"], load=never, already=set())
    assert placed[0].how == "pulled"
    assert [c[-2:] for c in calls if "pull" in c] == [["pull", "web:1"], ["pull", "web:1"]]


def test_an_image_nowhere_names_both_ways_out(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_crictl(monkeypatch, present=False, pull_error="E1202 failed to pull: dial tcp: lookup registry: no such host")
    with pytest.raises(WorkloadError) as caught:
        place_images(["registry.example/web:1"], kind_cluster="c", context="kind-c", local_id=lambda _: None,
                     nodes=lambda: ["n1"], load=never, already=set())
    assert "not in the local Docker engine" in caught.value.problem and "no such host" in caught.value.problem
    assert "docker build -t registry.example/web:1" in caught.value.fix and "registry" in caught.value.fix
