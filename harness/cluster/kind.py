"""kind cluster lifecycle: up (or reuse), status, down.

The kubeconfig of every cluster goes to a file of the harness's own; the user's default
kubeconfig is never read or written. A record of each cluster the harness created is kept next to
it: that record is what allows the harness to disrupt the cluster without being told to.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.cluster import docker, hostsysctl
from harness.cluster.paths import cache_dir, state_dir
from harness.cluster.versions import KIND_VERSION
from harness.errors import ClusterError, PrerequisiteMissingError
from harness.log import get_logger
from harness.shell import require_tool, run_step

__all__ = [
    "DEFAULT_CLUSTER",
    "NODE_PORT",
    "ClusterRecord",
    "ClusterSpec",
    "ClusterStatus",
    "cluster_down",
    "cluster_status",
    "cluster_up",
    "ensure_kind",
    "load_record",
]

log = get_logger(__name__)

DEFAULT_CLUSTER = "rollout-harness"
NODE_PORT = 30080  # the sample service's fixed NodePort, published on 127.0.0.1
KIND_FIX = f"install kind {KIND_VERSION}: go install sigs.k8s.io/kind@{KIND_VERSION}"


@dataclass(frozen=True)
class ClusterSpec:
    name: str = DEFAULT_CLUSTER
    workers: int = 0
    node_image: str = ""
    host_port: int = NODE_PORT
    node_port: int = NODE_PORT
    own_network: bool = True  # the harness's node image brings its own pod network

    def kind_config(self) -> str:
        node: dict[str, Any] = {"role": "control-plane", "image": self.node_image}
        node["extraPortMappings"] = [{
            "containerPort": self.node_port, "hostPort": self.host_port,
            "listenAddress": "127.0.0.1", "protocol": "TCP",
        }]
        nodes = [node] + [{"role": "worker", "image": self.node_image} for _ in range(self.workers)]
        config = {
            "kind": "Cluster",
            "apiVersion": "kind.x-k8s.io/v1alpha4",
            # The harness's node image brings its own pod network agent (bridge + routes), so
            # it needs no kindnetd image; the stock image keeps kind's default CNI.
            "networking": {"disableDefaultCNI": self.own_network, "kubeProxyMode": "iptables"},
            "kubeadmConfigPatches": [self._kubelet_patch(), self._kube_proxy_patch()],
            "nodes": nodes,
        }
        return yaml.safe_dump(config, sort_keys=False)

    def _kube_proxy_patch(self) -> str:
        # kube-proxy sets the CLOSE_WAIT conntrack timeout itself (1 h by default); see the node
        # entrypoint for why closing states must expire in seconds here.
        return "kind: KubeProxyConfiguration\nconntrack:\n  tcpCloseWaitTimeout: 5s\n"

    def _kubelet_patch(self) -> str:
        # cgroup v1 hosts: kubelet >= 1.35 refuses them unless told otherwise.
        patch = "kind: KubeletConfiguration\nfailCgroupV1: false\n"
        if self.own_network:
            # Written by the node entrypoint: a resolver address that is not the pod's own loopback.
            patch += "resolvConf: /etc/rh-resolv.conf\n"
        return patch


@dataclass
class ClusterRecord:
    name: str
    context: str
    kubeconfig: str
    node_image: str
    workers: int
    host_port: int
    created_at: float = field(default_factory=time.time)

    @property
    def path(self) -> Path:
        return record_path(self.name)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.__dict__, indent=2))


@dataclass(frozen=True)
class ClusterStatus:
    name: str
    exists: bool
    owned: bool
    healthy: bool
    problems: list[str]
    nodes: list[dict[str, Any]]
    kubeconfig: str | None
    context: str | None


def record_path(name: str) -> Path:
    return state_dir() / "clusters" / name / "cluster.json"


def kubeconfig_path(name: str) -> Path:
    return state_dir() / "clusters" / name / "kubeconfig"


def load_record(name: str) -> ClusterRecord | None:
    path = record_path(name)
    if not path.exists():
        return None
    return ClusterRecord(**json.loads(path.read_text()))


def ensure_kind() -> str:
    """Path of a kind binary at KIND_VERSION, installed with ``go install`` when missing."""
    candidates = [cache_dir() / "bin" / "kind", Path(os.path.expanduser("~/go/bin/kind"))]
    found = [str(c) for c in candidates if c.is_file()]
    on_path = subprocess.run(["sh", "-c", "command -v kind"], capture_output=True, check=False)
    if on_path.returncode == 0:
        found.append(on_path.stdout.decode().strip())
    for path in found:
        proc = subprocess.run([path, "version"], capture_output=True, check=False)
        if proc.returncode == 0 and f"kind {KIND_VERSION} " in proc.stdout.decode() + " ":
            return path
    go = require_tool("go", KIND_FIX)
    log.info("installing kind %s with go install", KIND_VERSION)
    gobin = cache_dir() / "bin"
    run_step("install kind", [go, "install", f"sigs.k8s.io/kind@{KIND_VERSION}"], error=PrerequisiteMissingError,
             fix=KIND_FIX, env={"GOBIN": str(gobin), "CGO_ENABLED": "0"})
    return str(gobin / "kind")


def _kind_clusters(kind: str) -> list[str]:
    proc = subprocess.run([kind, "get", "clusters"], capture_output=True, check=False)
    return [line.strip() for line in proc.stdout.decode().splitlines() if line.strip()]


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_status(name: str = DEFAULT_CLUSTER) -> ClusterStatus:
    docker.docker_available()
    kind = ensure_kind()
    record = load_record(name)
    exists = name in _kind_clusters(kind)
    problems: list[str] = []
    nodes: list[dict[str, Any]] = []
    if exists:
        if record is None:
            problems.append("the cluster was not created by the harness (no record)")
        else:
            from harness.k8s import cluster_health

            nodes, health_problems = cluster_health(Path(record.kubeconfig), record.context)
            problems += health_problems
    return ClusterStatus(
        name=name, exists=exists, owned=record is not None, healthy=exists and not problems,
        problems=problems, nodes=nodes,
        kubeconfig=record.kubeconfig if record else None, context=record.context if record else None,
    )


def cluster_up(spec: ClusterSpec, *, wait_s: float = 300.0) -> ClusterRecord:
    """Create the cluster, or reuse a healthy one of that name."""
    docker.docker_available()
    kind = ensure_kind()
    record = load_record(spec.name)
    if spec.name in _kind_clusters(kind):
        status = cluster_status(spec.name)
        if record is not None and status.healthy:
            if record.workers != spec.workers:
                raise ClusterError(
                    f"cluster {spec.name!r} exists with {record.workers} workers, not {spec.workers}",
                    f"run `harness cluster down --name {spec.name}` first, or use another --name",
                )
            log.info("reusing healthy cluster %s", spec.name)
            return record
        raise ClusterError(
            f"cluster {spec.name!r} exists but is not usable: {'; '.join(status.problems) or 'unknown state'}",
            f"remove it with `harness cluster down --name {spec.name}` (or `kind delete cluster --name "
            f"{spec.name}` if the harness did not create it), then run `harness cluster up` again",
        )
    clash = docker.list_ids("container", f"name=^{spec.name}-control-plane$")
    if clash:
        raise ClusterError(
            f"a container named {spec.name}-control-plane already exists and is not a kind cluster",
            f"remove it (docker rm -f {spec.name}-control-plane) or choose another --name",
        )
    if not _port_free(spec.host_port):
        raise ClusterError(
            f"port 127.0.0.1:{spec.host_port} is already in use, so the service's NodePort cannot be published",
            f"stop whatever listens on {spec.host_port} (ss -ltnp 'sport = :{spec.host_port}'), "
            "or pass --host-port with a free port",
        )
    if not any(load_record(n) for n in _kind_clusters(kind)):
        hostsysctl.save()
    kubeconfig = kubeconfig_path(spec.name)
    kubeconfig.parent.mkdir(parents=True, exist_ok=True)
    config_file = kubeconfig.parent / "kind-config.yaml"
    config_file.write_text(spec.kind_config())
    record = ClusterRecord(
        name=spec.name, context=f"kind-{spec.name}", kubeconfig=str(kubeconfig),
        node_image=spec.node_image, workers=spec.workers, host_port=spec.host_port,
    )
    log.info("creating kind cluster %s (%d worker(s)) from %s", spec.name, spec.workers, spec.node_image)
    log_file = kubeconfig.parent / "kind-create.log"
    log_file.unlink(missing_ok=True)
    try:
        run_step("kind create cluster",
                 [kind, "create", "cluster", "--name", spec.name, "--config", str(config_file),
                  "--kubeconfig", str(kubeconfig), "--wait", "0s", "-v", "1"],
                 error=ClusterError, fix=f"see {log_file}; nothing was left behind", log_file=log_file,
                 timeout=600)
        record.save()
        from harness.cluster.apiendpoint import pin_kube_proxy_endpoint
        from harness.cluster.podnet import NodeRoute, sync_routes
        from harness.k8s import wait_cluster_ready

        routes: set[NodeRoute] = set()
        pinned: list[bool] = []

        def add_routes(api: Any) -> None:
            routes.update(sync_routes(api, routes))
            if not pinned:
                pin_kube_proxy_endpoint(api, spec.name)
                pinned.append(True)

        wait_cluster_ready(kubeconfig, record.context, expected_nodes=1 + spec.workers, timeout_s=wait_s,
                           on_poll=add_routes if spec.own_network else None)
    except BaseException:
        _delete(kind, spec.name, kubeconfig)
        record.path.unlink(missing_ok=True)
        _restore_sysctls_if_last(kind)
        raise
    return record


def _delete(kind: str, name: str, kubeconfig: Path) -> None:
    subprocess.run([kind, "delete", "cluster", "--name", name, "--kubeconfig", str(kubeconfig)],
                   capture_output=True, check=False)


def _restore_sysctls_if_last(kind: str) -> None:
    if not any(load_record(n) for n in _kind_clusters(kind)):
        hostsysctl.restore()


def cluster_down(name: str = DEFAULT_CLUSTER) -> list[str]:
    """Delete the cluster and everything it made; return what was removed."""
    docker.docker_available()
    kind = ensure_kind()
    removed: list[str] = []
    record = load_record(name)
    if name in _kind_clusters(kind):
        if record is None:
            raise ClusterError(
                f"cluster {name!r} was not created by the harness",
                f"delete it yourself if you mean to (kind delete cluster --name {name})",
            )
        _delete(kind, name, kubeconfig_path(name))
        removed.append(f"cluster {name}")
    leftovers = docker.list_ids("container", f"label=io.x-k8s.kind.cluster={name}")
    for cid in leftovers:
        subprocess.run(["docker", "rm", "-f", "-v", cid], capture_output=True, check=False)
        removed.append(f"container {cid}")
    # kind's shared network goes once no kind node uses it any more.
    if not docker.list_ids("container", "label=io.x-k8s.kind.cluster") and docker.list_ids(
        "network", "name=^kind$"
    ):
        subprocess.run(["docker", "network", "rm", "kind"], capture_output=True, check=False)
        removed.append("network kind")
    if record is not None:
        record_dir = record.path.parent
        for file in record_dir.iterdir():
            file.unlink()
        record_dir.rmdir()
    if not any(load_record(n) for n in _kind_clusters(kind)):
        restored = hostsysctl.restore()
        removed += [f"sysctl {k} restored to {v}" for k, v in restored.items()]
    return removed
