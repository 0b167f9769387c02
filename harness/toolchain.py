"""The versions `harness --version` states: the harness's own and those of the tools it installs or
expects, so a bug report or a CI log says exactly what ran."""

from __future__ import annotations

import platform

from harness import __version__
from harness.cluster.versions import DEFAULT_K8S_VERSION, KIND_VERSION, STOCK_K8S_VERSION, SUPPORTED_K8S_VERSIONS
from harness.errors import ConfigError

__all__ = ["tool_versions"]


def _go_expected() -> str:
    from harness.image import go_requirement, sample_service_dir

    try:
        wanted = go_requirement(sample_service_dir())
    except ConfigError:
        return "unknown (the sample service source is missing)"
    return f">= {wanted}" if wanted else "any"


def _helm() -> str:
    from harness.cluster.helm import HELM_VERSION, cached_helm_path, helm_version

    cached = cached_helm_path()
    where = f"cached in {cached}" if cached.is_file() and helm_version(str(cached)) == HELM_VERSION else (
        "installed with `go install` into the cache when a chart is rendered")
    return f"{HELM_VERSION} (renders target.helm and charts; {where})"


def _kubectl() -> str:
    from harness.errors import PrerequisiteMissingError
    from harness.manifests.sources import find_kubectl

    try:
        path, version = find_kubectl()
    except PrerequisiteMissingError:
        return "not found (renders kustomizations; on PATH, or built by `harness cluster image`)"
    return f"{version or 'unknown version'} at {path} (renders kustomizations with `kubectl kustomize`)"


def tool_versions() -> list[tuple[str, str]]:
    """(what, version and where it comes from), in the order a run needs them."""
    others = ", ".join(v for v in SUPPORTED_K8S_VERSIONS if v != DEFAULT_K8S_VERSION)
    return [
        ("rollout-harness", __version__),
        ("python", platform.python_version()),
        ("kind", f"{KIND_VERSION} (installed with `go install` when missing)"),
        ("helm", _helm()),
        ("kubectl", _kubectl()),
        ("kubernetes (nodes)", f"{DEFAULT_K8S_VERSION} by default; also {others}, and kind's stock "
                               f"{STOCK_K8S_VERSION}"),
        ("go", f"{_go_expected()} (builds the sample service image, kind and the node image)"),
    ]
