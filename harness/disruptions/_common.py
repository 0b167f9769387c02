"""Helpers several actions share: the workload's patch and container, its live pods, seeded choices,
pod deletion, and waiting with the traffic process watched."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any, TypeVar

from kubernetes import client

from harness import workload
from harness.errors import DisruptionError
from harness.k8s import call
from harness.workload import current_pods

from ._base import Applied, StepContext

__all__ = [
    "VERSION_LABEL",
    "choose",
    "container_name",
    "delete_pods",
    "is_ready",
    "live_pods",
    "patch_workload",
    "read_workload",
    "sleep_checking",
]

VERSION_LABEL = "app.kubernetes.io/version"

T = TypeVar("T")


def patch_workload(ctx: StepContext, body: dict[str, Any]) -> None:
    """A strategic merge patch of the Deployment or StatefulSet under test."""
    workload.patch_workload(ctx.api, ctx.deployed, body)


def read_workload(ctx: StepContext) -> Any:
    return workload.read_workload(ctx.api, ctx.deployed)


def container_name(ctx: StepContext) -> str:
    """The container ``kubectl set`` would change: the one named after the workload, else the first."""
    names = [c.name for c in read_workload(ctx).spec.template.spec.containers]
    return ctx.deployed.deployment if ctx.deployed.deployment in names else str(names[0])


def live_pods(ctx: StepContext) -> list[Any]:
    """The workload's pods not being deleted, in name order (the order seeded choices draw from)."""
    pods = [p for p in current_pods(ctx.api, ctx.deployed) if p.metadata.deletion_timestamp is None]
    return sorted(pods, key=lambda p: str(p.metadata.name))


def is_ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def choose(rng: random.Random, items: Sequence[T], count: int) -> list[T]:
    """``count`` of ``items`` drawn by ``rng``: the same seed and the same list give the same choice."""
    return rng.sample(list(items), count)


def delete_pods(ctx: StepContext, count: int, grace_period_s: int | None) -> Applied:
    names = [str(p.metadata.name) for p in live_pods(ctx)]
    if len(names) < count:
        raise DisruptionError(f"only {len(names)} running pods to delete, {count} asked",
                              "lower the step's count or raise the replicas")
    victims = sorted(choose(ctx.rng, names, count))
    body = client.V1DeleteOptions(grace_period_seconds=grace_period_s) if grace_period_s is not None else None
    core = client.CoreV1Api(ctx.api)
    for name in victims:
        call(core.delete_namespaced_pod, name, ctx.deployed.namespace, body=body, what=f"delete pod {name}")
    how = "force-killed (grace 0)" if grace_period_s == 0 else "deleted"
    return Applied(f"{how}: {', '.join(victims)}", pods=tuple(victims))


def sleep_checking(ctx: StepContext, seconds: float) -> None:
    """Sleep, checking twice a second that the traffic process still runs (it raises if not)."""
    end = time.monotonic() + max(0.0, seconds)
    while time.monotonic() < end:
        ctx.traffic.check_alive()
        time.sleep(min(0.5, max(0.0, end - time.monotonic())))
