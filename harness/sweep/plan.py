"""A sweep's grid: which combinations run, in which order, and about how long they take.

The grid is the product of the varied keys' values, the first key varying slowest, each key's values
in the order written. Cells run in that order, each cell's repeats one after another, so a sweep cut
short holds whole cells, and every cell is validated as a scenario before the first run starts.

Keys under ``target.`` are *settings* (what a team would change in its manifests); the others (traffic,
steps, gates) are *conditions* the settings must hold under. "Cheapest" ranks settings by the position
of their values: list each setting's values from cheapest to dearest.

The time estimate of a run comes from its scenario: deployment and teardown, warm-up, each step (a
rollout replaces every pod, each pod's shutdown taking its preStop sleep and DRAIN_DELAY within its
grace period), settling. Once runs have finished, their measured times scale the rest.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.disruptions import REGISTRY
from harness.disruptions.scale import Scale
from harness.disruptions.wait import Wait
from harness.errors import ConfigError, HarnessError
from harness.overrides import apply_overrides, canonical_key, coerce_value, format_value
from harness.scenario import Scenario
from harness.sweep.spec import MAX_CELLS, MAX_RUNS

__all__ = [
    "DEPLOY_OVERHEAD_S",
    "Dimension",
    "PlannedCell",
    "SweepPlan",
    "cell_id",
    "check_cells",
    "check_sweep_section",
    "estimate_run_s",
    "format_duration",
    "plan_sweep",
]

# Namespace, image load, deployment until ready, first answers, judging and the reports (measured on
# a 2-core machine: about 10 s around the traffic of each run).
DEPLOY_OVERHEAD_S = 10.0
_POD_START_S = 3.0  # a new pod of the sample service, from creation to ready
_DEFAULTS = {"replicas": 3, "pre_stop_s": 0.0, "drain_s": 0.0, "grace_s": 30.0}
# A sweep runs on one cluster; varying these would need another cluster, or another sweep.
_NOT_VARIED = ("cluster", "sweep", "repeat", "name", "source")


@dataclass(frozen=True)
class Dimension:
    path: str  # the canonical scenario path
    key: str  # as the user wrote it (an alias, or the path)
    values: tuple[Any, ...]

    @property
    def setting(self) -> bool:
        return self.path.startswith("target.")


@dataclass(frozen=True)
class PlannedCell:
    index: int
    id: str  # stable over invocations: the canonical paths and values
    label: str  # as the user wrote the keys
    assignments: dict[str, Any]  # canonical path -> value
    positions: tuple[int, ...]  # the position of each value in its dimension
    scenario: Scenario
    estimate_s: float  # one run


@dataclass(frozen=True)
class SweepPlan:
    base: Scenario  # the scenario without its sweep section
    dimensions: tuple[Dimension, ...]
    cells: tuple[PlannedCell, ...]
    repeat: int
    confidence: float
    max_failure_rate_upper: float | None
    max_minutes: float | None
    fingerprint: str  # of the base scenario and the grid: a resumed sweep must match it

    @property
    def runs(self) -> int:
        return len(self.cells) * self.repeat

    @property
    def estimate_s(self) -> float:
        return sum(cell.estimate_s for cell in self.cells) * self.repeat


def cell_id(assignments: Mapping[str, Any]) -> str:
    return "; ".join(f"{path}={format_value(value)}" for path, value in assignments.items())


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _fingerprint(base: Scenario, dimensions: Sequence[Dimension]) -> str:
    data = {"scenario": base.model_dump(mode="json", exclude={"sweep", "repeat"}),
            "grid": [[d.path, [format_value(v) for v in d.values]] for d in dimensions]}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _dimensions(scenario: Scenario, vary: Sequence[tuple[str, Sequence[Any]]] | None) -> list[Dimension]:
    """The file's ``sweep.vary`` and then the command line's; a key named again keeps its place in the
    grid's order and takes the values named last."""
    entries: list[tuple[str, Sequence[Any]]] = []
    if scenario.sweep is not None:
        entries += list(scenario.sweep.vary.items())
    entries += list(vary or ())
    found: dict[str, Dimension] = {}
    for key, values in entries:
        path = canonical_key(key)
        if path.split(".", 1)[0] in _NOT_VARIED:
            raise ConfigError(f"sweep key {key}: {path} cannot vary within a sweep",
                              "a sweep runs every cell on one cluster; run one sweep per cluster shape")
        coerced = tuple(coerce_value(path, v, scenario) for v in values)
        if not coerced:
            raise ConfigError(f"sweep key {key}: no values", f"list the values of {path}")
        if len({format_value(v) for v in coerced}) != len(coerced):
            raise ConfigError(f"sweep key {key}: a value is listed twice", "list each value once")
        found[path] = Dimension(path=path, key=key.strip(), values=coerced)  # named again: new values, same place
    return list(found.values())


