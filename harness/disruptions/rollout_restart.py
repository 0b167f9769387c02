"""rollout-restart: what ``kubectl rollout restart`` does, a new pod template annotation."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from ._base import Applied, DeadlineStep, Disruption, StepContext
from ._common import patch_workload

__all__ = ["DISRUPTION", "RolloutRestart"]

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


class RolloutRestart(DeadlineStep):
    action: Literal["rollout-restart"]


def execute(params: RolloutRestart, ctx: StepContext) -> Applied:
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    patch_workload(ctx, {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}})
    return Applied(f"rollout restart at {now}")


DISRUPTION = Disruption(params=RolloutRestart, execute=execute, rolls=True, replaces="all", new_ready=True)
