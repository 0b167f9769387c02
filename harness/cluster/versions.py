"""Every version that goes into the node image. The node image cache key covers all of them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

__all__ = [
    "DEFAULT_K8S_VERSION",
    "KIND_VERSION",
    "STOCK_K8S_VERSION",
    "STOCK_NODE_IMAGE",
    "SUPPORTED_K8S_VERSIONS",
    "NodeVersions",
    "node_versions",
]

KIND_VERSION = "v0.30.0"  # the last kind release tested on cgroup v1 hosts
DEFAULT_K8S_VERSION = "v1.34.4"

# The stock node image of KIND_VERSION (its default), used when it can be pulled and its Kubernetes
# version is the one asked for.
STOCK_NODE_IMAGE = "kindest/node:v1.34.0@sha256:7416a61b42b1662ca6ca89f02028ac133a309a2a30ba309614e8ec94d976dc5a"
STOCK_K8S_VERSION = "v1.34.0"


@dataclass(frozen=True)
class NodeVersions:
    kubernetes: str  # v1.34.N
    etcd: str  # 3.6.N (module tag without v)
    etcd_image_tag: str  # what kubeadm lists, e.g. 3.6.5-0
    coredns: str  # v1.12.1
    pause: str  # 3.10.1
    crictl: str  # v1.34.0
    debian_suite: str
    # Bumped whenever the build recipe (files, package lists, flags) changes in a way that matters.
    recipe: str

    @property
    def staging(self) -> str:
        """The published tag of the Kubernetes staging modules that match this release."""
        return "v0." + self.kubernetes.removeprefix("v1.")

    def cache_key(self, *extra: str) -> str:
        payload = json.dumps([asdict(self), *extra], sort_keys=True).encode()
        return hashlib.sha256(payload).hexdigest()[:16]


# kubeadm's own constants for each supported minor release: the etcd image tag that
# `kubeadm config images list` names, CoreDNS and pause. The build checks them against the
# built kubeadm, so a drift is an error, not a silent mismatch.
_PER_RELEASE = {
    "v1.34.4": {"etcd": "3.6.5", "etcd_image_tag": "3.6.5-0", "coredns": "v1.12.1", "pause": "3.10.1"},
    "v1.34.3": {"etcd": "3.6.5", "etcd_image_tag": "3.6.5-0", "coredns": "v1.12.1", "pause": "3.10.1"},
    "v1.34.2": {"etcd": "3.6.5", "etcd_image_tag": "3.6.5-0", "coredns": "v1.12.1", "pause": "3.10.1"},
}

SUPPORTED_K8S_VERSIONS = tuple(sorted(_PER_RELEASE))


def node_versions(kubernetes: str = DEFAULT_K8S_VERSION) -> NodeVersions:
    release = _PER_RELEASE[kubernetes]
    return NodeVersions(
        kubernetes=kubernetes,
        etcd=release["etcd"],
        etcd_image_tag=release["etcd_image_tag"],
        coredns=release["coredns"],
        pause=release["pause"],
        crictl="v1.34.0",
        debian_suite="bookworm",
        recipe="1",
    )