def plan_sweep(scenario: Scenario, vary: Sequence[tuple[str, Sequence[Any]]] | None = None, *,
               repeat: int | None = None, max_minutes: float | None = None) -> SweepPlan:
    """The grid of ``scenario``'s ``sweep:`` section and ``vary`` (key, values) pairs, each cell validated.

    ``repeat`` (default: the scenario's ``repeat.runs``, else 1) runs each cell that many times.
    Raises ConfigError naming the key, or the cell and the value, that cannot run.
    """
    dimensions = _dimensions(scenario, vary)
    if not dimensions:
        raise ConfigError(f"{scenario.source or scenario.name}: nothing to vary",
                          "give --vary KEY=V1,V2 (e.g. pre_stop_seconds=0,2,5) or a sweep: section with vary:")
    runs = repeat if repeat is not None else (scenario.repeat.runs if scenario.repeat is not None else 1)
    if not 1 <= runs <= MAX_RUNS:
        raise ConfigError(f"repeat {runs}: out of range", f"repeat each cell 1 to {MAX_RUNS} times")
    total = 1
    for dimension in dimensions:
        total *= len(dimension.values)
    if total > MAX_CELLS:
        raise ConfigError(f"the grid has {total} combinations, at most {MAX_CELLS}", "vary fewer keys or values")
    base = scenario.model_copy(update={"sweep": None})
    cells: list[PlannedCell] = []
    for index, positions in enumerate(itertools.product(*(range(len(d.values)) for d in dimensions))):
        assignments = {d.path: d.values[p] for d, p in zip(dimensions, positions, strict=True)}
        label = ", ".join(f"{d.key}={format_value(d.values[p])}" for d, p in zip(dimensions, positions, strict=True))
        try:
            cell = apply_overrides(base, assignments)
        except ConfigError as exc:
            raise ConfigError(f"sweep cell {label}: {exc.problem}", exc.fix) from None
        cells.append(PlannedCell(index=index, id=cell_id(assignments), label=label, assignments=assignments,
                                 positions=positions, scenario=cell, estimate_s=estimate_run_s(cell)))
    spec = scenario.repeat
    return SweepPlan(
        base=base, dimensions=tuple(dimensions), cells=tuple(cells), repeat=runs,
        confidence=spec.confidence if spec is not None else 0.95,
        max_failure_rate_upper=spec.max_failure_rate_upper if spec is not None else None,
        max_minutes=max_minutes if max_minutes is not None else (
            scenario.sweep.max_minutes if scenario.sweep is not None else None),
        fingerprint=_fingerprint(base, dimensions),
    )


def check_cells(plan: SweepPlan, *, context: str | None = None, kubeconfig: Path | None = None,
                where: str | None = None) -> None:
    """Every cell checked as ``harness validate`` checks a scenario (manifests rendered with the cell's
    overrides, image, kubeconfig), before any cluster work; ConfigError naming the first bad cell."""
    from harness.validate import validate_scenario

    where = where or plan.base.source or plan.base.name
    for cell in plan.cells:
        try:
            validate_scenario(cell.scenario, context=context, kubeconfig=kubeconfig, where=where)
        except ConfigError as exc:
            raise type(exc)(f"sweep cell {cell.label}: {exc.problem}", exc.fix) from None


def check_sweep_section(scenario: Scenario, *, context: str | None = None, kubeconfig: Path | None = None,
                        where: str | None = None) -> None:
    """The ``sweep:`` section of a scenario file: its keys, values and every cell they make."""
    if scenario.sweep is not None:
        check_cells(plan_sweep(scenario), context=context, kubeconfig=kubeconfig, where=where)


def _workload_numbers(scenario: Scenario) -> dict[str, float]:
    """Replicas, preStop sleep, drain and grace of the workload a run deploys (defaults when unreadable)."""
    numbers = dict(_DEFAULTS)
    target = scenario.target
    try:
        from harness.manifests import Overrides, find_workload, render, workload_container
        from harness.manifests.sources import render_source, scenario_source
        from harness.manifests.values import parse_go_duration

        objects = render(render_source(scenario_source(scenario, target), install=False).objects, Overrides(
            env=target.env, replicas=target.replicas, max_surge=target.max_surge,
            max_unavailable=target.max_unavailable,
            termination_grace_period_seconds=target.termination_grace_period_seconds,
            pre_stop_seconds=target.pre_stop_seconds))
        deployment, _ = find_workload(objects)
        spec = deployment.get("spec") or {}
        pod = (spec.get("template") or {}).get("spec") or {}
        container = workload_container(deployment) or {}
        if isinstance(spec.get("replicas"), int):
            numbers["replicas"] = spec["replicas"]
        if isinstance(pod.get("terminationGracePeriodSeconds"), int):
            numbers["grace_s"] = pod["terminationGracePeriodSeconds"]
        sleep = ((container.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}
        if isinstance(sleep.get("seconds"), int):
            numbers["pre_stop_s"] = sleep["seconds"]
        for env in container.get("env") or []:
            if isinstance(env, dict) and env.get("name") == "DRAIN_DELAY" and isinstance(env.get("value"), str):
                numbers["drain_s"] = parse_go_duration(env["value"])
    except (HarnessError, ValueError, TypeError, AttributeError, OSError):
        pass  # an estimate only: validation names what is wrong with the manifests
    return numbers


def estimate_run_s(scenario: Scenario) -> float:
    """About how long one run of ``scenario`` takes, from its own numbers (see the module doc)."""
    w = _workload_numbers(scenario)
    shutdown = min(w["grace_s"], w["pre_stop_s"] + w["drain_s"] + 1.0)
    replicas = w["replicas"]
    clock = scenario.traffic.warmup_s
    for step in scenario.steps:
        clock = max(clock, step.at_s) if step.at_s is not None else clock + step.after_s
        if step.when is not None and step.when.requests_at_least is not None:
            clock = max(clock, step.when.requests_at_least / scenario.traffic.rate)
        if isinstance(step, Wait):
            clock += step.seconds
        elif isinstance(step, Scale):
            clock += _POD_START_S * abs(step.replicas - replicas)
            replicas = step.replicas
        elif REGISTRY[step.action].rolls:
            clock += replicas * _POD_START_S + shutdown
        else:
            clock += _POD_START_S + shutdown
    clock = max(clock + scenario.traffic.settle_s, scenario.traffic.min_duration_s)
    return DEPLOY_OVERHEAD_S + clock
