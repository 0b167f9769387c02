"""The workload's Kubernetes objects: load a variant directory, apply typed run-time overrides, lint.

A variant is a plain directory of YAML files (``manifests/sample-service``, ...). The harness never
templates them; what a run changes (image, env, replicas, strategy, grace period, preStop) goes
through :class:`Overrides` and :func:`render`, which return new objects and leave the loaded ones alone.
"""

from __future__ import annotations

from harness.manifests.check import (
    DEFAULT_GRACE_SECONDS,
    Finding,
    Severity,
    check_documents,
    check_manifests,
    check_objects,
    format_findings,
    has_errors,
    rejected_by_api,
)
from harness.manifests.load import K8sObject, ManifestDocument, load_documents, load_manifests, object_ref
from harness.manifests.render import (
    VERSION_LABEL,
    Overrides,
    find_workload,
    node_port,
    render,
    workload_container,
)
from harness.manifests.values import parse_go_duration, resolve_fenceposts, scaled_value

__all__ = [
    "DEFAULT_GRACE_SECONDS",
    "VERSION_LABEL",
    "Finding",
    "K8sObject",
    "ManifestDocument",
    "Overrides",
    "Severity",
    "check_documents",
    "check_manifests",
    "check_objects",
    "find_workload",
    "format_findings",
    "has_errors",
    "load_documents",
    "load_manifests",
    "node_port",
    "object_ref",
    "parse_go_duration",
    "rejected_by_api",
    "render",
    "resolve_fenceposts",
    "scaled_value",
    "workload_container",
]
