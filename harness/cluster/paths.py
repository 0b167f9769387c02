"""Where the harness keeps its build cache and its cluster state (never the user's kubeconfig)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "state_dir"]


def cache_dir() -> Path:
    """Build cache: Go outputs, logs. ``RH_CACHE_DIR`` overrides."""
    base = os.environ.get("RH_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "rollout-harness")
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def state_dir() -> Path:
    """Cluster state: kubeconfigs, ownership records, saved host sysctls. ``RH_STATE_DIR`` overrides."""
    base = os.environ.get("RH_STATE_DIR") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state"), "rollout-harness")
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path
