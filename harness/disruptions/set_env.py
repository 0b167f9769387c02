"""set-env: what ``kubectl set env`` does to the workload's container."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from ._base import Applied, DeadlineStep, Disruption, StepContext
from ._common import container_name, patch_workload

__all__ = ["DISRUPTION", "ENV_NAME", "SetEnv", "check_env_names"]

# What the API server accepts as an environment variable name (validation.IsEnvVarName).
ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")


def check_env_names(env: dict[str, str]) -> dict[str, str]:
    bad = [k for k in env if not ENV_NAME.fullmatch(k)]
    if bad:
        raise ValueError(f"{bad[0]!r} is not an environment variable name (letters, digits, '_', '-', '.'; "
                         "not starting with a digit)")
    return env


class SetEnv(DeadlineStep):
    action: Literal["set-env"]
    env: dict[str, str] = Field(min_length=1, max_length=100)

    _names = field_validator("env")(check_env_names)


def execute(params: SetEnv, ctx: StepContext) -> Applied:
    name = container_name(ctx)
    entries = [{"name": k, "value": v} for k, v in sorted(params.env.items())]
    # A strategic merge patch merges env entries by name, as `kubectl set env` does.
    patch_workload(ctx, {"spec": {"template": {"spec": {"containers": [{"name": name, "env": entries}]}}}})
    return Applied(f"env of {name}: " + ", ".join(f"{k}={v}" for k, v in sorted(params.env.items())))


DISRUPTION = Disruption(params=SetEnv, execute=execute, rolls=True, replaces="all", new_ready=True)
