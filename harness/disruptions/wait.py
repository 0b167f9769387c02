"""wait: let time pass (the traffic process watched), or, with ``when``, wait for a condition."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ._base import MAX_RUN_S, Applied, Disruption, StepBase, StepContext
from ._common import sleep_checking

__all__ = ["DISRUPTION", "Wait"]


class Wait(StepBase):
    action: Literal["wait"]
    seconds: float = Field(0.0, ge=0, le=MAX_RUN_S)


def execute(params: Wait, ctx: StepContext) -> Applied:
    sleep_checking(ctx, params.seconds)
    return Applied(f"waited {params.seconds:g} s")


DISRUPTION = Disruption(params=Wait, execute=execute, rolls=False, replaces="none", new_ready=False, disrupts=False)
