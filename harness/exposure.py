"""How traffic reaches the service under test: which of the user's Services and which port, and,
on a harness cluster, the NodePort Service the harness adds so that no user manifest has to change.

The user's Service may be ClusterIP, LoadBalancer or NodePort, on any port, with a named or numbered
targetPort. On a kind cluster the harness maps one node port to a host port; unless the chosen
Service already uses exactly that node port, the harness creates its own NodePort Service selecting
the same pods and the same target port, in the run's namespace (so the namespace's deletion removes
it). Traffic and the endpoint observer then go through that Service: its EndpointSlices are the ones
the proxies route by.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import ManifestError
from harness.manifests import K8sObject, object_ref
from harness.manifests.render import _dict, _list, selecting_services

__all__ = ["EXPOSE_PREFIX", "Exposure", "ServicePort", "choose_service", "exposure_for"]

EXPOSE_PREFIX = "rh-expose-"


@dataclass(frozen=True)
class ServicePort:
    """One port of the Service traffic is meant for."""

    service: str
    selector: dict[str, str]
    port: int
    target_port: int | str
    name: str | None
    service_type: str
    node_port: int | None


@dataclass(frozen=True)
class Exposure:
    """The Service traffic goes through, and the object the harness adds for it (None: the user's own)."""

    chosen: ServicePort
    service: str
    added: K8sObject | None


def _ports(service: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [p for p in _list(_dict(service.get("spec")).get("ports")) if isinstance(p, dict)]


def _name(obj: Mapping[str, Any]) -> str:
    return str(_dict(obj.get("metadata")).get("name") or "")


def _headless(service: K8sObject) -> bool:
    spec = service.get("spec")
    return isinstance(spec, dict) and spec.get("clusterIP") == "None"


def choose_service(objects: Sequence[K8sObject], workload: K8sObject, *, service: str | None = None,
                   port: int | str | None = None) -> ServicePort:
    """The Service (``target.service``, else the only one selecting the workload's pods, or the only
    one of them that is not headless) and its port
    (``target.port`` by number or name, else its only one); a ManifestError names the choices."""
    candidates = selecting_services(objects, workload)
    names = [_name(s) for s in candidates]
    if service is not None:
        picked = [s for s in candidates if _name(s) == service]
        if not picked:
            others = [_name(o) for o in objects if o.get("kind") == "Service" and _name(o) == service]
            why = "does not select the pods of" if others else "is not among the manifests of"
            raise ManifestError(
                f"target.service {service} {why} {object_ref(workload)}",
                f"set target.service to one of: {', '.join(names)}" if names
                else "add a Service whose spec.selector matches the pod template's labels")
        chosen = picked[0]
    elif not candidates:
        raise ManifestError(f"no Service selects the pods of {object_ref(workload)}; traffic and the endpoint "
                            "observer go through one",
                            "add a Service whose spec.selector matches the pod template's labels")
    elif len(candidates) > 1 and len(routed := [c for c in candidates if not _headless(c)]) == 1:
        # A headless Service (a StatefulSet's, for its pods' names) has no address to send traffic to.
        chosen = routed[0]
    elif len(candidates) > 1:
        raise ManifestError(f"{len(candidates)} Services select the pods of {object_ref(workload)}: "
                            f"{', '.join(names)}", "set target.service to the one traffic should go through")
    else:
        chosen = candidates[0]
    ports = _ports(chosen)
    if port is not None:
        matching = [p for p in ports if p.get("port") == port or (isinstance(port, str) and p.get("name") == port)]
        if not matching:
            listed = ", ".join(_describe_port(p) for p in ports) or "none"
            raise ManifestError(f"target.port {port} is not a port of Service {_name(chosen)} (its ports: {listed})",
                                "set target.port to one of its port numbers or names")
        entry = matching[0]
    elif not ports:
        raise ManifestError(f"Service {_name(chosen)} has no ports", "add the port the service answers on")
    elif len(ports) > 1:
        raise ManifestError(f"Service {_name(chosen)} has {len(ports)} ports: "
                            f"{', '.join(_describe_port(p) for p in ports)}",
                            "set target.port to the one traffic should go to (number or name)")
    else:
        entry = ports[0]
    number = entry.get("port")
    if not isinstance(number, int) or isinstance(number, bool):
        raise ManifestError(f"Service {_name(chosen)}: a port without a number ({entry})", "give each port its number")
    target = entry.get("targetPort", number)
    node = entry.get("nodePort")
    spec = _dict(chosen.get("spec"))
    return ServicePort(
        service=_name(chosen), selector={str(k): str(v) for k, v in _dict(spec.get("selector")).items()},
        port=number, target_port=target if isinstance(target, int | str) else number,
        name=str(entry["name"]) if entry.get("name") else None, service_type=str(spec.get("type") or "ClusterIP"),
        node_port=node if isinstance(node, int) and not isinstance(node, bool) else None)


def _describe_port(port: Mapping[str, Any]) -> str:
    name = f" ({port['name']})" if port.get("name") else ""
    return f"{port.get('port')}{name}"


def _claims(obj: K8sObject, node_port: int) -> bool:
    return obj.get("kind") == "Service" and any(p.get("nodePort") == node_port for p in _ports(obj))


def exposure_for(objects: Sequence[K8sObject], chosen: ServicePort, node_port: int) -> Exposure:
    """Traffic through ``node_port`` on the nodes: the chosen Service itself when it already uses that
    node port, else a NodePort Service of the harness with the same selector and target port."""
    if chosen.node_port == node_port and chosen.service_type in ("NodePort", "LoadBalancer"):
        return Exposure(chosen=chosen, service=chosen.service, added=None)
    taken = [object_ref(o) for o in objects if _claims(o, node_port)]
    if taken:
        raise ManifestError(
            f"{', '.join(taken)} claims nodePort {node_port}, the one the harness's cluster maps to the host, but "
            f"traffic is meant for Service {chosen.service}",
            f"drop the fixed nodePort from {taken[0]}, or set target.service to it")
    name = (EXPOSE_PREFIX + chosen.service)[:63].rstrip("-")
    added: K8sObject = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "rollout-harness"},
                     "annotations": {"rollout-harness/exposes": f"{chosen.service}:{chosen.port}"}},
        "spec": {"type": "NodePort", "selector": dict(chosen.selector),
                 "ports": [{"name": "traffic", "protocol": "TCP", "port": chosen.port,
                            "targetPort": chosen.target_port, "nodePort": node_port}]},
    }
    return Exposure(chosen=chosen, service=name, added=added)
