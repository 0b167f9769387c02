"""delete-pod: what ``kubectl delete pod`` does, to pods drawn by the scenario's seed."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ._base import MAX_PODS, MAX_STEP_S, Applied, DeadlineStep, Disruption, StepContext
from ._common import delete_pods

__all__ = ["DISRUPTION", "DeletePod"]


class DeletePod(DeadlineStep):
    action: Literal["delete-pod"]
    count: int = Field(1, ge=1, le=MAX_PODS)
    grace_period_s: int | None = Field(None, ge=0, le=int(MAX_STEP_S))  # default: the pod's own


def execute(params: DeletePod, ctx: StepContext) -> Applied:
    return delete_pods(ctx, params.count, params.grace_period_s)


DISRUPTION = Disruption(params=DeletePod, execute=execute, rolls=False, replaces="any", new_ready=True)
