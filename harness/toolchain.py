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


def tool_versions() -> list[tuple[str, str]]:
    """(what, version and where it comes from), in the order a run needs them."""
    others = ", ".join(v for v in SUPPORTED_K8S_VERSIONS if v != DEFAULT_K8S_VERSION)
    return [
        ("rollout-harness", __version__),
        ("python", platform.python_version()),
        ("kind", f"{KIND_VERSION} (installed with `go install` when missing)"),
        ("kubernetes (nodes)", f"{DEFAULT_K8S_VERSION} by default; also {others}, and kind's stock "
                               f"{STOCK_K8S_VERSION}"),
        ("go", f"{_go_expected()} (builds the sample service image, kind and the node image)"),
    ]
