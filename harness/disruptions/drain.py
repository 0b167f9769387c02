"""drain: what ``kubectl drain`` does: cordon the node, then evict the workload's pods on it through
the eviction API, honouring PodDisruptionBudgets. The node is uncordoned when the run ends."""

from __future__ import annotations

import contextlib
import functools
from typing import Literal

from kubernetes import client
from pydantic import Field
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from harness.errors import ApiError, ApiNotFoundError, ApiTooManyRequestsError, DisruptionError, HarnessError
from harness.k8s import call

from ._base import Applied, CleanupAction, DeadlineStep, Disruption, StepContext
from ._common import live_pods

__all__ = ["DISRUPTION", "Drain", "uncordon"]

# A DNS-1123 subdomain, what a node name is.
_NODE_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


class Drain(DeadlineStep):
    action: Literal["drain"]
    node: str | None = Field(None, max_length=253, pattern=_NODE_NAME)  # default: the node with most pods


def uncordon(api: client.ApiClient, node: str) -> None:
    call(client.CoreV1Api(api).patch_node, node, {"spec": {"unschedulable": False}}, what=f"uncordon node {node}")


def _pick_node(ctx: StepContext, nodes: list[str]) -> str:
    """The node holding most of the workload's pods; a tie is drawn with the run's seeded rng."""
    counts: dict[str, int] = {}
    for node in nodes:
        counts[node] = counts.get(node, 0) + 1
    if not counts:
        raise DisruptionError("no running pod of the workload to drain", "check the workload's pods (kubectl get pods)")
    most = max(counts.values())
    return ctx.rng.choice(sorted(n for n, c in counts.items() if c == most))


def _evict(ctx: StepContext, pod: str, timeout_s: float) -> None:
    """One eviction; a 429 (the budget allows no disruption now) is retried until ``timeout_s``."""
    core = client.CoreV1Api(ctx.api)
    namespace = ctx.deployed.namespace
    eviction = client.V1Eviction(metadata=client.V1ObjectMeta(name=pod, namespace=namespace))
    retrying = Retrying(retry=retry_if_exception_type(ApiTooManyRequestsError), stop=stop_after_delay(timeout_s),
                        wait=wait_exponential(multiplier=0.5, max=5), reraise=True,
                        before_sleep=lambda _: ctx.traffic.check_alive())
    with contextlib.suppress(ApiNotFoundError):  # gone meanwhile: what the eviction was for
        for attempt in retrying:
            with attempt:
                call(core.create_namespaced_pod_eviction, pod, namespace, eviction, what=f"evict pod {pod}")


def execute(params: Drain, ctx: StepContext) -> Applied:
    pods = live_pods(ctx)
    node = params.node or _pick_node(ctx, [str(p.spec.node_name) for p in pods])
    call(client.CoreV1Api(ctx.api).patch_node, node, {"spec": {"unschedulable": True}}, what=f"cordon node {node}")
    undo = CleanupAction(run=functools.partial(uncordon, ctx.api, node), left=f"node {node} is still cordoned",
                         kubectl=f"uncordon {node}")
    ctx.cleanup.append(undo)
    victims = [str(p.metadata.name) for p in pods if p.spec.node_name == node]
    for pod in victims:
        try:
            _evict(ctx, pod, params.deadline_s)
        except ApiError as exc:
            # A failed drain leaves the node as it found it; if even that fails, the run's cleanup retries.
            with contextlib.suppress(HarnessError):
                undo.run()
                ctx.cleanup.remove(undo)
            raise DisruptionError(
                f"evicting {pod} from {node} failed: {exc.problem}",
                "a PodDisruptionBudget that never allows an eviction blocks a drain; check minAvailable",
            ) from exc
    return Applied(f"drained {node}: evicted {', '.join(victims) or 'nothing'}", pods=tuple(victims))


DISRUPTION = Disruption(params=Drain, execute=execute, rolls=False, replaces="any", new_ready=True)
