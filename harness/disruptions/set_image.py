"""set-image: what ``kubectl set image`` does, to a built sample service version or an image reference."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from ._base import Applied, DeadlineStep, Disruption, StepContext
from ._common import VERSION_LABEL, container_name, patch_workload

__all__ = ["DISRUPTION", "SetImage"]


class SetImage(DeadlineStep):
    action: Literal["set-image"]
    # A sample service version to build and roll to (its image tag and its pods' version label) ...
    version: str | None = Field(None, pattern=r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
    # ... or an image reference instead.
    image: str | None = Field(None, min_length=1, max_length=255, pattern=r"^[^\s]+$")

    @model_validator(mode="after")
    def _version_or_image(self) -> SetImage:
        if (self.version is None) == (self.image is None):
            given = "both" if self.version is not None else "neither"
            raise ValueError(f"set-image needs version or image, exactly one ({given} given)")
        return self


def execute(params: SetImage, ctx: StepContext) -> Applied:
    if params.version is not None:
        image, label = ctx.resolve_image(params.version)
    else:
        image, label = str(params.image), None
    name = container_name(ctx)
    template: dict[str, Any] = {"spec": {"containers": [{"name": name, "image": image}]}}
    if label:
        template["metadata"] = {"labels": {VERSION_LABEL: label}}
    patch_workload(ctx, {"spec": {"template": template}})
    return Applied(f"image of {name} set to {image}")


DISRUPTION = Disruption(params=SetImage, execute=execute, rolls=True, replaces="all", new_ready=True)
