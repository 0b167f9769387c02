"""The disruptions a scenario step may name: one module per action, found here by name.

A module ``harness/disruptions/<action with _ for ->.py`` defines the action's parameters (a
``StepBase`` subclass whose ``action`` is ``Literal["<action>"]``), its ``execute`` and a
``DISRUPTION`` declaration of what it implies for the gates. This package collects them into
``Step`` (the union scenarios validate against), ``gate_defaults`` and ``run_step``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias, Union, get_args

from pydantic import Field

from harness.errors import DisruptionError, HarnessError, ScenarioError
from harness.k8s import wait_until
from harness.verdict import GateConfig, RolloutFacts
from harness.workload import current_pods, wait_rollout

from ._base import (
    Applied,
    CleanupAction,
    DeadlineStep,
    Disruption,
    Replaces,
    StepBase,
    StepContext,
    When,
)
from ._common import is_ready

if TYPE_CHECKING:
    from harness.scenario import Scenario

__all__ = [
    "ACTIONS",
    "REGISTRY",
    "Applied",
    "CleanupAction",
    "DeadlineStep",
    "Disruption",
    "Step",
    "StepBase",
    "StepContext",
    "When",
    "check_steps_fit",
    "gate_defaults",
    "run_step",
    "wait_for_start",
]


def _discover() -> dict[str, Disruption[Any]]:
    found: dict[str, Disruption[Any]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        declared = getattr(module, "DISRUPTION", None)
        if not isinstance(declared, Disruption):
            raise TypeError(f"{module.__name__} declares no DISRUPTION")
        action = str(get_args(declared.params.model_fields["action"].annotation)[0])
        if action.replace("-", "_") != info.name:
            raise TypeError(f"{module.__name__} declares action {action!r}; the module is named after its action")
        found[action] = declared
    return found


REGISTRY: dict[str, Disruption[Any]] = _discover()
ACTIONS: tuple[str, ...] = tuple(REGISTRY)

if TYPE_CHECKING:
    Step: TypeAlias = StepBase
else:
    Step = Annotated[Union[tuple(d.params for d in REGISTRY.values())], Field(discriminator="action")]  # noqa: UP007

_STRENGTH: dict[Replaces, int] = {"none": 0, "any": 1, "all": 2}


def gate_defaults(scenario: Scenario) -> GateConfig:
    """The scenario's gates, with what its steps imply for the disruption gates where it names nothing:
    the strongest replacement any step demands, and a new ready pod if any step needs one."""
    gates = scenario.gates
    declared = [REGISTRY[s.action] for s in scenario.steps]
    update: dict[str, Any] = {}
    if "disruption_replaces" not in gates.model_fields_set:
        update["disruption_replaces"] = max((d.replaces for d in declared), key=_STRENGTH.__getitem__,
                                            default="none")
    if "disruption_new_ready" not in gates.model_fields_set:
        update["disruption_new_ready"] = any(d.new_ready for d in declared)
    return gates.model_copy(update=update)


def check_steps_fit(scenario: Scenario, workload: Mapping[str, Any]) -> None:
    """Refuse, before any cluster work, a step the workload under test cannot carry out.

    A StatefulSet with updateStrategy OnDelete replaces no pod when its template changes, so a step
    that rolls (rollout-restart, set-image, set-env) would change the template and replace nothing:
    the run would prove nothing about a rollout. Deleting the pods on the controller's behalf would
    test a procedure the harness made up, not the user's; delete-pod and kill-pod steps say that
    plainly. A rollback reads a Deployment's ReplicaSets, which a StatefulSet does not have."""
    if workload.get("kind") != "StatefulSet":
        return
    name = str((workload.get("metadata") or {}).get("name"))
    strategy = ((workload.get("spec") or {}).get("updateStrategy") or {}).get("type") or "RollingUpdate"
    for index, step in enumerate(scenario.steps):
        where = f"steps[{index}] ({step.action})"
        if step.action == "rollback":
            raise ScenarioError(
                f"{where}: rollback undoes a Deployment's rollout through its ReplicaSets, and StatefulSet/{name} "
                "has none (it keeps ControllerRevisions)",
                "roll back with a set-image step to the earlier image instead",
            )
        if REGISTRY[step.action].rolls and strategy == "OnDelete":
            raise ScenarioError(
                f"{where}: StatefulSet/{name} uses updateStrategy OnDelete, so a change of its pod template "
                "replaces no pod by itself and the step would disrupt nothing",
                "set spec.updateStrategy.type: RollingUpdate in the manifest, or replace pods with delete-pod "
                "steps (count: 1 each, one after the other)",
            )


def wait_for_start(step: StepBase, ctx: StepContext) -> None:
    """Return once the step's ``when`` condition holds; DisruptionError after its timeout."""
    when = step.when
    if when is None:
        return

    def holds() -> bool | None:
        pods = current_pods(ctx.api, ctx.deployed)
        ready = sum(1 for p in pods if p.metadata.deletion_timestamp is None and is_ready(p))
        terminating = sum(1 for p in pods if p.metadata.deletion_timestamp is not None)
        return True if when.holds(ready=ready, terminating=terminating, sent=ctx.traffic.status.sent) else None

    if wait_until(holds, timeout_s=when.timeout_s, what=f"start condition of {step.label}",
                  on_poll=ctx.traffic.check_alive) is None:
        raise DisruptionError(
            f"step {step.label}: its start condition ({when.describe()}) did not hold within {when.timeout_s:g} s",
            "check the condition against the workload (replicas, traffic rate) or raise when.timeout_s",
        )


def run_step(step: StepBase, ctx: StepContext) -> RolloutFacts | None:
    """Carry out one step and wait until the workload is whole again, writing its timeline actions
    (start, applied, end; error if it fails). The rollout's facts, or None if the action rolls nothing."""
    declared = REGISTRY[step.action]
    ctx.writer.action(step.label, "start", step.action, disruption=declared.disrupts)
    try:
        applied = declared.execute(step, ctx)
        if not declared.disrupts or not isinstance(step, DeadlineStep):
            ctx.writer.action(step.label, "end", applied.detail, disruption=False)
            return None
        pods = {"pods": list(applied.pods)} if applied.pods else {}
        ctx.writer.action(step.label, "applied", applied.detail, disruption=True, **pods)
        duration, state = wait_rollout(ctx.api, ctx.deployed, step.deadline_s, on_poll=ctx.traffic.check_alive)
    except HarnessError as exc:
        ctx.writer.action(step.label, "error", exc.problem)
        raise
    ctx.writer.action(step.label, "end", state.message, disruption=True, rollout_done=state.done)
    if not declared.rolls:
        return None
    error = None if state.done else ("ProgressDeadlineExceeded" if state.failed else state.message)
    return RolloutFacts(completed=state.done, deadline_s=step.deadline_s, duration_s=duration, error=error,
                        scope=state.scope)
