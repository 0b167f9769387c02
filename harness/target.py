"""The cluster a run may disrupt, and the guard that decides it.

The harness disrupts only a cluster it created itself or a context the user names explicitly; it
never falls back on the default context of the user's own kubeconfig, and a kubeconfig named without
a context is refused rather than read for its current context.

A named context that is not a cluster of the harness (a staging cluster, or a kind cluster someone
else made) is foreign: the run loads no image into it and execs into none of its nodes, reaches the
service at ``target.url``, and first checks that the context's credentials hold every permission the
run needs (harness/access.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.cluster.kind import NODE_PORT, ClusterRecord, load_record
from harness.errors import ContextRefusedError
from harness.scenario import Scenario

__all__ = ["RunOptions", "Target", "resolve_target"]


@dataclass(frozen=True)
class RunOptions:
    out_dir: Path | None = None
    context: str | None = None  # an existing context, named explicitly
    kubeconfig: Path | None = None
    keep_namespace: bool = False
    create_cluster: bool = True


@dataclass(frozen=True)
class Target:
    """The cluster a run may disrupt, and why it may."""

    kubeconfig: Path | None
    context: str
    kind_cluster: str | None  # a harness cluster: images are loaded with `kind load`, nodes exec'd into
    host_port: int
    owned: bool  # created by the harness; otherwise named explicitly by the user (foreign)
    node_port: int = NODE_PORT  # the node port a harness cluster maps to host_port (always NODE_PORT)


def resolve_target(scenario: Scenario, options: RunOptions) -> Target:
    """Pick the cluster to disrupt. Only a harness-created cluster or an explicitly named context."""
    context = options.context or scenario.cluster.context
    kubeconfig = options.kubeconfig or (scenario.resolve(scenario.cluster.kubeconfig) if scenario.cluster.kubeconfig
                                         else None)
    if context:
        kind_name = context.removeprefix("kind-") if context.startswith("kind-") else None
        record = load_record(kind_name) if kind_name else None
        if record is not None and kubeconfig is None:
            kubeconfig = Path(record.kubeconfig)
        return Target(kubeconfig=kubeconfig, context=context, kind_cluster=kind_name if record else None,
                      host_port=record.host_port if record else NODE_PORT, owned=record is not None)
    if kubeconfig is not None:
        raise ContextRefusedError(
            f"kubeconfig {kubeconfig} is named but no context: the harness never runs on a kubeconfig's "
            "current context",
            "name the context too (--context or cluster.context), or drop the kubeconfig to use the harness's "
            "own cluster")
    name = scenario.cluster.name
    record = load_record(name)
    if not options.create_cluster:
        if record is None:
            raise ContextRefusedError(
                f"no cluster {name!r} created by the harness, and no context was named",
                "run `harness cluster up`, or name an existing context explicitly with --context",
            )
        return _owned_target(record)
    from harness.cluster.lifecycle import up

    record = up(name=name, workers=scenario.cluster.workers, k8s_version=scenario.cluster.k8s_version,
                node_image="auto", host_port=record.host_port if record else NODE_PORT)
    return _owned_target(record)


def _owned_target(record: ClusterRecord) -> Target:
    return Target(kubeconfig=Path(record.kubeconfig), context=record.context, kind_cluster=record.name,
                  host_port=record.host_port, owned=True)
