"""Which Service and port traffic is meant for, and the NodePort Service the harness adds on its own
cluster: on the shipped manifests and on objects built here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.errors import ManifestError
from harness.exposure import EXPOSE_PREFIX, choose_service, exposure_for
from harness.manifests import find_workload, load_manifests

ROOT = Path(__file__).resolve().parents[2]
NODE_PORT = 30080


def deployment(labels: dict[str, str] | None = None) -> dict[str, Any]:
    labels = labels or {"app": "web"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "web", "image": "web:1"}]}}}}


def service(name: str = "web", *, kind: str = "ClusterIP", ports: list[dict[str, Any]] | None = None,
            selector: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": kind, "selector": selector or {"app": "web"},
                     "ports": ports if ports is not None else [{"name": "http", "port": 8080, "targetPort": "http"}]}}


def test_the_shipped_service_already_publishes_the_mapped_port_and_is_used_as_is() -> None:
    objects = load_manifests(ROOT / "manifests" / "sample-service")
    workload, _ = find_workload(objects)
    chosen = choose_service(objects, workload)
    assert (chosen.service, chosen.port, chosen.target_port, chosen.node_port) == ("sample-service", 80, 8080, 30080)
    exposure = exposure_for(objects, chosen, NODE_PORT)
    assert exposure.added is None and exposure.service == "sample-service"


def test_a_cluster_ip_service_on_any_port_gets_the_harnesss_own_node_port() -> None:
    objects = [deployment(), service()]
    chosen = choose_service(objects, objects[0])
    assert (chosen.port, chosen.target_port, chosen.service_type) == (8080, "http", "ClusterIP")
    exposure = exposure_for(objects, chosen, NODE_PORT)
    added = exposure.added
    assert added is not None and exposure.service == f"{EXPOSE_PREFIX}web" == added["metadata"]["name"]
    assert added["spec"]["type"] == "NodePort" and added["spec"]["selector"] == {"app": "web"}
    assert added["spec"]["ports"] == [{"name": "traffic", "protocol": "TCP", "port": 8080, "targetPort": "http",
                                       "nodePort": NODE_PORT}]


def test_a_port_without_target_port_targets_the_same_number() -> None:
    objects = [deployment(), service(ports=[{"port": 9000}])]
    assert choose_service(objects, objects[0]).target_port == 9000


def test_target_service_and_port_pick_among_several() -> None:
    ports = [{"name": "admin", "port": 9090}, {"name": "http", "port": 8080, "targetPort": 8081}]
    objects = [deployment(), service("a"), service("b", ports=ports)]
    with pytest.raises(ManifestError, match=r"2 Services select the pods of Deployment/web: a, b") as caught:
        choose_service(objects, objects[0])
    assert "target.service" in caught.value.fix
    with pytest.raises(ManifestError, match=r"Service b has 2 ports: 9090 \(admin\), 8080 \(http\)"):
        choose_service(objects, objects[0], service="b")
    by_name = choose_service(objects, objects[0], service="b", port="http")
    by_number = choose_service(objects, objects[0], service="b", port=8080)
    assert by_name == by_number and by_name.target_port == 8081


def test_a_named_service_that_selects_other_pods_is_refused() -> None:
    objects = [deployment(), service("web"), service("other", selector={"app": "other"})]
    with pytest.raises(ManifestError, match=r"target\.service other does not select the pods of Deployment/web"):
        choose_service(objects, objects[0], service="other")
    with pytest.raises(ManifestError, match=r"target\.service nope is not among the manifests"):
        choose_service(objects, objects[0], service="nope")
    with pytest.raises(ManifestError, match=r"target.port 1 is not a port of Service web \(its ports: 8080 \(http\)\)"):
        choose_service(objects, objects[0], port=1)


def test_no_service_at_all_says_what_to_add() -> None:
    objects = [deployment()]
    with pytest.raises(ManifestError, match="no Service selects the pods") as caught:
        choose_service(objects, objects[0])
    assert "spec.selector" in caught.value.fix


def test_another_service_holding_the_mapped_node_port_is_a_conflict() -> None:
    holder = service("admin", kind="NodePort", ports=[{"port": 80, "nodePort": NODE_PORT}],
                     selector={"app": "admin"})
    objects = [deployment(), service(), holder]
    chosen = choose_service(objects, objects[0])
    with pytest.raises(ManifestError, match="Service/admin claims nodePort 30080"):
        exposure_for(objects, chosen, NODE_PORT)


def test_a_node_port_service_on_another_node_port_is_exposed_again() -> None:
    objects = [deployment(), service(kind="NodePort", ports=[{"port": 80, "targetPort": 8080, "nodePort": 31000}])]
    exposure = exposure_for(objects, choose_service(objects, objects[0]), NODE_PORT)
    assert exposure.added is not None and exposure.added["spec"]["ports"][0]["targetPort"] == 8080
