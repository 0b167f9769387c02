"""Typed run-time overrides applied to a loaded variant. Pure: the input objects are never changed."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.errors import ManifestError
from harness.manifests.load import K8sObject, object_ref
from harness.manifests.values import IntOrPercent, is_percent

__all__ = [
    "VERSION_LABEL",
    "WORKLOAD_KINDS",
    "Overrides",
    "find_workload",
    "node_port",
    "pod_labels",
    "render",
    "selector_matches",
    "workload_container",
]

VERSION_LABEL = "app.kubernetes.io/version"
# The workloads the harness can roll, restart and observe.
WORKLOAD_KINDS = ("Deployment", "StatefulSet")

# Kubernetes label values: at most 63 characters, alphanumeric at both ends.
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


class Overrides(BaseModel):
    """What a run may change in a variant without editing its files. ``None`` leaves a field as it is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image: str | None = Field(default=None, min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    replicas: int | None = Field(default=None, ge=0)
    strategy: Literal["RollingUpdate", "Recreate"] | None = None
    max_surge: IntOrPercent | None = None
    max_unavailable: IntOrPercent | None = None
    termination_grace_period_seconds: int | None = Field(default=None, ge=0)
    # 0 removes the preStop hook: a zero-second sleep action is rejected by clusters before 1.33.
    pre_stop_seconds: int | None = Field(default=None, ge=0)
    version_label: str | None = None
    node_port: int | None = Field(default=None, ge=1, le=65535)

    @field_validator("max_surge", "max_unavailable", mode="before")
    @classmethod
    def _int_or_percent(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, bool):
            raise ValueError("must be an integer or a percentage such as '25%', not a boolean")
        if isinstance(value, str) and value.strip().isdigit():
            # A command line hands over "1"; Kubernetes itself would reject a numeric string.
            return int(value.strip())
        if isinstance(value, int):
            if value < 0:
                raise ValueError("must not be negative")
            return value
        if is_percent(value):
            return value
        raise ValueError("must be an integer or a percentage such as '25%'")

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [name for name in value if not _ENV_NAME.match(name)]
        if bad:
            raise ValueError(f"invalid environment variable name(s): {', '.join(bad)}")
        return value

    @field_validator("version_label")
    @classmethod
    def _label_value(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 63 or not _LABEL_VALUE.match(value)):
            raise ValueError(
                "a label value has at most 63 characters [A-Za-z0-9-_.] and starts and ends alphanumeric"
            )
        return value

    @model_validator(mode="after")
    def _strategy_consistent(self) -> Overrides:
        if self.strategy == "Recreate" and (self.max_surge is not None or self.max_unavailable is not None):
            raise ValueError("max_surge and max_unavailable only apply to the RollingUpdate strategy")
        both_zero = self.max_surge in (0, "0%") and self.max_unavailable in (0, "0%")
        if both_zero:
            raise ValueError("max_surge and max_unavailable cannot both be 0: a rollout could never progress")
        return self

    def touches_deployment(self) -> bool:
        return any(
            value not in (None, {})
            for name, value in self
            if name != "node_port"
        )


def find_workload(objects: Sequence[K8sObject]) -> tuple[K8sObject, K8sObject | None]:
    """The one workload under test (a Deployment or a StatefulSet) and the first Service whose selector
    picks its pods (or None)."""
    workloads = [obj for obj in objects if obj.get("kind") in WORKLOAD_KINDS]
    if not workloads:
        raise ManifestError(
            "the manifests hold no Deployment or StatefulSet",
            "add the Deployment or StatefulSet of the service under test to the variant directory",
        )
    if len(workloads) > 1:
        names = ", ".join(object_ref(d) for d in workloads)
        kinds = {str(d.get("kind")) for d in workloads}
        what = f"{kinds.pop()}s" if len(kinds) == 1 else "workloads"
        raise ManifestError(
            f"the manifests hold {len(workloads)} {what} ({names}); the harness tests one workload",
            "keep one Deployment or StatefulSet per variant directory and put the others in a directory of "
            "their own",
        )
    workload = workloads[0]
    services = selecting_services(objects, workload)
    return workload, services[0] if services else None


def selecting_services(objects: Sequence[K8sObject], workload: Mapping[str, Any]) -> list[K8sObject]:
    """Every Service whose selector picks the pods of ``workload``, in the order given."""
    labels = pod_labels(workload)
    found = []
    for obj in objects:
        if obj.get("kind") != "Service":
            continue
        selector = _dict(_dict(obj.get("spec")).get("selector"))
        if selector and selector_matches({"matchLabels": selector}, labels):
            found.append(obj)
    return found


def node_port(service: Mapping[str, Any]) -> int | None:
    """The first fixed nodePort of a NodePort or LoadBalancer Service, else None."""
    spec = _dict(service.get("spec"))
    if spec.get("type") not in ("NodePort", "LoadBalancer"):
        return None
    for port in _list(spec.get("ports")):
        value = _dict(port).get("nodePort")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def workload_container(deployment: Mapping[str, Any]) -> dict[str, Any] | None:
    """The container named like the workload, else the first one; None when there is none."""
    containers = [c for c in _list(_pod_spec(deployment).get("containers")) if isinstance(c, dict)]
    name = _dict(deployment.get("metadata")).get("name")
    for container in containers:
        if container.get("name") == name:
            return container
    return containers[0] if containers else None


def pod_labels(deployment: Mapping[str, Any]) -> dict[str, Any]:
    template = _dict(_dict(deployment.get("spec")).get("template"))
    return _dict(_dict(template.get("metadata")).get("labels"))


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    """A LabelSelector (matchLabels and matchExpressions) against a label set; an empty one matches all."""
    for key, value in _dict(selector.get("matchLabels")).items():
        if labels.get(key) != value:
            return False
    for expression in _list(selector.get("matchExpressions")):
        expr = _dict(expression)
        label = str(expr.get("key"))
        values = _list(expr.get("values"))
        operator = expr.get("operator")
        present = label in labels
        if operator == "In" and not (present and labels[label] in values):
            return False
        if operator == "NotIn" and present and labels[label] in values:
            return False
        if (operator == "Exists" and not present) or (operator == "DoesNotExist" and present):
            return False
    return True


def render(objects: Sequence[K8sObject], overrides: Overrides) -> list[K8sObject]:
    """New objects with ``overrides`` applied; ``objects`` stay as they were."""
    result = copy.deepcopy(list(objects))
    if overrides.touches_deployment():
        workload, _ = find_workload(result)
        _apply_to_workload(workload, overrides)
    if overrides.node_port is not None:
        _, service = find_workload(result)
        if service is None:
            raise ManifestError(
                "node_port is set but no Service selects the workload's pods",
                "add a NodePort Service to the variant, or drop the node_port override",
            )
        _set_node_port(service, overrides.node_port)
    return result


def _apply_to_workload(deployment: K8sObject, overrides: Overrides) -> None:
    ref = object_ref(deployment)
    spec = _child(deployment, "spec", ref)
    template = _child(spec, "template", ref, "spec.")
    pod_spec = _child(template, "spec", ref, "spec.template.")

    if overrides.replicas is not None:
        spec["replicas"] = overrides.replicas
    if deployment.get("kind") == "StatefulSet":
        _apply_update_strategy(spec, overrides, ref)
    else:
        _apply_strategy(spec, overrides, ref)
    if overrides.termination_grace_period_seconds is not None:
        pod_spec["terminationGracePeriodSeconds"] = overrides.termination_grace_period_seconds
    if overrides.version_label is not None:
        _apply_version_label(deployment, overrides.version_label, ref)

    if overrides.image is None and not overrides.env and overrides.pre_stop_seconds is None:
        return
    container = workload_container(deployment)
    if container is None:
        raise ManifestError(
            f"{ref} has no container to apply image, env or preStop overrides to",
            "give the workload's pod template a container",
        )
    if overrides.image is not None:
        container["image"] = overrides.image
    if overrides.env:
        _apply_env(container, overrides.env)
    if overrides.pre_stop_seconds is not None:
        _apply_pre_stop(container, overrides.pre_stop_seconds)


def _apply_strategy(spec: dict[str, Any], overrides: Overrides, ref: str) -> None:
    if overrides.strategy is None and overrides.max_surge is None and overrides.max_unavailable is None:
        return
    strategy = _child(spec, "strategy", ref, "spec.")
    if overrides.strategy is not None:
        strategy["type"] = overrides.strategy
    if strategy.get("type", "RollingUpdate") == "Recreate":
        if overrides.max_surge is not None or overrides.max_unavailable is not None:
            raise ManifestError(
                f"{ref} uses the Recreate strategy, which has no maxSurge or maxUnavailable",
                "also override the strategy to RollingUpdate, or drop max_surge and max_unavailable",
            )
        # The API rejects rollingUpdate parameters on a Recreate Deployment.
        strategy.pop("rollingUpdate", None)
        return
    rolling = _child(strategy, "rollingUpdate", ref, "spec.strategy.")
    if overrides.max_surge is not None:
        rolling["maxSurge"] = overrides.max_surge
    if overrides.max_unavailable is not None:
        rolling["maxUnavailable"] = overrides.max_unavailable


def _apply_update_strategy(spec: dict[str, Any], overrides: Overrides, ref: str) -> None:
    """A StatefulSet's ``spec.updateStrategy``: RollingUpdate or OnDelete, with no maxSurge."""
    if overrides.max_surge is not None:
        raise ManifestError(
            f"max_surge (target.max_surge) is set, but {ref} is a StatefulSet, which has no maxSurge in "
            "Kubernetes v1.34: it replaces a pod only once the old one is gone",
            "drop max_surge for a StatefulSet; max_unavailable sets spec.updateStrategy.rollingUpdate.maxUnavailable",
        )
    if overrides.strategy == "Recreate":
        raise ManifestError(
            f"strategy Recreate is set, but {ref} is a StatefulSet, whose updateStrategy is RollingUpdate or OnDelete",
            "drop the strategy override, or override it to RollingUpdate",
        )
    if overrides.strategy is None and overrides.max_unavailable is None:
        return
    strategy = _child(spec, "updateStrategy", ref, "spec.")
    if overrides.strategy is not None:
        strategy["type"] = overrides.strategy
    if overrides.max_unavailable is None:
        return
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        raise ManifestError(
            f"max_unavailable (target.max_unavailable) is set, but {ref} uses the {strategy.get('type')} update "
            "strategy, which has no maxUnavailable",
            "drop max_unavailable, or set spec.updateStrategy.type: RollingUpdate in the manifest",
        )
    if overrides.max_unavailable in (0, "0%"):
        raise ManifestError(
            f"max_unavailable (target.max_unavailable) is 0, which a StatefulSet may not have: it replaces a pod "
            f"only by taking it down first, so {ref} could never roll",
            "give max_unavailable 1 or more (or leave it out: a StatefulSet takes one pod down at a time)",
        )
    # Honoured only where the MaxUnavailableStatefulSet feature gate is on (alpha in v1.34, beta from
    # v1.35); harness.workload checks that the API server kept it.
    _child(strategy, "rollingUpdate", ref, "spec.updateStrategy.")["maxUnavailable"] = overrides.max_unavailable


def _apply_version_label(deployment: K8sObject, version: str, ref: str) -> None:
    spec = _child(deployment, "spec", ref)
    if VERSION_LABEL in _dict(_dict(spec.get("selector")).get("matchLabels")):
        raise ManifestError(
            f"{ref} selects its pods by {VERSION_LABEL}, so a new version would orphan the running pods",
            f"remove {VERSION_LABEL} from spec.selector.matchLabels (selectors are immutable)",
        )
    template_meta = _child(_child(spec, "template", ref, "spec."), "metadata", ref, "spec.template.")
    _child(template_meta, "labels", ref, "spec.template.metadata.")[VERSION_LABEL] = version
    # The Deployment's own label follows only when it has one, so it never claims more than it did.
    own = _dict(deployment.get("metadata")).get("labels")
    if isinstance(own, dict) and VERSION_LABEL in own:
        own[VERSION_LABEL] = version


def _apply_env(container: dict[str, Any], env: Mapping[str, str]) -> None:
    entries = container.get("env")
    if not isinstance(entries, list):
        # A null env (an empty "env:" key) is the same as none.
        entries = container["env"] = []
    remaining = dict(env)
    for i, entry in enumerate(entries):
        name = _dict(entry).get("name")
        if name in remaining:
            # A literal value replaces a valueFrom too: the two are mutually exclusive in the API.
            entries[i] = {"name": name, "value": remaining.pop(name)}
    entries.extend({"name": name, "value": value} for name, value in remaining.items())


def _apply_pre_stop(container: dict[str, Any], seconds: int) -> None:
    lifecycle = container.get("lifecycle")
    if seconds == 0:
        if isinstance(lifecycle, dict):
            lifecycle.pop("preStop", None)
            if not lifecycle:
                del container["lifecycle"]
        return
    if not isinstance(lifecycle, dict):
        lifecycle = container["lifecycle"] = {}
    # The sleep action, not exec: it needs no shell or sleep binary in the image.
    lifecycle["preStop"] = {"sleep": {"seconds": seconds}}


def _set_node_port(service: K8sObject, port: int) -> None:
    spec = service.setdefault("spec", {})
    ports = [p for p in _list(spec.get("ports")) if isinstance(p, dict)]
    if not ports:
        raise ManifestError(
            f"{object_ref(service)} has no ports to give a nodePort",
            "declare the Service's port (port: 80, targetPort: 8080)",
        )
    if spec.get("type") not in ("NodePort", "LoadBalancer"):
        spec["type"] = "NodePort"
    ports[0]["nodePort"] = port


def _child(parent: dict[str, Any], key: str, ref: str, prefix: str = "") -> dict[str, Any]:
    """``parent[key]`` as a mapping, created when absent or null; anything else is a malformed manifest."""
    value = parent.get(key)
    if value is None:
        value = parent[key] = {}
    if not isinstance(value, dict):
        raise ManifestError(
            f"{ref}: {prefix}{key} is a {type(value).__name__}, not a mapping",
            f"write {prefix}{key} as a mapping, as in the Kubernetes API reference",
        )
    return value


def _pod_spec(deployment: Mapping[str, Any]) -> dict[str, Any]:
    return _dict(_dict(_dict(deployment.get("spec")).get("template")).get("spec"))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
