"""scale: what ``kubectl scale`` does. No new ReplicaSet, so rollout_completed does not apply."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ._base import MAX_PODS, Applied, DeadlineStep, Disruption, StepContext
from ._common import patch_workload

__all__ = ["DISRUPTION", "Scale"]


class Scale(DeadlineStep):
    action: Literal["scale"]
    replicas: int = Field(ge=0, le=MAX_PODS)


def execute(params: Scale, ctx: StepContext) -> Applied:
    patch_workload(ctx, {"spec": {"replicas": params.replicas}})
    return Applied(f"scaled to {params.replicas} replicas")


# Scaling replaces no old pod; a pod that was not there before must become ready (a scale-up; a
# scenario that only scales down says disruption_new_ready: false in its gates).
DISRUPTION = Disruption(params=Scale, execute=execute, rolls=False, replaces="none", new_ready=True)
