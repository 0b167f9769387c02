"""kill-pod: a deletion with grace period 0 (``kubectl delete pod --grace-period=0 --force``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ._base import MAX_PODS, Applied, DeadlineStep, Disruption, StepContext
from ._common import delete_pods

__all__ = ["DISRUPTION", "KillPod"]


class KillPod(DeadlineStep):
    action: Literal["kill-pod"]
    count: int = Field(1, ge=1, le=MAX_PODS)


def execute(params: KillPod, ctx: StepContext) -> Applied:
    return delete_pods(ctx, params.count, 0)


DISRUPTION = Disruption(params=KillPod, execute=execute, rolls=False, replaces="any", new_ready=True)
