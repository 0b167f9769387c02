"""Disruptions: what ``kubectl rollout restart``, ``set image``, ``set env``, ``scale``, ``delete pod``,
``drain`` and ``rollout undo`` do, through the API."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

from harness.errors import DisruptionError
from harness.log import get_logger
from harness.workload import Deployed, current_pods

__all__ = ["DisruptionOutcome", "delete_pods", "drain_node", "restart", "rollback", "scale", "set_env", "set_image"]

log = get_logger(__name__)

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
REVISION = "deployment.kubernetes.io/revision"


@dataclass
class DisruptionOutcome:
    detail: str
    pods: list[str] = field(default_factory=list)
    cordoned: str | None = None  # a node left unschedulable, to uncordon when the run ends


def _patch(api: client.ApiClient, deployed: Deployed, body: dict[str, Any]) -> None:
    try:
        client.AppsV1Api(api).patch_namespaced_deployment(deployed.deployment, deployed.namespace, body)
    except ApiException as exc:
        raise DisruptionError(f"patching deployment {deployed.deployment} failed: {exc.status} {exc.reason}",
                              "check the deployment exists and the cluster answers") from exc


def _container_name(api: client.ApiClient, deployed: Deployed) -> str:
    dep = client.AppsV1Api(api).read_namespaced_deployment(deployed.deployment, deployed.namespace)
    containers = dep.spec.template.spec.containers
    names = [c.name for c in containers]
    return deployed.deployment if deployed.deployment in names else names[0]


def restart(api: client.ApiClient, deployed: Deployed) -> DisruptionOutcome:
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    _patch(api, deployed, {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}})
    return DisruptionOutcome(f"rollout restart at {now}")


def set_image(api: client.ApiClient, deployed: Deployed, image: str, version_label: str | None) -> DisruptionOutcome:
    name = _container_name(api, deployed)
    template: dict[str, Any] = {"spec": {"containers": [{"name": name, "image": image}]}}
    if version_label:
        template["metadata"] = {"labels": {"app.kubernetes.io/version": version_label}}
    _patch(api, deployed, {"spec": {"template": template}})
    return DisruptionOutcome(f"image of {name} set to {image}")


def set_env(api: client.ApiClient, deployed: Deployed, env: dict[str, str]) -> DisruptionOutcome:
    name = _container_name(api, deployed)
    entries = [{"name": k, "value": v} for k, v in sorted(env.items())]
    # A strategic merge patch merges env entries by name, as `kubectl set env` does.
    _patch(api, deployed, {"spec": {"template": {"spec": {"containers": [{"name": name, "env": entries}]}}}})
    return DisruptionOutcome(f"env of {name}: " + ", ".join(f"{k}={v}" for k, v in sorted(env.items())))


def scale(api: client.ApiClient, deployed: Deployed, replicas: int) -> DisruptionOutcome:
    _patch(api, deployed, {"spec": {"replicas": replicas}})
    return DisruptionOutcome(f"scaled to {replicas} replicas")


def delete_pods(api: client.ApiClient, deployed: Deployed, count: int, grace_period_s: int | None) -> DisruptionOutcome:
    core = client.CoreV1Api(api)
    pods = sorted((p for p in current_pods(api, deployed) if p.metadata.deletion_timestamp is None),
                  key=lambda p: p.metadata.name)
    if len(pods) < count:
        raise DisruptionError(f"only {len(pods)} running pods to delete, {count} asked",
                              "lower the step's count or raise the replicas")
    victims = pods[:count]
    body = client.V1DeleteOptions(grace_period_seconds=grace_period_s) if grace_period_s is not None else None
    for pod in victims:
        try:
            core.delete_namespaced_pod(pod.metadata.name, deployed.namespace, body=body)
        except ApiException as exc:
            raise DisruptionError(f"deleting pod {pod.metadata.name} failed: {exc.status} {exc.reason}",
                                  "check the cluster answers") from exc
    how = "force-killed (grace 0)" if grace_period_s == 0 else "deleted"
    names = [p.metadata.name for p in victims]
    return DisruptionOutcome(f"{how}: {', '.join(names)}", pods=names)


def _is_429(exc: BaseException) -> bool:
    return isinstance(exc, ApiException) and exc.status == 429


def drain_node(api: client.ApiClient, deployed: Deployed, node: str | None, timeout_s: float) -> DisruptionOutcome:
    """Cordon the node, then evict its pods through the eviction API, honouring PodDisruptionBudgets:
    a 429 answer (the budget allows no disruption now) is retried until ``timeout_s``."""
    core = client.CoreV1Api(api)
    pods = [p for p in current_pods(api, deployed) if p.metadata.deletion_timestamp is None]
    if node is None:
        counts: dict[str, int] = {}
        for pod in pods:
            counts[pod.spec.node_name] = counts.get(pod.spec.node_name, 0) + 1
        if not counts:
            raise DisruptionError("no running pod of the workload to drain", "check the deployment")
        node = max(sorted(counts), key=lambda n: counts[n])
    try:
        core.patch_node(node, {"spec": {"unschedulable": True}})
    except ApiException as exc:
        raise DisruptionError(f"cordoning node {node} failed: {exc.status} {exc.reason}",
                              "check the node name (kubectl get nodes)") from exc
    victims = [p for p in pods if p.spec.node_name == node]
    for pod in victims:
        eviction = client.V1Eviction(metadata=client.V1ObjectMeta(name=pod.metadata.name,
                                                                  namespace=deployed.namespace))
        retrying = Retrying(retry=retry_if_exception(_is_429), stop=stop_after_delay(timeout_s),
                            wait=wait_exponential(multiplier=0.5, max=5), reraise=True)
        try:
            for attempt in retrying:
                with attempt:
                    core.create_namespaced_pod_eviction(pod.metadata.name, deployed.namespace, eviction)
        except ApiException as exc:
            uncordon(api, node)  # a failed drain leaves the node as it found it
            raise DisruptionError(
                f"evicting {pod.metadata.name} from {node} failed: {exc.status} {exc.reason}",
                "a PodDisruptionBudget that never allows an eviction blocks a drain; check minAvailable",
            ) from exc
    names = [p.metadata.name for p in victims]
    return DisruptionOutcome(f"drained {node}: evicted {', '.join(names) or 'nothing'}", pods=names, cordoned=node)


def uncordon(api: client.ApiClient, node: str) -> None:
    try:
        client.CoreV1Api(api).patch_node(node, {"spec": {"unschedulable": False}})
    except ApiException as exc:
        log.warning("could not uncordon %s: %s", node, exc.reason)


def rollback(api: client.ApiClient, deployed: Deployed) -> DisruptionOutcome:
    """`kubectl rollout undo`: put the previous ReplicaSet's pod template back."""
    apps = client.AppsV1Api(api)
    dep = apps.read_namespaced_deployment(deployed.deployment, deployed.namespace)
    current = int((dep.metadata.annotations or {}).get(REVISION, "0"))
    owned = [rs for rs in apps.list_namespaced_replica_set(deployed.namespace).items
             if any(ref.uid == dep.metadata.uid for ref in (rs.metadata.owner_references or []))]
    older = [rs for rs in owned if int((rs.metadata.annotations or {}).get(REVISION, "0")) < current]
    if not older:
        raise DisruptionError(f"deployment {deployed.deployment} has no earlier revision to roll back to",
                              "put a set-image or set-env step before the rollback step")
    previous = max(older, key=lambda rs: int((rs.metadata.annotations or {}).get(REVISION, "0")))
    template = api.sanitize_for_serialization(previous.spec.template)
    template.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
    _patch(api, deployed, {"spec": {"template": template}})
    revision = (previous.metadata.annotations or {}).get(REVISION)
    return DisruptionOutcome(f"rolled back to revision {revision} ({previous.metadata.name})")
