"""`harness cluster up`: pick the node image (built here, or stock when it can be pulled), then
create or reuse the cluster."""

from __future__ import annotations

import subprocess

from harness.cluster import docker
from harness.cluster.kind import ClusterRecord, ClusterSpec, cluster_status, cluster_up, load_record
from harness.cluster.nodeimage import NodeImage, build_node_image, node_image_ref
from harness.cluster.versions import (
    KIND_VERSION,
    STOCK_K8S_VERSION,
    STOCK_NODE_IMAGE,
    SUPPORTED_K8S_VERSIONS,
    node_versions,
)
from harness.errors import ConfigError
from harness.log import get_logger

__all__ = ["build_image", "resolve_node_image", "up"]

log = get_logger(__name__)

_PULL_TIMEOUT_S = 120


def build_image(k8s_version: str, *, force: bool = False) -> NodeImage:
    if k8s_version not in SUPPORTED_K8S_VERSIONS:
        raise ConfigError(
            f"Kubernetes {k8s_version} is not supported by the node image build",
            f"use one of {', '.join(SUPPORTED_K8S_VERSIONS)}",
        )
    return build_node_image(node_versions(k8s_version), force=force)


def _try_pull(ref: str) -> bool:
    try:
        proc = subprocess.run(["docker", "pull", ref], capture_output=True, timeout=_PULL_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return False
    return proc.returncode == 0


def resolve_node_image(k8s_version: str, choice: str) -> tuple[str, bool]:
    """The node image to use and whether it is one of the harness's own (with its own pod network)."""
    if choice not in ("auto", "build", "stock"):
        return choice, docker.image_labels(choice).get("rollout-harness.node-cache-key") is not None
    if choice == "stock":
        if k8s_version != STOCK_K8S_VERSION:
            raise ConfigError(f"the stock node image runs Kubernetes {STOCK_K8S_VERSION}, not {k8s_version}",
                              f"ask for k8s_version {STOCK_K8S_VERSION}, or use --node-image build")
        if not _try_pull(STOCK_NODE_IMAGE):
            raise ConfigError(f"the stock node image {STOCK_NODE_IMAGE} cannot be pulled",
                              "use --node-image build (the default 'auto' does this by itself)")
        return STOCK_NODE_IMAGE, False
    if choice == "auto":
        if k8s_version in SUPPORTED_K8S_VERSIONS:
            ref, key = node_image_ref(node_versions(k8s_version))
            if docker.image_labels(ref).get("rollout-harness.node-cache-key") == key:
                return ref, True
        # A stock image of another Kubernetes version would silently test the wrong release.
        if k8s_version == STOCK_K8S_VERSION and _try_pull(STOCK_NODE_IMAGE):
            log.info("using the stock node image of kind %s: %s", KIND_VERSION, STOCK_NODE_IMAGE)
            return STOCK_NODE_IMAGE, False
        log.info("no stock node image of Kubernetes %s can be pulled; building the node image locally", k8s_version)
    return build_image(k8s_version).ref, True


def up(*, name: str, workers: int, k8s_version: str, node_image: str, host_port: int) -> ClusterRecord:
    docker.docker_available()
    record = load_record(name)
    if record is not None and cluster_status(name).healthy:
        # Reused as it is: resolving a node image first could build one (25 minutes) for nothing.
        return cluster_up(ClusterSpec(name=name, workers=workers, node_image=record.node_image,
                                      host_port=record.host_port))
    ref, own = resolve_node_image(k8s_version, node_image)
    return cluster_up(ClusterSpec(name=name, workers=workers, node_image=ref, host_port=host_port,
                                  own_network=own))
