"""What every disruption shares: the fields of a step, the start condition, what an action did, the
declaration a module makes to the registry, and the context a step runs in."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from kubernetes import client

    from harness.scenario import Scenario
    from harness.workload import Deployed

__all__ = [
    "MAX_PODS",
    "MAX_RUN_S",
    "MAX_STEP_S",
    "Applied",
    "CleanupAction",
    "DeadlineStep",
    "Disruption",
    "Params",
    "Replaces",
    "StepBase",
    "StepContext",
    "When",
]

# Bounds that keep every wait of a run finite: no value a scenario may hold can hang it.
MAX_RUN_S = 7200.0  # the longest traffic run (traffic.max_duration_s) and so any time within it
MAX_STEP_S = 3600.0  # the longest a step may wait for its rollout or its start condition
MAX_PODS = 100  # replicas and pod counts; far beyond what a kind cluster on one machine holds

Replaces = Literal["all", "any", "none"]


class Params(BaseModel):
    """Scenario fields: unknown ones refused, floats finite, no type coercion (YAML's ``yes`` is no 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


class When(Params):
    """A condition that starts a step once it holds (checked twice a second, after ``at_s``/``after_s``)."""

    ready_pods_at_least: int | None = Field(None, ge=0, le=MAX_PODS)
    ready_pods_at_most: int | None = Field(None, ge=0, le=MAX_PODS)
    terminating_pods_at_least: int | None = Field(None, ge=1, le=MAX_PODS)
    requests_at_least: int | None = Field(None, ge=1, le=100_000_000)
    timeout_s: float = Field(120.0, gt=0, le=MAX_STEP_S)

    @model_validator(mode="after")
    def _one_consistent_condition(self) -> When:
        if all(v is None for v in (self.ready_pods_at_least, self.ready_pods_at_most,
                                    self.terminating_pods_at_least, self.requests_at_least)):
            raise ValueError("name a condition: ready_pods_at_least, ready_pods_at_most, "
                             "terminating_pods_at_least or requests_at_least")
        least, most = self.ready_pods_at_least, self.ready_pods_at_most
        if least is not None and most is not None and least > most:
            raise ValueError(f"ready_pods_at_least {least} > ready_pods_at_most {most}: the condition can never hold")
        return self

    def holds(self, *, ready: int, terminating: int, sent: int) -> bool:
        return ((self.ready_pods_at_least is None or ready >= self.ready_pods_at_least)
                and (self.ready_pods_at_most is None or ready <= self.ready_pods_at_most)
                and (self.terminating_pods_at_least is None or terminating >= self.terminating_pods_at_least)
                and (self.requests_at_least is None or sent >= self.requests_at_least))

    def describe(self) -> str:
        named = self.model_dump(exclude={"timeout_s"}, exclude_none=True)
        return ", ".join(f"{k} {v}" for k, v in named.items())


class StepBase(Params):
    """The fields of every step. Each action narrows ``action`` to its own name."""

    action: str
    name: str | None = Field(None, min_length=1, max_length=63, pattern=r"^[^\x00-\x1f\x7f]+$")
    # When it starts: at a time since traffic began, or some seconds after the previous step ended,
    # and then, if given, once a condition holds.
    at_s: float | None = Field(None, ge=0, le=MAX_RUN_S)
    after_s: float = Field(0.0, ge=0, le=MAX_RUN_S)
    when: When | None = None

    @model_validator(mode="after")
    def _one_start_time(self) -> StepBase:
        if self.at_s is not None and self.after_s != 0:
            raise ValueError(f"at_s {self.at_s:g} and after_s {self.after_s:g} both set: give at_s (seconds after "
                             "traffic began) or after_s (seconds after the previous step ended), not both")
        return self

    @property
    def label(self) -> str:
        return self.name or self.action


class DeadlineStep(StepBase):
    """A step that changes the workload: it must be whole again within ``deadline_s``."""

    deadline_s: float = Field(180.0, gt=0, le=MAX_STEP_S)


@dataclass(frozen=True)
class Applied:
    """What an action did: one line for the timeline, and the pods it deleted or evicted."""

    detail: str
    pods: tuple[str, ...] = ()


@dataclass(frozen=True)
class CleanupAction:
    """Something a step left changed in the cluster, undone when the run ends, whatever happened.

    ``left`` says what stays changed if ``run`` fails; ``kubectl`` is the command that undoes it by hand.
    """

    run: Callable[[], None]
    left: str
    kubectl: str


class _Sent(Protocol):
    @property
    def sent(self) -> int: ...


class TrafficLike(Protocol):
    """What a step needs of the traffic process: that it still runs, and how many requests it sent."""

    @property
    def status(self) -> _Sent: ...

    def check_alive(self) -> None: ...


class ActionWriter(Protocol):
    def action(self, step: str, phase: str, detail: str = "", **extra: Any) -> object: ...


@dataclass
class StepContext:
    """Everything a step may use. ``rng`` is seeded from ``scenario.seed``: every choice a disruption
    makes (which pod, which node) is drawn from it, so a replay makes the same choices."""

    api: client.ApiClient
    deployed: Deployed
    scenario: Scenario
    resolve_image: Callable[[str], tuple[str, str | None]]  # sample version -> (image ref, version label)
    writer: ActionWriter
    traffic: TrafficLike
    cleanup: list[CleanupAction] = field(default_factory=list)
    rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.scenario.seed)


P = TypeVar("P", bound=StepBase)


@dataclass(frozen=True)
class Disruption(Generic[P]):
    """One action as the registry knows it: its parameters, what it does, and what it implies for the
    gates. ``rolls``: it changes the pod template (a new ReplicaSet, or a StatefulSet's new revision), so
    rollout_completed applies. ``replaces``: which old pods the disruption must have replaced.
    ``new_ready``: whether a pod that was not there before must have become ready. ``disrupts``: false
    for a step that only lets time pass."""

    params: type[P]
    execute: Callable[[P, StepContext], Applied]
    rolls: bool
    replaces: Replaces
    new_ready: bool
    disrupts: bool = True
