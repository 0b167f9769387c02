"""The boundary to the Kubernetes API: clients from a given kubeconfig, readiness waits, and
translation of client exceptions into the harness's own errors."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError as Urllib3Error

from harness.errors import ClusterError
from harness.log import get_logger

__all__ = ["api_client", "cluster_health", "wait_cluster_ready"]

log = get_logger(__name__)


def api_client(kubeconfig: Path | None, context: str | None) -> client.ApiClient:
    """A client bound to exactly this kubeconfig file and context (no global state)."""
    try:
        return config.new_client_from_config(
            config_file=str(kubeconfig) if kubeconfig else None, context=context, persist_config=False
        )
    except (config.ConfigException, OSError, TypeError) as exc:
        where = str(kubeconfig) if kubeconfig else "the default kubeconfig"
        raise ClusterError(
            f"cannot load kube context {context!r} from {where}: {exc}",
            "check the context name (kubectl config get-contexts) and the kubeconfig path",
        ) from exc


def _node_ready(node: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (node.status.conditions or []))


def cluster_health(kubeconfig: Path, context: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Nodes with their readiness, and the problems that make the cluster unusable."""
    problems: list[str] = []
    nodes: list[dict[str, Any]] = []
    try:
        api = client.CoreV1Api(api_client(kubeconfig, context))
        items = api.list_node(_request_timeout=10).items
        for node in items:
            ready = _node_ready(node)
            nodes.append({"name": node.metadata.name, "ready": ready,
                          "version": node.status.node_info.kubelet_version})
            if not ready:
                problems.append(f"node {node.metadata.name} is not Ready")
        pods = api.list_namespaced_pod("kube-system", _request_timeout=10).items
        for pod in pods:
            if pod.status.phase not in ("Running", "Succeeded"):
                problems.append(f"kube-system pod {pod.metadata.name} is {pod.status.phase}")
    except (ApiException, Urllib3Error, OSError) as exc:
        problems.append(f"the API server does not answer: {_short(exc)}")
    if not nodes and not problems:
        problems.append("the cluster has no nodes")
    return nodes, problems


def wait_cluster_ready(kubeconfig: Path, context: str, *, expected_nodes: int, timeout_s: float,
                       on_poll: Callable[[client.ApiClient], None] | None = None) -> None:
    """Wait until every node is Ready and every kube-system pod runs with all containers ready."""
    deadline = time.monotonic() + timeout_s
    last: list[str] = ["not checked yet"]
    while time.monotonic() < deadline:
        if on_poll is not None:
            try:
                on_poll(api_client(kubeconfig, context))
            except (ApiException, Urllib3Error, OSError) as exc:
                last = [f"the API server does not answer: {_short(exc)}"]
        nodes, problems = cluster_health(kubeconfig, context)
        if len(nodes) < expected_nodes:
            problems.append(f"{len(nodes)} of {expected_nodes} nodes registered")
        if not problems:
            problems = _kube_system_not_ready(kubeconfig, context)
        if not problems:
            log.info("cluster ready: %d node(s)", len(nodes))
            return
        last = problems
        time.sleep(2)
    raise ClusterError(
        f"the cluster did not become ready within {timeout_s:.0f} s: {'; '.join(last[:5])}",
        "look at `docker exec <node> journalctl -u kubelet` and `kubectl -n kube-system get pods`",
    )


def _kube_system_not_ready(kubeconfig: Path, context: str) -> list[str]:
    api = client.CoreV1Api(api_client(kubeconfig, context))
    problems = []
    try:
        pods = api.list_namespaced_pod("kube-system", _request_timeout=10).items
    except (ApiException, Urllib3Error, OSError) as exc:
        return [f"the API server does not answer: {_short(exc)}"]
    names = [p.metadata.name for p in pods]
    for required in ("coredns-", "kube-proxy-", "etcd-", "kube-apiserver-"):
        if not any(n.startswith(required) for n in names):
            problems.append(f"no {required} pod yet")
    for pod in pods:
        statuses = pod.status.container_statuses or []
        if pod.status.phase != "Running" or not statuses or not all(s.ready for s in statuses):
            problems.append(f"kube-system pod {pod.metadata.name} not ready ({pod.status.phase})")
    return problems


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
