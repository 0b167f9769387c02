"""The workload under test (a Deployment or a StatefulSet): its namespace, image, objects, and
kubectl's rollout rules."""

from __future__ import annotations

import contextlib
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client, utils

from harness.errors import ApiError, ApiNotFoundError, RolloutError, WorkloadError
from harness.k8s import call, wait_until
from harness.log import get_logger
from harness.manifests import K8sObject, find_workload, node_port

__all__ = [
    "RUN_LABEL",
    "Deployed",
    "RolloutState",
    "apply_objects",
    "create_namespace",
    "delete_namespace",
    "kind_load_image",
    "patch_workload",
    "read_workload",
    "rollout_state",
    "statefulset_state",
    "wait_http",
    "wait_rollout",
    "workload_state",
]

log = get_logger(__name__)

RUN_LABEL = "rollout-harness/run"


@dataclass(frozen=True)
class Deployed:
    namespace: str
    deployment: str  # the workload's name, whatever its kind
    service: str
    node_port: int | None
    selector: dict[str, str]
    kind: str = "Deployment"  # or "StatefulSet"

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.deployment}"


@dataclass(frozen=True)
class RolloutState:
    done: bool
    message: str
    failed: bool = False
    # What "complete" covered when it was less than every pod (a StatefulSet's partition).
    scope: str | None = None


def kind_load_image(kind: str, image: str, cluster: str) -> None:
    proc = subprocess.run([kind, "load", "docker-image", image, "--name", cluster], capture_output=True, check=False)
    if proc.returncode != 0:
        raise WorkloadError(
            f"loading {image} into cluster {cluster} failed: {proc.stderr.decode(errors='replace').strip()[-400:]}",
            f"check the image exists (docker image inspect {image}) and the cluster is healthy "
            "(harness cluster status)",
        )


def create_namespace(api: client.ApiClient, name: str, run_id: str) -> None:
    core = client.CoreV1Api(api)
    body = client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels={RUN_LABEL: run_id}))
    try:
        call(core.create_namespace, body, what=f"create namespace {name}")
    except ApiError as exc:
        raise WorkloadError(f"cannot create namespace {name}: {exc.problem}",
                            "check the cluster (harness cluster status)") from exc


def delete_namespace(api: client.ApiClient, name: str, wait_s: float = 60) -> None:
    """Delete a run's namespace. Its Services go first, and are waited for, so that the fixed
    NodePort is free for the next run at once; the rest of the namespace goes in the background.

    Raises ApiError when the API does not answer within its retry budget, so the caller can name
    what was left behind."""
    core = client.CoreV1Api(api)
    try:
        services = call(core.list_namespaced_service, name, what=f"list services of {name}").items
        for svc in services:
            with contextlib.suppress(ApiNotFoundError):
                call(core.delete_namespaced_service, svc.metadata.name, name,
                     what=f"delete service {svc.metadata.name}")
        call(core.delete_namespace, name, propagation_policy="Background", what=f"delete namespace {name}")
    except ApiNotFoundError:
        return

    def services_gone() -> bool | None:
        try:
            left = call(core.list_namespaced_service, name, what=f"list services of {name}", retry_s=10).items
        except ApiNotFoundError:
            return True
        return True if not left else None

    wait_until(services_gone, timeout_s=wait_s, what=f"services of namespace {name} gone")


def stale_run_namespaces(api: client.ApiClient) -> list[str]:
    core = client.CoreV1Api(api)
    return [ns.metadata.name for ns in call(core.list_namespace, label_selector=RUN_LABEL,
                                            what="list the harness's namespaces").items]


