"""Helm at one pinned version, built from the Go module proxy the way kind is, and cached.

A chart renders differently from one Helm release to the next (template functions, defaults, the
Kubernetes version it assumes), so a run uses HELM_VERSION: the harness's own build in its cache,
else a ``helm`` on PATH that reports that version, else it builds one with ``go install``. A helm of
another version on PATH is used only when none of those is possible, and then with a warning and its
version recorded, never silently.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.cluster.paths import cache_dir
from harness.errors import PrerequisiteMissingError
from harness.log import get_logger
from harness.shell import run_step

__all__ = ["HELM_FIX", "HELM_MODULE", "HELM_VERSION", "HelmBinary", "cached_helm_path", "ensure_helm",
           "helm_install_command", "helm_version"]

log = get_logger(__name__)

HELM_VERSION = "v3.22.0"
HELM_MODULE = "helm.sh/helm/v3"
# Helm's own default is only "v3.22": the release build sets the full version the same way.
_LDFLAGS = f"-X {HELM_MODULE}/internal/version.version={HELM_VERSION}"
_INSTALL_TIMEOUT_S = 1800.0


def helm_install_command(gobin: Path | str = "GOBIN") -> str:
    """The shell command that installs the pinned Helm into ``gobin``, as a fix quotes it."""
    return (f"GOBIN={gobin} CGO_ENABLED=0 go install -ldflags '{_LDFLAGS}' "
            f"{HELM_MODULE}/cmd/helm@{HELM_VERSION}")


HELM_FIX = (f"install Helm 3, pinned at {HELM_VERSION}: scripts/setup does, or the harness itself when Go is on "
            f"PATH; by hand: {helm_install_command('DIR')} and put DIR on PATH")


@dataclass(frozen=True, slots=True)
class HelmBinary:
    """The helm a render uses: where it is, the version it reports, and whether that is the pinned one."""

    path: str
    version: str | None
    pinned: bool

    def describe(self) -> str:
        version = self.version or "of unknown version"
        return f"helm {version} ({self.path})" + ("" if self.pinned else f", not the pinned {HELM_VERSION}")


def cached_helm_path() -> Path:
    """Where the harness keeps its own build of the pinned Helm."""
    return cache_dir() / "bin" / f"helm-{HELM_VERSION}" / "helm"


def helm_version(path: str) -> str | None:
    """The version ``path`` reports (``v3.22.0``), or None when it does not answer like Helm 3."""
    try:
        proc = subprocess.run([path, "version", "--template", "{{.Version}}"], capture_output=True, check=False,
                              timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = proc.stdout.decode(errors="replace").strip()
    return text if proc.returncode == 0 and text.startswith("v") and "\n" not in text else None


def ensure_helm(*, install: bool = True) -> HelmBinary:
    """The helm to render charts with: the pinned version when it is there or can be built."""
    cached = cached_helm_path()
    if cached.is_file() and os.access(cached, os.X_OK) and helm_version(str(cached)) == HELM_VERSION:
        return HelmBinary(str(cached), HELM_VERSION, pinned=True)
    on_path = shutil.which("helm")
    other = helm_version(on_path) if on_path is not None else None
    if on_path is not None and other == HELM_VERSION:
        return HelmBinary(on_path, other, pinned=True)
    go = shutil.which("go")
    if install and go is not None:
        log.info("installing helm %s with go install into %s (once; cached)", HELM_VERSION, cached.parent)
        cached.parent.mkdir(parents=True, exist_ok=True)
        run_step("install helm", [go, "install", "-ldflags", _LDFLAGS, f"{HELM_MODULE}/cmd/helm@{HELM_VERSION}"],
                 error=PrerequisiteMissingError, fix=HELM_FIX, timeout=_INSTALL_TIMEOUT_S,
                 env={"GOBIN": str(cached.parent), "CGO_ENABLED": "0"})
        built = helm_version(str(cached))
        if built != HELM_VERSION:
            raise PrerequisiteMissingError(f"the helm built into {cached} reports version {built or 'nothing'}, "
                                           f"not {HELM_VERSION}", HELM_FIX)
        return HelmBinary(str(cached), HELM_VERSION, pinned=True)
    if on_path is not None:
        found = HelmBinary(on_path, other, pinned=False)
        log.warning("rendering with %s: Go is not on PATH to build the pinned one; charts may render "
                    "differently (%s)", found.describe(), HELM_FIX)
        return found
    raise PrerequisiteMissingError(
        f"`helm` is not on PATH, nor in the harness's cache ({cached}), and `go` is not on PATH to build "
        f"Helm {HELM_VERSION}", HELM_FIX)
