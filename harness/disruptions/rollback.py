"""rollback: what ``kubectl rollout undo`` does, the previous ReplicaSet's pod template put back."""

from __future__ import annotations

from typing import Any, Literal

from kubernetes import client

from harness.errors import DisruptionError
from harness.k8s import call

from ._base import Applied, DeadlineStep, Disruption, StepContext
from ._common import patch_workload, read_workload

__all__ = ["DISRUPTION", "Rollback"]

REVISION = "deployment.kubernetes.io/revision"


class Rollback(DeadlineStep):
    action: Literal["rollback"]


def _revision(obj: Any) -> int:
    return int((obj.metadata.annotations or {}).get(REVISION, "0"))


def execute(params: Rollback, ctx: StepContext) -> Applied:
    dep = read_workload(ctx)
    current = _revision(dep)
    replica_sets = call(client.AppsV1Api(ctx.api).list_namespaced_replica_set, ctx.deployed.namespace,
                        what=f"list the replica sets of {ctx.deployed.deployment}").items
    owned = [rs for rs in replica_sets
             if any(ref.uid == dep.metadata.uid for ref in (rs.metadata.owner_references or []))]
    older = [rs for rs in owned if _revision(rs) < current]
    if not older:
        raise DisruptionError(f"deployment {ctx.deployed.deployment} has no earlier revision to roll back to",
                              "put a set-image or set-env step before the rollback step")
    previous = max(older, key=_revision)
    template = ctx.api.sanitize_for_serialization(previous.spec.template)
    template.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
    patch_workload(ctx, {"spec": {"template": template}})
    return Applied(f"rolled back to revision {_revision(previous)} ({previous.metadata.name})")


DISRUPTION = Disruption(params=Rollback, execute=execute, rolls=True, replaces="all", new_ready=True)
