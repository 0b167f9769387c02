"""Debian root filesystems made with debootstrap and turned into local images with ``docker import``.

No image is pulled: the node base and the kube-proxy base both start from Debian packages.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.cluster.build_progress import BuildProgress, DebootstrapStages
from harness.cluster.docker import image_exists
from harness.errors import NodeImageBuildError
from harness.log import get_logger
from harness.shell import require_tool, run_step

__all__ = ["NODE_PACKAGES", "PROXY_PACKAGES", "RootfsSpec", "ensure_rootfs_image", "rootfs_label"]

log = get_logger(__name__)

# What a kind node needs: systemd as init, containerd and runc, CNI plugins, iptables (nft and
# legacy), conntrack, mount tools, and what the entrypoint and the pod-network agent call.
NODE_PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "containerd", "runc", "containernetworking-plugins",
    "iptables", "nftables", "iproute2", "ethtool", "socat", "conntrack", "mount", "util-linux",
    "kmod", "ca-certificates", "procps", "libseccomp2", "bash", "jq", "ebtables", "ipset",
    "iputils-ping", "curl",
)

# kube-proxy runs iptables-restore in its own container, with the node's backend (nft).
PROXY_PACKAGES = ("iptables", "nftables", "conntrack", "ipset")

DEBOOTSTRAP_FIX = "install debootstrap (apt-get install debootstrap) and make sure the Debian mirror is reachable"

# Documentation, man pages and locales are dead weight in a node; dropping them keeps the
# node image and every cluster's /var volume smaller.
_PRUNE = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "var/cache/apt/archives",
          "var/lib/apt/lists")


@dataclass(frozen=True)
class RootfsSpec:
    repository: str  # image repository, e.g. rollout-harness/node-base
    suite: str
    packages: tuple[str, ...]
    entrypoint: tuple[str, ...]
    env: tuple[str, ...] = ()
    variant: str = "minbase"


def _apt_mirror() -> str:
    """The Debian mirror apt on this machine is configured with, so debootstrap uses the same one."""
    for source in [*sorted(Path("/etc/apt/sources.list.d").glob("*.sources")), Path("/etc/apt/sources.list")]:
        if not source.exists():
            continue
        for raw in source.read_text().splitlines():
            line = raw.strip()
            if line.startswith("URIs:") and "security" not in line:
                return line.split(None, 1)[1].split()[0]
            if line.startswith("deb ") and "security" not in line:
                parts = [p for p in line.split() if not p.startswith("[")]
                return parts[1]
    return "http://deb.debian.org/debian"


def rootfs_label(spec: RootfsSpec) -> str:
    return f"making the {spec.repository.rsplit('/', 1)[-1]} root filesystem"


def ensure_rootfs_image(spec: RootfsSpec, tag: str, logs: Path, progress: BuildProgress) -> str:
    """Return ``repository:tag``, building it with debootstrap when it is not already present."""
    ref = f"{spec.repository}:{tag}"
    if image_exists(ref):
        progress.skip([rootfs_label(spec)], f"{ref}: cached")
        return ref
    debootstrap = require_tool("debootstrap", DEBOOTSTRAP_FIX)
    log.debug("%s: debootstrap %s with %d packages", ref, spec.suite, len(spec.packages))
    log_file = logs / f"rootfs-{spec.repository.rsplit('/', 1)[-1]}.log"
    with (
        progress.step(rootfs_label(spec), log_file=log_file, watch=DebootstrapStages()),
        tempfile.TemporaryDirectory(prefix="rh-rootfs-") as tmp,
    ):
        rootfs = Path(tmp) / "rootfs"
        run_step(
            f"debootstrap {spec.repository}",
            [debootstrap, f"--variant={spec.variant}", f"--include={','.join(spec.packages)}", spec.suite,
             str(rootfs), _apt_mirror()],
            error=NodeImageBuildError, fix=f"{DEBOOTSTRAP_FIX}; see {log_file}", log_file=log_file,
        )
        progress.note("importing into Docker")
        for rel in _PRUNE:
            target = rootfs / rel
            if target.is_dir():
                shutil.rmtree(target)
                target.mkdir(parents=True)
        changes = [f"ENTRYPOINT {list(spec.entrypoint)!r}".replace("'", '"')]
        changes += [f"ENV {e}" for e in spec.env]
        changes.append(f"LABEL rollout-harness.rootfs={tag}")
        args = ["docker", "import", "--platform", "linux/amd64"]
        for change in changes:
            args += ["-c", change]
        args += ["-", ref]
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
        try:
            imported = subprocess.run(args, stdin=tar.stdout, capture_output=True, check=False)
        finally:
            if tar.stdout is not None:
                tar.stdout.close()
            tar.wait()
        if tar.returncode != 0 or imported.returncode != 0:
            raise NodeImageBuildError(
                f"docker import of {ref} failed: {imported.stderr.decode(errors='replace').strip()}",
                "check that the Docker engine is running and has free disk space",
            )
    return ref
