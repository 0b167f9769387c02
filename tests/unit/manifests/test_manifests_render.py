from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from harness.errors import ManifestError
from harness.manifests import (
    Overrides,
    find_workload,
    load_manifests,
    node_port,
    render,
    workload_container,
)

REPO = Path(__file__).resolve().parents[3]
GOOD = REPO / "manifests" / "sample-service"


@pytest.fixture
def objects() -> list[dict[str, Any]]:
    return load_manifests(GOOD)


def deployment(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return find_workload(objects)[0]


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    found = workload_container(deployment(objects))
    assert found is not None
    return found


def env_of(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(objects)["env"]}


def test_find_workload_and_node_port(objects: list[dict[str, Any]]) -> None:
    dep, svc = find_workload(objects)
    assert dep["kind"] == "Deployment"
    assert svc is not None
    assert svc["metadata"]["name"] == "sample-service"
    assert node_port(svc) == 30080


def test_find_workload_ignores_services_for_other_pods(objects: list[dict[str, Any]]) -> None:
    other = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "other"},
             "spec": {"selector": {"app": "other"}, "ports": [{"port": 80}]}}
    _, svc = find_workload([other, *objects])
    assert svc is not None
    assert svc["metadata"]["name"] == "sample-service"
    _, none = find_workload([o for o in objects if o["kind"] != "Service"])
    assert none is None


def test_find_workload_needs_exactly_one_deployment(objects: list[dict[str, Any]]) -> None:
    with pytest.raises(ManifestError, match="no Deployment"):
        find_workload([o for o in objects if o["kind"] != "Deployment"])
    second = copy.deepcopy(deployment(objects))
    second["metadata"]["name"] = "another"
    expected = r"2 Deployments \(Deployment/sample-service, Deployment/another\)"
    with pytest.raises(ManifestError, match=expected):
        find_workload([*objects, second])


def test_node_port_is_none_without_a_fixed_port() -> None:
    assert node_port({"spec": {"type": "NodePort", "ports": [{"port": 80}]}}) is None
    assert node_port({"spec": {"type": "ClusterIP", "ports": [{"port": 80, "nodePort": 30080}]}}) is None
    assert node_port({"spec": {"type": "LoadBalancer", "ports": [{"port": 80, "nodePort": 31000}]}}) == 31000


def test_workload_container_prefers_the_deployment_name() -> None:
    dep: dict[str, Any] = {"metadata": {"name": "web"},
           "spec": {"template": {"spec": {"containers": [{"name": "proxy"}, {"name": "web"}]}}}}
    assert workload_container(dep) == {"name": "web"}
    dep["metadata"]["name"] = "other"
    assert workload_container(dep) == {"name": "proxy"}
    assert workload_container({"spec": {}}) is None


def test_render_without_overrides_returns_equal_copies(objects: list[dict[str, Any]]) -> None:
    result = render(objects, Overrides())
    assert result == objects
    assert all(a is not b for a, b in zip(result, objects, strict=True))


def test_render_needs_a_deployment_only_for_deployment_overrides() -> None:
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    assert render([config], Overrides()) == [config]
    with pytest.raises(ManifestError, match="no Deployment"):
        render([config], Overrides(replicas=2))


def test_version_env_follows_the_version_label(objects: list[dict[str, Any]]) -> None:
    # The pods report the version they were rolled to without a separate env override.
    version = env_of(objects)["VERSION"]
    assert version == {"fieldRef": {"fieldPath": "metadata.labels['app.kubernetes.io/version']"}}


def test_render_all_overrides_without_mutating_input(objects: list[dict[str, Any]]) -> None:
    before = copy.deepcopy(objects)
    result = render(objects, Overrides(
        image="rollout-harness/sample-service:0.2.0",
        env={"SHUTDOWN_MODE": "immediate", "STARTUP_DELAY": "3s"},
        replicas=5,
        max_surge="50%",
        max_unavailable=1,
        termination_grace_period_seconds=45,
        pre_stop_seconds=8,
        version_label="0.2.0",
        node_port=30090,
    ))
    assert objects == before

    dep = deployment(result)
    pod = dep["spec"]["template"]
    main = container(result)
    assert main["image"] == "rollout-harness/sample-service:0.2.0"
    assert dep["spec"]["replicas"] == 5
    assert dep["spec"]["strategy"] == {"type": "RollingUpdate",
                                       "rollingUpdate": {"maxSurge": "50%", "maxUnavailable": 1}}
    assert pod["spec"]["terminationGracePeriodSeconds"] == 45
    assert main["lifecycle"]["preStop"] == {"sleep": {"seconds": 8}}
    assert pod["metadata"]["labels"]["app.kubernetes.io/version"] == "0.2.0"
    assert dep["metadata"]["labels"]["app.kubernetes.io/version"] == "0.2.0"
    assert dep["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": "sample-service"}}
    svc = find_workload(result)[1]
    assert svc is not None
    assert node_port(svc) == 30090


def test_env_replaces_in_place_and_appends_new(objects: list[dict[str, Any]]) -> None:
    result = render(objects, Overrides(env={"DRAIN_DELAY": "2s", "POD_NAME": "fixed", "NEW_ONE": "x"}))
    names = [e["name"] for e in container(result)["env"]]
    original = [e["name"] for e in container(objects)["env"]]
    assert names == [*original, "NEW_ONE"]
    env = env_of(result)
    assert env["DRAIN_DELAY"] == "2s"
    assert env["NEW_ONE"] == "x"
    # A literal value replaces the downward-API reference; the API forbids having both.
    assert {"name": "POD_NAME", "value": "fixed"} in container(result)["env"]
    assert env_of(objects)["DRAIN_DELAY"] == "5s"


