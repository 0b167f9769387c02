"""Pure parts of the cluster code: the kind config, the node image cache key, Go wrapper modules."""

from __future__ import annotations

from dataclasses import replace

import yaml

from harness.cluster.gobuild import K8S_STAGING_MODULES, components_for
from harness.cluster.kind import ClusterSpec
from harness.cluster.versions import node_versions


def test_kind_config_publishes_nodeport_on_loopback_only() -> None:
    config = yaml.safe_load(ClusterSpec(name="c", workers=2, node_image="img:1", host_port=31000).kind_config())
    nodes = config["nodes"]
    assert [n["role"] for n in nodes] == ["control-plane", "worker", "worker"]
    assert all(n["image"] == "img:1" for n in nodes)
    mapping = nodes[0]["extraPortMappings"][0]
    assert mapping == {"containerPort": 30080, "hostPort": 31000, "listenAddress": "127.0.0.1", "protocol": "TCP"}
    assert "extraPortMappings" not in nodes[1]


def test_own_node_image_brings_its_network_stock_keeps_kindnet() -> None:
    own = yaml.safe_load(ClusterSpec(node_image="a", own_network=True).kind_config())
    stock = yaml.safe_load(ClusterSpec(node_image="b", own_network=False).kind_config())
    assert own["networking"]["disableDefaultCNI"] is True
    assert stock["networking"]["disableDefaultCNI"] is False


def test_cache_key_covers_every_version() -> None:
    base = node_versions("v1.34.4")
    keys = {base.cache_key()}
    for field, value in [("kubernetes", "v1.34.3"), ("etcd", "3.6.4"), ("coredns", "v1.12.0"), ("pause", "3.10"),
                         ("crictl", "v1.33.0"), ("debian_suite", "trixie"), ("recipe", "2")]:
        keys.add(replace(base, **{field: value}).cache_key())
    assert len(keys) == 8
    assert base.cache_key() == node_versions("v1.34.4").cache_key()
    assert base.cache_key("files-a") != base.cache_key("files-b")


def test_kubernetes_wrapper_module_pins_every_staging_module() -> None:
    k8s = next(c for c in components_for(node_versions("v1.34.4")) if c.name == "kubernetes")
    go_mod = k8s.go_mod()
    assert "require k8s.io/kubernetes v1.34.4" in go_mod
    for module in K8S_STAGING_MODULES:
        assert f"k8s.io/{module} => k8s.io/{module} v0.34.4" in go_mod
    assert "godebug default=go1.24" in go_mod
    assert "gitVersion=v1.34.4" in k8s.ldflags and "gitMinor=34" in k8s.ldflags
    assert set(k8s.binaries) == {"kubelet", "kubeadm", "kubectl", "kube-apiserver", "kube-controller-manager",
                                 "kube-scheduler", "kube-proxy"}


def test_routes_between_nodes_skip_self_and_unassigned() -> None:
    from harness.cluster.podnet import NodeRoute, plan_routes

    routes = plan_routes([
        ("cp", "10.244.0.0/24", "172.18.0.2"),
        ("w1", "10.244.1.0/24", "172.18.0.3"),
        ("w2", None, "172.18.0.4"),  # no podCIDR yet: nobody routes to it, it still gets routes
    ])
    assert set(routes) == {
        NodeRoute("cp", "10.244.1.0/24", "172.18.0.3"),
        NodeRoute("w1", "10.244.0.0/24", "172.18.0.2"),
        NodeRoute("w2", "10.244.0.0/24", "172.18.0.2"),
        NodeRoute("w2", "10.244.1.0/24", "172.18.0.3"),
    }
    assert plan_routes([("solo", "10.244.0.0/24", "172.18.0.2")]) == []
