"""Small, typed wrappers over the docker CLI."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from harness.errors import PrerequisiteMissingError
from harness.shell import require_tool

__all__ = ["docker_available", "image_exists", "image_labels", "inspect", "list_ids", "remove_image"]

DOCKER_FIX = "start the Docker engine (on a fresh machine: scripts/setup installs and starts it)"


def docker_available() -> None:
    require_tool("docker", DOCKER_FIX)
    proc = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, check=False)
    if proc.returncode != 0:
        raise PrerequisiteMissingError(
            f"the Docker engine does not answer: {proc.stderr.decode(errors='replace').strip()[:300]}",
            DOCKER_FIX,
        )


def inspect(ref: str, kind: str = "image") -> dict[str, Any] | None:
    proc = subprocess.run(["docker", "inspect", "--type", kind, ref], capture_output=True, check=False)
    if proc.returncode != 0:
        return None
    data = json.loads(proc.stdout)
    return data[0] if data else None


def image_exists(ref: str) -> bool:
    return inspect(ref) is not None


def image_labels(ref: str) -> dict[str, str]:
    data = inspect(ref)
    if data is None:
        return {}
    return dict((data.get("Config") or {}).get("Labels") or {})


def remove_image(ref: str) -> None:
    subprocess.run(["docker", "rmi", "-f", ref], capture_output=True, check=False)


def list_ids(kind: str, *filters: str) -> list[str]:
    """IDs of containers, networks or volumes matching the given ``--filter`` expressions."""
    cmd = ["docker", kind, "ls", "-q"] if kind != "container" else ["docker", "ps", "-aq"]
    for flt in filters:
        cmd += ["--filter", flt]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    return [line for line in proc.stdout.decode().split() if line]