def test_env_is_added_to_a_container_without_env(objects: list[dict[str, Any]]) -> None:
    del container(objects)["env"]
    result = render(objects, Overrides(env={"A": "1"}))
    assert container(result)["env"] == [{"name": "A", "value": "1"}]


def test_pre_stop_zero_removes_the_hook(objects: list[dict[str, Any]]) -> None:
    assert "preStop" in container(objects)["lifecycle"]
    result = render(objects, Overrides(pre_stop_seconds=0))
    assert "lifecycle" not in container(result)
    assert "preStop" in container(objects)["lifecycle"]


def test_pre_stop_zero_keeps_other_lifecycle_hooks(objects: list[dict[str, Any]]) -> None:
    container(objects)["lifecycle"]["postStart"] = {"httpGet": {"path": "/", "port": 8080}}
    result = render(objects, Overrides(pre_stop_seconds=0))
    assert container(result)["lifecycle"] == {"postStart": {"httpGet": {"path": "/", "port": 8080}}}


def test_pre_stop_replaces_an_exec_hook(objects: list[dict[str, Any]]) -> None:
    container(objects)["lifecycle"]["preStop"] = {"exec": {"command": ["sleep", "20"]}}
    result = render(objects, Overrides(pre_stop_seconds=3))
    assert container(result)["lifecycle"]["preStop"] == {"sleep": {"seconds": 3}}


def test_recreate_strategy_drops_rolling_parameters(objects: list[dict[str, Any]]) -> None:
    result = render(objects, Overrides(strategy="Recreate"))
    assert deployment(result)["spec"]["strategy"] == {"type": "Recreate"}


def test_rolling_parameters_on_a_recreate_deployment_need_the_strategy_too(
    objects: list[dict[str, Any]],
) -> None:
    deployment(objects)["spec"]["strategy"] = {"type": "Recreate"}
    with pytest.raises(ManifestError, match="Recreate strategy"):
        render(objects, Overrides(max_surge=1))
    result = render(objects, Overrides(strategy="RollingUpdate", max_surge=2, max_unavailable=0))
    assert deployment(result)["spec"]["strategy"] == {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 2, "maxUnavailable": 0}}


def test_strategy_is_created_when_absent(objects: list[dict[str, Any]]) -> None:
    del deployment(objects)["spec"]["strategy"]
    result = render(objects, Overrides(max_unavailable="10%"))
    assert deployment(result)["spec"]["strategy"] == {"rollingUpdate": {"maxUnavailable": "10%"}}


def test_image_goes_to_the_container_named_like_the_deployment(objects: list[dict[str, Any]]) -> None:
    pod_spec = deployment(objects)["spec"]["template"]["spec"]
    pod_spec["containers"].insert(0, {"name": "sidecar", "image": "example.org/proxy:1.0"})
    result = render(objects, Overrides(image="rollout-harness/sample-service:9.9.9"))
    images = {c["name"]: c["image"] for c in deployment(result)["spec"]["template"]["spec"]["containers"]}
    assert images == {
        "sidecar": "example.org/proxy:1.0",
        "sample-service": "rollout-harness/sample-service:9.9.9",
    }


def test_version_label_refuses_a_selector_on_the_version(objects: list[dict[str, Any]]) -> None:
    deployment(objects)["spec"]["selector"]["matchLabels"]["app.kubernetes.io/version"] = "0.1.0"
    with pytest.raises(ManifestError, match="orphan the running pods"):
        render(objects, Overrides(version_label="0.2.0"))


def test_version_label_leaves_deployment_labels_it_never_had(objects: list[dict[str, Any]]) -> None:
    del deployment(objects)["metadata"]["labels"]["app.kubernetes.io/version"]
    result = render(objects, Overrides(version_label="0.2.0"))
    assert "app.kubernetes.io/version" not in deployment(result)["metadata"]["labels"]
    labels = deployment(result)["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/version"] == "0.2.0"


def test_node_port_override_needs_a_service(objects: list[dict[str, Any]]) -> None:
    without = [o for o in objects if o["kind"] != "Service"]
    with pytest.raises(ManifestError, match="no Service selects"):
        render(without, Overrides(node_port=30090))


def test_malformed_deployment_is_a_manifest_error(objects: list[dict[str, Any]]) -> None:
    deployment(objects)["spec"]["template"] = ["not", "a", "mapping"]
    with pytest.raises(ManifestError, match=r"spec\.template is a list, not a mapping"):
        render(objects, Overrides(replicas=2))


def test_overrides_need_a_container(objects: list[dict[str, Any]]) -> None:
    deployment(objects)["spec"]["template"]["spec"]["containers"] = []
    with pytest.raises(ManifestError, match="no container"):
        render(objects, Overrides(image="x:1"))


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [(1, 1), ("1", 1), ("25%", "25%"), (0, 0), ("0%", "0%")],
)
def test_overrides_accept_int_or_percent(raw: int | str, parsed: int | str) -> None:
    assert Overrides(max_surge=raw).max_surge == parsed


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_surge": -1},
        {"max_surge": "1.5"},
        {"max_surge": True},
        {"max_unavailable": "a%"},
        {"max_surge": 0, "max_unavailable": "0%"},
        {"strategy": "Recreate", "max_unavailable": 1},
        {"strategy": "BlueGreen"},
        {"replicas": -1},
        {"termination_grace_period_seconds": -5},
        {"pre_stop_seconds": -1},
        {"image": ""},
        {"env": {"BAD NAME": "x"}},
        {"version_label": "not a label"},
        {"version_label": "x" * 64},
        {"node_port": 70000},
        {"unknown_field": 1},
    ],
)
def test_overrides_reject_invalid_values(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Overrides(**kwargs)
