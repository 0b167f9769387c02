"""Where the harness keeps its build cache and its cluster state (never the user's kubeconfig)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "state_dir"]


def _dir(override: str, xdg: str, fallback: str) -> Path:
    base = os.environ.get(override) or os.path.join(
        os.environ.get(xdg) or os.path.expanduser(fallback), "rollout-harness")
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    """Build cache: Go outputs, logs. ``RH_CACHE_DIR`` overrides."""
    return _dir("RH_CACHE_DIR", "XDG_CACHE_HOME", "~/.cache")


def state_dir() -> Path:
    """Cluster state: kubeconfigs, ownership records, saved host sysctls. ``RH_STATE_DIR`` overrides."""
    return _dir("RH_STATE_DIR", "XDG_STATE_HOME", "~/.local/state")