def apply_objects(api: client.ApiClient, namespace: str, objects: list[K8sObject],
                  service_name: str | None = None) -> Deployed:
    """Create every object in ``namespace``; ``service_name`` is the Service traffic goes through
    (default: the first that selects the workload)."""
    deployment, service = find_workload(objects)
    if service_name is not None:
        service = next((o for o in objects if o.get("kind") == "Service"
                        and (o.get("metadata") or {}).get("name") == service_name), service)
    for obj in objects:
        try:
            utils.create_from_dict(api, obj, namespace=namespace)
        except utils.FailToCreateError as exc:
            reasons = "; ".join(f"{e.status} {e.reason}: {str(e.body)[:300]}" for e in exc.api_exceptions)
            kind = obj.get("kind")
            name = (obj.get("metadata") or {}).get("name")
            raise WorkloadError(f"cannot create {kind}/{name} in {namespace}: {reasons}",
                                "fix the manifest (harness manifests check DIR names common problems)") from exc
    selector = dict(((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {})
    deployed = Deployed(
        namespace=namespace,
        deployment=str(deployment["metadata"]["name"]),
        service=str(service["metadata"]["name"]) if service else "",
        node_port=node_port(service) if service else None,
        selector={str(k): str(v) for k, v in selector.items()},
        kind=str(deployment.get("kind")),
    )
    if deployed.kind == "StatefulSet":
        _check_max_unavailable_kept(api, deployed, deployment)
    return deployed


def _check_max_unavailable_kept(api: client.ApiClient, deployed: Deployed, written: K8sObject) -> None:
    """The API server drops a StatefulSet's maxUnavailable while the MaxUnavailableStatefulSet feature
    gate is off (alpha in v1.34, on from v1.35): the run would then roll one pod at a time, not as written."""
    strategy = (written.get("spec") or {}).get("updateStrategy") or {}
    if (strategy.get("rollingUpdate") or {}).get("maxUnavailable") is None:
        return
    live = read_workload(api, deployed).spec.update_strategy
    rolling = live.rolling_update if live is not None else None
    if rolling is None or rolling.max_unavailable is None:
        raise WorkloadError(
            f"the API server dropped spec.updateStrategy.rollingUpdate.maxUnavailable of {deployed.ref}: its "
            "MaxUnavailableStatefulSet feature gate is off (alpha in Kubernetes v1.34, on by default from v1.35), "
            "so the StatefulSet would replace one pod at a time, not as the manifest says",
            "drop max_unavailable (target.max_unavailable or the manifest's field), or run on a cluster with the "
            "MaxUnavailableStatefulSet feature gate on",
        )


def read_workload(api: client.ApiClient, deployed: Deployed) -> Any:
    apps = client.AppsV1Api(api)
    read = apps.read_namespaced_stateful_set if deployed.kind == "StatefulSet" else apps.read_namespaced_deployment
    return call(read, deployed.deployment, deployed.namespace, _request_timeout=10,
                what=f"read {deployed.kind.lower()} {deployed.deployment}")


def patch_workload(api: client.ApiClient, deployed: Deployed, body: dict[str, Any]) -> None:
    apps = client.AppsV1Api(api)
    patch = apps.patch_namespaced_stateful_set if deployed.kind == "StatefulSet" else apps.patch_namespaced_deployment
    call(patch, deployed.deployment, deployed.namespace, body,
         what=f"patch {deployed.kind.lower()} {deployed.deployment}")


def rollout_state(dep: Any) -> RolloutState:
    """kubectl's rollout status rules (polymorphichelpers/rollout_status.go)."""
    spec, status = dep.spec, dep.status
    if (dep.metadata.generation or 0) > (status.observed_generation or 0):
        return RolloutState(False, "waiting for the deployment spec update to be observed")
    for cond in status.conditions or []:
        if cond.type == "Progressing" and cond.reason == "ProgressDeadlineExceeded":
            return RolloutState(False, f"deployment {dep.metadata.name} exceeded its progress deadline",
                                failed=True)
    replicas = spec.replicas if spec.replicas is not None else 1
    updated = status.updated_replicas or 0
    total = status.replicas or 0
    available = status.available_replicas or 0
    if updated < replicas:
        return RolloutState(False, f"{updated} of {replicas} new replicas have been updated")
    if total > updated:
        return RolloutState(False, f"{total - updated} old replicas are pending termination")
    if available < updated:
        return RolloutState(False, f"{available} of {updated} updated replicas are available")
    return RolloutState(True, f"deployment {dep.metadata.name} successfully rolled out")


def statefulset_state(sts: Any) -> RolloutState:
    """Whether a StatefulSet is whole again: its controller saw the latest spec, every replica is ready,
    and every pod its update strategy replaces runs the update revision.

    RollingUpdate: updateRevision == currentRevision and updatedReplicas == readyReplicas == replicas
    (the controller moves currentRevision only then). With a partition P, only ordinals >= P are
    updated, so the rollout is complete once those replicas - P pods are (and every pod is ready).
    OnDelete: the controller replaces no pod by itself; whole means every replica ready."""
    spec, status, name = sts.spec, sts.status, sts.metadata.name
    observed = status.observed_generation or 0
    if observed == 0 or (sts.metadata.generation or 0) > observed:
        return RolloutState(False, "waiting for the statefulset spec update to be observed")
    replicas = spec.replicas if spec.replicas is not None else 1
    ready, updated, total = status.ready_replicas or 0, status.updated_replicas or 0, status.replicas or 0
    if total > replicas:
        return RolloutState(False, f"{total - replicas} pods beyond the {replicas} replicas are pending termination")
    if ready < replicas:
        return RolloutState(False, f"{ready} of {replicas} pods are ready")
    strategy = spec.update_strategy
    if strategy is not None and strategy.type == "OnDelete":
        stale = "" if status.update_revision == status.current_revision else (
            f"; {replicas - updated} pod(s) keep revision {status.current_revision} until deleted (OnDelete)")
        return RolloutState(True, f"statefulset {name}: {ready} of {replicas} pods ready{stale}")
    rolling = strategy.rolling_update if strategy is not None else None
    partition = min(max(rolling.partition or 0, 0), replicas) if rolling is not None else 0
    if partition:
        wanted = replicas - partition
        if updated < wanted:
            return RolloutState(False, f"{updated} of {wanted} pods with ordinal >= {partition} are updated "
                                       f"(partition {partition})")
        return RolloutState(
            True, f"statefulset {name}: partitioned rollout complete, {updated} of {replicas} pods at revision "
                  f"{status.update_revision}",
            scope=f"partition {partition}: complete once the {wanted} pod(s) with ordinal >= {partition} are "
                  f"updated; ordinals below {partition} keep their revision")
    if status.update_revision != status.current_revision or updated < replicas:
        return RolloutState(False, f"{updated} of {replicas} pods are at revision {status.update_revision}")
    return RolloutState(True, f"statefulset {name} rolled out: {replicas} pods at revision {status.update_revision}")


def workload_state(obj: Any, kind: str) -> RolloutState:
    """The one place a rollout's completion is judged, by the workload's kind."""
    return statefulset_state(obj) if kind == "StatefulSet" else rollout_state(obj)


def wait_rollout(api: client.ApiClient, deployed: Deployed, deadline_s: float,
                 on_poll: Callable[[], None] | None = None) -> tuple[float, RolloutState]:
    start = time.monotonic()
    last = RolloutState(False, "not checked")

    def settled() -> RolloutState | None:
        nonlocal last
        try:
            obj = read_workload(api, deployed)
        except ApiError as exc:
            raise RolloutError(f"cannot read {deployed.ref}: {exc.problem}",
                               "check the cluster (harness cluster status)") from exc
        last = workload_state(obj, deployed.kind)
        return last if last.done or last.failed else None

    state = wait_until(settled, timeout_s=deadline_s, what=f"rollout of {deployed.deployment}", on_poll=on_poll)
    if state is not None:
        return time.monotonic() - start, state
    return time.monotonic() - start, RolloutState(False, f"not complete after {deadline_s:.0f} s: {last.message}")


def terminating_pods(api: client.ApiClient, deployed: Deployed) -> list[str]:
    return [p.metadata.name for p in current_pods(api, deployed) if p.metadata.deletion_timestamp is not None]


def current_pods(api: client.ApiClient, deployed: Deployed) -> list[Any]:
    core = client.CoreV1Api(api)
    selector = ",".join(f"{k}={v}" for k, v in deployed.selector.items())
    return list(call(core.list_namespaced_pod, deployed.namespace, label_selector=selector, _request_timeout=10,
                     what=f"list pods of {deployed.deployment}").items)


def wait_http(url: str, timeout_s: float, *, request_timeout_s: float = 3.0, want_ok: int = 20,
              expected_pods: Callable[[], set[str]] | None = None, context: ssl.SSLContext | None = None,
              host: str | None = None) -> None:
    """Wait until the service answers steadily: ``want_ok`` answers in a row (or 3 taking at least 5 s,
    for slow services) with 200, each from a pod of the current workload when the response names
    its pod. Stale routes to the pods of an earlier run break the streak."""
    deadline = time.monotonic() + timeout_s
    streak = 0
    streak_started = time.monotonic()
    last = "no answer yet"
    pods: set[str] = expected_pods() if expected_pods else set()
    while time.monotonic() < deadline:
        ok = False
        try:
            # ``context``/``host``: the scenario's traffic.tls and traffic.host, as traffic sends.
            request = urllib.request.Request(url, headers={} if host is None else {"Host": host})
            with urllib.request.urlopen(request, timeout=request_timeout_s, context=context) as resp:
                pod = resp.headers.get("X-Pod")
                if expected_pods is not None and pod is not None and pod not in pods:
                    pods = expected_pods()
                ok = resp.status == 200 and (pod is None or expected_pods is None or pod in pods)
                last = f"HTTP {resp.status} from {pod or 'an unnamed pod'}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        if ok:
            if streak == 0:
                streak_started = time.monotonic()
            streak += 1
        else:
            streak = 0
            time.sleep(0.2)
        if streak >= want_ok or (streak >= 3 and time.monotonic() - streak_started >= 5):
            return
    raise WorkloadError(f"{url} did not answer steadily within {timeout_s:.0f} s (last: {last})",
                        "check the service's pods (kubectl get pods) and the NodePort mapping of the cluster")
