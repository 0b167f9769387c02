"""Routes between the nodes' pod networks.

Each node's own agent (rh-podnet in the node image) puts a bridge over its podCIDR. A node may
read only its own Node object, so the routes to the other nodes' podCIDRs are added from here,
where every node is visible: one ``ip route replace`` per pair, through the docker network.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from kubernetes import client

__all__ = ["NodeRoute", "plan_routes", "sync_routes"]


@dataclass(frozen=True)
class NodeRoute:
    node: str  # where the route goes
    cidr: str  # the other node's pod CIDR
    via: str  # the other node's address


def plan_routes(nodes: list[tuple[str, str | None, str | None]]) -> list[NodeRoute]:
    """Routes each node needs, from (name, podCIDR, InternalIP) of every node."""
    known = [(name, cidr, ip) for name, cidr, ip in nodes if cidr and ip]
    return [
        NodeRoute(node=name, cidr=other_cidr, via=other_ip)
        for name, _, _ in nodes
        for other, other_cidr, other_ip in known
        if other != name
    ]


def _internal_ip(node: client.V1Node) -> str | None:
    for address in node.status.addresses or []:
        if address.type == "InternalIP":
            return str(address.address)
    return None


def sync_routes(api: client.ApiClient, done: set[NodeRoute]) -> set[NodeRoute]:
    """Add the routes not added yet; return every route that is in place."""
    nodes = client.CoreV1Api(api).list_node(_request_timeout=10).items
    plan = plan_routes([(n.metadata.name, n.spec.pod_cidr, _internal_ip(n)) for n in nodes])
    placed = set(done)
    for route in plan:
        if route in placed:
            continue
        proc = subprocess.run(
            ["docker", "exec", route.node, "ip", "route", "replace", route.cidr, "via", route.via],
            capture_output=True, check=False,
        )
        if proc.returncode == 0:
            placed.add(route)
    return placed
