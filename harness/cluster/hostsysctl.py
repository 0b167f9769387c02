"""Host sysctls that kubelet changes from inside a node container.

``vm.overcommit_memory``, ``kernel.panic`` and ``kernel.panic_on_oops`` are not namespaced: a
kubelet in a kind node sets them for the whole host. The harness saves them before its first
cluster and puts them back when its last cluster is gone.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.cluster.paths import state_dir
from harness.log import get_logger

__all__ = ["KUBELET_SYSCTLS", "read", "restore", "save"]

log = get_logger(__name__)

KUBELET_SYSCTLS = ("vm.overcommit_memory", "kernel.panic", "kernel.panic_on_oops")


def _proc_path(key: str) -> Path:
    return Path("/proc/sys") / key.replace(".", "/")


def _saved_file() -> Path:
    return state_dir() / "host-sysctls.json"


def read() -> dict[str, str]:
    return {key: _proc_path(key).read_text().strip() for key in KUBELET_SYSCTLS}


def save() -> None:
    if _saved_file().exists():
        return  # an earlier cluster's values are the host's real ones
    _saved_file().write_text(json.dumps(read()))


def restore() -> dict[str, str]:
    """Write the saved values back; return the ones that had changed."""
    saved_file = _saved_file()
    if not saved_file.exists():
        return {}
    saved: dict[str, str] = json.loads(saved_file.read_text())
    changed: dict[str, str] = {}
    current = read()
    for key, value in saved.items():
        if current.get(key) != value:
            try:
                _proc_path(key).write_text(value)
                changed[key] = value
            except OSError as exc:
                log.warning("could not restore %s=%s: %s", key, value, exc)
                continue
    saved_file.unlink()
    return changed
