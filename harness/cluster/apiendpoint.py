"""kube-proxy's API endpoint as an address, not a name.

kind gives kube-proxy the API server as ``https://<cluster>-control-plane:6443``. kube-proxy runs
with the host network and the pods' resolver, and pods here have no resolver for node names (the
node image points them at an address where nothing answers, so no lookup leaves the machine).
On a worker, kube-proxy then cannot reach the API server after its first watch ends, and its
rules go stale. The control plane's address works everywhere, and it is in the server's
certificate.
"""

from __future__ import annotations

import json
import re
import subprocess

from kubernetes import client

from harness.errors import ClusterError

__all__ = ["control_plane_address", "pin_kube_proxy_endpoint"]


def control_plane_address(cluster: str) -> str:
    proc = subprocess.run(["docker", "inspect", f"{cluster}-control-plane"], capture_output=True, check=False)
    if proc.returncode != 0:
        raise ClusterError(f"cannot inspect the node {cluster}-control-plane", "check `docker ps` and the cluster")
    networks = json.loads(proc.stdout)[0]["NetworkSettings"]["Networks"]
    for network in networks.values():
        if network.get("IPAddress"):
            return str(network["IPAddress"])
    raise ClusterError(f"the node {cluster}-control-plane has no IPv4 address", "recreate the cluster")


def pin_kube_proxy_endpoint(api: client.ApiClient, cluster: str) -> bool:
    """Point kube-proxy at the control plane's address; restart it when that changed anything."""
    core = client.CoreV1Api(api)
    address = control_plane_address(cluster)
    config_map = core.read_namespaced_config_map("kube-proxy", "kube-system")
    kubeconfig = config_map.data.get("kubeconfig.conf", "")
    pinned = re.sub(r"server: https://[^\s:]+:(\d+)", rf"server: https://{address}:\1", kubeconfig)
    if pinned == kubeconfig:
        return False
    core.patch_namespaced_config_map("kube-proxy", "kube-system", {"data": {"kubeconfig.conf": pinned}})
    core.delete_collection_namespaced_pod("kube-system", label_selector="k8s-app=kube-proxy")
    return True
