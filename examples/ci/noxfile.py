"""The rollout gate as nox sessions: copy NODE_FACTS and the two sessions into your own noxfile.py.

`nox -s rollout_gate` installs the harness into the session's virtualenv, creates (or reuses) the
harness's kind cluster, runs every scenario with `harness gate` and leaves the reports in
gate-report/ (report.html, report.md, junit.xml, gate.json, and runs/ with each run's evidence).
Arguments after `--` go to `harness gate`, e.g. `nox -s rollout_gate -- --only rolling-restart`.
The cluster is kept for the next session; `nox -s rollout_cluster_down` removes it.

Settings come from the environment, with the same names as in the CI recipes beside this file:

RH_HARNESS     what pip installs (default rollout-harness==0.1.0; a wheel file or a VCS URL work too)
RH_NODE_IMAGE  stock: pull kind's kindest/node (needs Docker Hub); build: build the node image on this
               machine (needs root for debootstrap, the Go module proxy and a Debian mirror)
RH_SCENARIOS   a scenario directory or file (default builtin:, the scenarios shipped with the harness)
RH_CLUSTER     the harness cluster's name (default rollout-harness)
RH_WORKERS     its worker nodes: the most any scenario asks for (default 2, as the built-in node-drain)
"""

from __future__ import annotations

import os

import nox

# Run with the harness's own Python: the Kubernetes version of the node image and the image itself,
# for RH_NODE_IMAGE. The stock image runs the Kubernetes release of kind's own node image, the
# built one the harness's default release.
NODE_FACTS = """
import os
import sys

from harness.cluster.nodeimage import node_image_ref
from harness.cluster.versions import DEFAULT_K8S_VERSION, STOCK_K8S_VERSION, STOCK_NODE_IMAGE, node_versions

mode = os.environ.get("RH_NODE_IMAGE", "stock")
if mode == "stock":
    k8s, image = STOCK_K8S_VERSION, STOCK_NODE_IMAGE
elif mode == "build":
    k8s = DEFAULT_K8S_VERSION
    image = node_image_ref(node_versions(k8s))[0]
else:
    sys.exit(f"RH_NODE_IMAGE is {mode!r}: use stock or build")
print(f"RH_K8S_VERSION={k8s}")
print(f"RH_NODE_IMAGE_REF={image}")
"""

GATE_OUT = "gate-report"


def _setting(name: str, default: str) -> str:
    return os.environ.get(name) or default


@nox.session(default=False)
def rollout_gate(session: nox.Session) -> None:
    """Create or reuse the kind cluster, run every scenario, write gate-report/."""
    node_image = _setting("RH_NODE_IMAGE", "stock")
    cluster = _setting("RH_CLUSTER", "rollout-harness")
    session.install(_setting("RH_HARNESS", "rollout-harness==0.1.0"))
    session.run("harness", "--version")
    facts = session.run("python", "-c", NODE_FACTS, silent=True, env={"RH_NODE_IMAGE": node_image})
    k8s_version = dict(line.split("=", 1) for line in str(facts).split())["RH_K8S_VERSION"]
    session.run("harness", "cluster", "up", "--name", cluster, "--workers", _setting("RH_WORKERS", "2"),
                "--k8s-version", k8s_version, "--node-image", node_image)
    # The gate runs on the cluster just made, named by its context: left to itself it would pick the
    # node image for each scenario's own Kubernetes release, and build one where stock was asked for.
    session.run("harness", "gate", _setting("RH_SCENARIOS", "builtin:"), "--context", f"kind-{cluster}",
                "--out", GATE_OUT, *session.posargs)


@nox.session(default=False)
def rollout_cluster_down(session: nox.Session) -> None:
    """Remove the cluster rollout_gate made, its containers, network and volumes."""
    session.install(_setting("RH_HARNESS", "rollout-harness==0.1.0"))
    session.run("harness", "cluster", "down", "--name", _setting("RH_CLUSTER", "rollout-harness"))
