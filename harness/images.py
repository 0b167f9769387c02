"""The images a run deploys, and getting them onto a kind cluster's nodes.

An image just built by the user's CI is in the local Docker engine and in no registry. On a kind
cluster (the harness's own, or a kind context the user names) every image the workload's pods use
that exists locally is loaded with `kind load`, and its id recorded. An image that is neither local
nor already on the nodes must be pullable by the cluster: the nodes are asked to pull it before
anything is deployed, so a run never waits for an ImagePullBackOff to find out. On a context the harness
did not create nothing is loaded and no node is touched: the run says which images that cluster's
nodes must pull themselves.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.errors import WorkloadError
from harness.log import get_logger
from harness.manifests import K8sObject
from harness.manifests.render import _list, _pod_spec

__all__ = ["ImagePlacement", "place_images", "pod_images"]

log = get_logger(__name__)

PULL_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class ImagePlacement:
    """What was done for one image: loaded from the local engine, already on the nodes, pulled by them,
    or left to the cluster (not a kind cluster)."""

    image: str
    how: str  # "loaded" | "on nodes" | "pulled" | "left to the cluster"
    image_id: str | None = None


def pod_images(objects: Sequence[K8sObject]) -> list[str]:
    """Every image of the workload objects' pod templates (containers and init containers), in order."""
    found: list[str] = []
    for obj in objects:
        spec = _pod_spec(obj)
        for key in ("initContainers", "containers"):
            for container in _list(spec.get(key)):
                image = container.get("image") if isinstance(container, dict) else None
                if isinstance(image, str) and image and image not in found:
                    found.append(image)
    return found


def _node_has(node: str, image: str) -> bool:
    proc = subprocess.run(["docker", "exec", node, "crictl", "inspecti", image], capture_output=True, check=False,
                          timeout=30)
    return proc.returncode == 0


def _node_pull(node: str, image: str) -> str | None:
    """None when the node pulled the image, else why it could not."""
    try:
        proc = subprocess.run(["docker", "exec", node, "crictl", "pull", image], capture_output=True, check=False,
                              timeout=PULL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"no answer from the registry within {PULL_TIMEOUT_S:.0f} s"
    if proc.returncode == 0:
        return None
    lines = proc.stderr.decode(errors="replace").strip().splitlines()
    return lines[-1][-300:] if lines else f"crictl pull exited {proc.returncode}"


def place_images(images: Sequence[str], *, kind_cluster: str | None, context: str,
                 local_id: Callable[[str], str | None], nodes: Callable[[], list[str]],
                 load: Callable[[str], None], already: set[str]) -> list[ImagePlacement]:
    """Make every image available to the cluster's nodes, or raise a WorkloadError naming the ways out.

    ``local_id`` answers the local Docker engine's id of an image (None: not there), ``nodes`` the
    kind node containers, ``load`` runs `kind load` for one image; ``already`` holds what this run
    loaded before (a set-image step reuses it)."""
    placed: list[ImagePlacement] = []
    if kind_cluster is None and images:
        log.warning("context %s is not a cluster of the harness: no image is loaded into it; its nodes must pull "
                    "%s from a registry they reach", context, ", ".join(images))
    for image in images:
        if kind_cluster is None:
            placed.append(ImagePlacement(image, "left to the cluster"))
            continue
        image_id = local_id(image)
        if image_id is not None:
            if image not in already:
                load(image)
                already.add(image)
            placed.append(ImagePlacement(image, "loaded", image_id))
            continue
        names = nodes()
        missing = [n for n in names if not _node_has(n, image)]
        if not missing:
            placed.append(ImagePlacement(image, "on nodes"))
            continue
        why = _node_pull(missing[0], image)
        if why is not None:
            raise WorkloadError(
                f"image {image} is not in the local Docker engine, not on the nodes of kind cluster {kind_cluster}, "
                f"and the cluster cannot pull it ({why})",
                f"build or tag it locally (docker build -t {image} .) and the harness loads it into the cluster, "
                "or push it to a registry the cluster can reach")
        for node in missing[1:]:
            why = _node_pull(node, image)
            if why is not None:
                raise WorkloadError(f"image {image}: node {node} of context {context} cannot pull it ({why})",
                                    f"build it locally (docker build -t {image} .) so the harness loads it")
        placed.append(ImagePlacement(image, "pulled"))
    return placed
