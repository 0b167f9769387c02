"""The kind node image, built on this machine with no container registry.

Steps, each cached on its own:
1. Go binaries from the module proxy: Kubernetes, etcd, CoreDNS, crictl (``gobuild``).
2. The pause binary, static C, from the Kubernetes module's own source.
3. Two Debian root filesystems: the node base and the kube-proxy base (``rootfs``).
4. One image per control-plane component, kube-proxy, etcd, CoreDNS and pause, tagged with the
   exact names ``kubeadm config images list`` gives, saved to one archive.
5. Assembly: a container of the node base gets the binaries, the node files and a containerd
   store preloaded from that archive; it is committed as the node image only when every step
   has succeeded, so a half-built image is never tagged.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from harness.cluster import docker
from harness.cluster.build_progress import BuildProgress
from harness.cluster.gobuild import GoComponent, build_component, component_labels, components_for
from harness.cluster.paths import cache_dir
from harness.cluster.rootfs import NODE_PACKAGES, PROXY_PACKAGES, RootfsSpec, ensure_rootfs_image, rootfs_label
from harness.cluster.versions import NodeVersions
from harness.errors import NodeImageBuildError
from harness.log import get_logger
from harness.progress import human_duration
from harness.shell import require_tool, run_step

__all__ = ["NODE_REPOSITORY", "NodeImage", "build_node_image", "node_image_ref"]

log = get_logger(__name__)

NODE_REPOSITORY = "rollout-harness/kind-node"
CACHE_LABEL = "rollout-harness.node-cache-key"
GCC_FIX = "install a C compiler with static libc (apt-get install gcc libc6-dev)"

PAUSE_STEP = "building pause"
IMAGES_STEP = "building the component images"
SAVE_STEP = "saving the component images"
ASSEMBLE_STEP = "assembling the node image"


@dataclass(frozen=True)
class NodeImage:
    ref: str
    key: str
    built: bool  # False when it came from the cache
    seconds: float


def _files_digest() -> str:
    """A digest of the node files shipped in the package, so editing one rebuilds the image."""
    import hashlib

    digest = hashlib.sha256()
    root = resources.files("harness.cluster") / "files" / "node"
    with resources.as_file(root) as path:
        for file in sorted(p for p in Path(path).rglob("*") if p.is_file()):
            digest.update(str(file.relative_to(path)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def node_image_ref(v: NodeVersions) -> tuple[str, str]:
    key = v.cache_key(_files_digest(), ",".join(NODE_PACKAGES), ",".join(PROXY_PACKAGES))
    return f"{NODE_REPOSITORY}:{v.kubernetes}-{key}", key


def build_node_image(v: NodeVersions, *, force: bool = False) -> NodeImage:
    """Return the node image for ``v``, building whatever the cache does not already hold."""
    started = time.monotonic()
    docker.docker_available()
    ref, key = node_image_ref(v)
    if not force and docker.image_labels(ref).get(CACHE_LABEL) == key:
        log.info("node image %s: cached", ref)
        return NodeImage(ref, key, built=False, seconds=time.monotonic() - started)

    root = cache_dir() / "nodeimage"
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log.info("building node image %s (logs in %s)", ref, logs)

    components = components_for(v)
    base_spec = RootfsSpec("rollout-harness/node-base", v.debian_suite, NODE_PACKAGES,
                           entrypoint=("/sbin/init",), env=("container=docker",))
    proxy_spec = RootfsSpec("rollout-harness/proxy-base", v.debian_suite, PROXY_PACKAGES, entrypoint=("/bin/sh",))
    plan = [label for comp in components for label in component_labels(comp)]
    plan += [PAUSE_STEP, rootfs_label(base_spec), rootfs_label(proxy_spec), IMAGES_STEP, SAVE_STEP, ASSEMBLE_STEP]
    progress = BuildProgress(f"node image {ref}", plan, root)
    with progress.show():
        _build(v, ref, key, components, base_spec, proxy_spec, root, logs, progress)
    progress.save_timings()
    _remove_superseded(ref)
    elapsed = time.monotonic() - started
    log.info("node image %s built in %s", ref, human_duration(elapsed))
    return NodeImage(ref, key, built=True, seconds=elapsed)


def _build(
    v: NodeVersions, ref: str, key: str, components: list[GoComponent], base_spec: RootfsSpec,
    proxy_spec: RootfsSpec, root: Path, logs: Path, progress: BuildProgress,
) -> None:
    outputs: dict[str, Path] = {}
    k8s_dir: Path | None = None
    for comp in components:
        out = build_component(comp, root / "go", logs, progress)
        for name in comp.binaries:
            outputs[name] = out / name
        if comp.name == "kubernetes":
            k8s_dir = _module_dir(comp, root / "go")
    assert k8s_dir is not None
    outputs["pause"] = _build_pause(v, k8s_dir, root / "pause", logs, progress)
    expected = _kubeadm_images(outputs["kubeadm"], v)

    base = ensure_rootfs_image(base_spec, f"{v.debian_suite}-{v.cache_key(','.join(NODE_PACKAGES))}", logs,
                               progress)
    proxy_base = ensure_rootfs_image(proxy_spec, f"{v.debian_suite}-{v.cache_key(','.join(PROXY_PACKAGES))}",
                                     logs, progress)

    with tempfile.TemporaryDirectory(prefix="rh-nodeimage-") as tmp:
        work = Path(tmp)
        component_refs = _build_component_images(v, outputs, proxy_base, work, logs, progress)
        missing = sorted(set(expected) - set(component_refs))
        if missing:
            raise NodeImageBuildError(
                f"kubeadm {v.kubernetes} expects images the build does not make: {', '.join(missing)}",
                "update the per-release table in harness/cluster/versions.py to what "
                f"`kubeadm config images list --kubernetes-version {v.kubernetes}` prints",
            )
        archive = work / "images.tar"
        with progress.step(SAVE_STEP, log_file=logs / "assemble.log"):
            run_step("save component images", ["docker", "save", "-o", str(archive), *component_refs],
                     error=NodeImageBuildError, fix="check free disk space", log_file=logs / "assemble.log")
        try:
            with progress.step(ASSEMBLE_STEP, log_file=logs / "assemble.log"):
                _assemble(v, ref, key, base, outputs, archive, expected, logs, progress)
        finally:
            # The component images live on inside the node image; their registry.k8s.io names
            # are not left in the host's image list.
            for component in component_refs:
                docker.remove_image(component)


def _remove_superseded(ref: str) -> None:
    """Earlier node images of the same Kubernetes version whose cache key no longer matches."""
    repo, tag = ref.split(":", 1)
    prefix = tag.rsplit("-", 1)[0] + "-"
    proc = subprocess.run(["docker", "images", repo, "--format", "{{.Tag}}"], capture_output=True, check=False)
    for old in proc.stdout.decode().split():
        if old != tag and old.startswith(prefix):
            docker.remove_image(f"{repo}:{old}")


def _module_dir(comp: GoComponent, build_root: Path) -> Path:
    proc = subprocess.run(
        ["go", "mod", "download", "-json", f"{comp.module}@{comp.version}"],
        cwd=build_root / comp.dirname, capture_output=True, check=False,
    )
    if proc.returncode != 0:
        raise NodeImageBuildError(f"cannot locate the {comp.module} source: {proc.stdout.decode()[-500:]}",
                                  "check that the Go module proxy is reachable")
    return Path(json.loads(proc.stdout)["Dir"])


def _build_pause(v: NodeVersions, k8s_dir: Path, work: Path, logs: Path, progress: BuildProgress) -> Path:
    out = work / f"pause-{v.pause}"
    if out.is_file():
        progress.skip([PAUSE_STEP], f"pause {v.pause}: cached")
        return out
    with progress.step(PAUSE_STEP, log_file=logs / "pause.log"):
        return _compile_pause(v, k8s_dir, work, logs, out)


def _compile_pause(v: NodeVersions, k8s_dir: Path, work: Path, logs: Path, out: Path) -> Path:
    gcc = require_tool("gcc", GCC_FIX)
    source = k8s_dir / "build" / "pause" / "linux" / "pause.c"
    work.mkdir(parents=True, exist_ok=True)
    tmp = work / "pause.tmp"
    run_step("compile pause", [gcc, "-Os", "-Wall", "-Werror", "-static", f"-DVERSION=v{v.pause}-rh",
                               "-o", str(tmp), str(source)],
             error=NodeImageBuildError, fix=GCC_FIX, log_file=logs / "pause.log")
    run_step("strip pause", ["strip", str(tmp)], error=NodeImageBuildError, fix=GCC_FIX)
    tmp.rename(out)
    return out


def _kubeadm_images(kubeadm: Path, v: NodeVersions) -> list[str]:
    proc = run_step("kubeadm config images list",
                    [str(kubeadm), "config", "images", "list", "--kubernetes-version", v.kubernetes],
                    error=NodeImageBuildError, fix="the kubeadm build is broken; delete the cache and rebuild")
    return [line.strip() for line in proc.stdout.decode().splitlines() if line.strip()]


def _dockerfile_scratch(binary: str, path: str, user: str = "") -> str:
    lines = ["FROM scratch", f"COPY {binary} {path}", "ENV PATH=/usr/local/bin:/usr/bin:/bin"]
    if user:
        lines.append(f"USER {user}")
    lines.append(f'ENTRYPOINT ["{path}"]')
    return "\n".join(lines) + "\n"


def _build_component_images(
    v: NodeVersions, outputs: dict[str, Path], proxy_base: str, work: Path, logs: Path, progress: BuildProgress,
) -> list[str]:
    tag = v.kubernetes.replace("+", "_")
    specs: dict[str, tuple[str, str]] = {
        f"registry.k8s.io/kube-apiserver:{tag}": (
            "kube-apiserver", _dockerfile_scratch("kube-apiserver", "/usr/local/bin/kube-apiserver")),
        f"registry.k8s.io/kube-controller-manager:{tag}": (
            "kube-controller-manager",
            _dockerfile_scratch("kube-controller-manager", "/usr/local/bin/kube-controller-manager")),
        f"registry.k8s.io/kube-scheduler:{tag}": (
            "kube-scheduler", _dockerfile_scratch("kube-scheduler", "/usr/local/bin/kube-scheduler")),
        f"registry.k8s.io/kube-proxy:{tag}": (
            "kube-proxy",
            f"FROM {proxy_base}\nCOPY kube-proxy /usr/local/bin/kube-proxy\n"
            'ENTRYPOINT ["/usr/local/bin/kube-proxy"]\n'),
        f"registry.k8s.io/etcd:{v.etcd_image_tag}": ("etcd", _dockerfile_scratch("etcd", "/usr/local/bin/etcd")),
        f"registry.k8s.io/coredns/coredns:{v.coredns}": ("coredns", _dockerfile_scratch("coredns", "/coredns")),
        f"registry.k8s.io/pause:{v.pause}": ("pause", _dockerfile_scratch("pause", "/pause", user="65535:65535")),
    }
    log_file = logs / "component-images.log"
    with progress.step(IMAGES_STEP, log_file=log_file):
        for number, (image_ref, (binary, dockerfile)) in enumerate(specs.items(), start=1):
            progress.note(f"image {number}/{len(specs)}: {image_ref}")
            ctx = work / f"ctx-{binary}"
            ctx.mkdir()
            shutil.copy2(outputs[binary], ctx / binary)
            (ctx / binary).chmod(0o755)
            (ctx / "Dockerfile").write_text(dockerfile)
            run_step(f"image {image_ref}", ["docker", "build", "-q", "-t", image_ref, str(ctx)],
                     error=NodeImageBuildError, fix="check the Docker engine", env={"DOCKER_BUILDKIT": "0"},
                     log_file=log_file)
    return list(specs)


def _node_files_tar(v: NodeVersions, outputs: dict[str, Path]) -> bytes:
    """Everything the node needs on top of its Debian base, as one tar for ``docker cp``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:

        def add_bytes(name: str, data: bytes, mode: int = 0o644) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))

        root = resources.files("harness.cluster") / "files" / "node"
        with resources.as_file(root) as path:
            for file in sorted(p for p in Path(path).rglob("*") if p.is_file()):
                rel = str(file.relative_to(path))
                data = file.read_bytes().replace(b"@PAUSE_VERSION@", v.pause.encode())
                executable = rel.startswith("usr/local/bin/")
                add_bytes(rel, data, 0o755 if executable else 0o644)
        for name in ("kubelet", "kubeadm", "kubectl"):
            add_bytes(f"usr/bin/{name}", outputs[name].read_bytes(), 0o755)
        add_bytes("usr/local/bin/crictl", outputs["crictl"].read_bytes(), 0o755)
        add_bytes("kind/version", f"{v.kubernetes}\n".encode())
    return buf.getvalue()


def _assemble(
    v: NodeVersions, ref: str, key: str, base: str, outputs: dict[str, Path], archive: Path,
    expected: list[str], logs: Path, progress: BuildProgress,
) -> None:
    log_file = logs / "assemble.log"
    fix = f"see {log_file}; the build container was removed and nothing was tagged"
    name = f"rh-nodebuild-{key}-{int(time.time())}"
    run_step("start build container",
             ["docker", "run", "-d", "--name", name, "--privileged", "--entrypoint", "sleep",
              "--label", "rollout-harness.build=node-image", base, "infinity"],
             error=NodeImageBuildError, fix=fix, log_file=log_file)

    def sh(step: str, script: str) -> subprocess.CompletedProcess[bytes]:
        progress.note(step)
        return run_step(step, ["docker", "exec", name, "bash", "-euo", "pipefail", "-c", script],
                        error=NodeImageBuildError, fix=fix, log_file=log_file)

    try:
        progress.note("copying node files")
        run_step("copy node files", ["docker", "cp", "-", f"{name}:/"], input_bytes=_node_files_tar(v, outputs),
                 error=NodeImageBuildError, fix=fix, log_file=log_file)
        sh("configure systemd units", """
            rm -rf /opt/cni/bin && mkdir -p /opt/cni && ln -s /usr/lib/cni /opt/cni/bin
            mkdir -p /etc/kubernetes/manifests /var/lib/kubelet
            systemctl enable containerd kubelet rh-podnet
            systemctl mask systemd-binfmt.service apt-daily.timer apt-daily-upgrade.timer \
              getty@tty1.service console-getty.service e2scrub_all.timer fstrim.timer 2>/dev/null || true
            echo 'ReadKMsg=no' >> /etc/systemd/journald.conf
        """)
        progress.note("copying the image archive")
        run_step("copy image archive", ["docker", "cp", str(archive), f"{name}:/var/tmp/images.tar"],
                 error=NodeImageBuildError, fix=fix, log_file=log_file)
        progress.note("preloading the images into containerd")
        preload = run_step(
            "preload images into containerd",
            ["docker", "exec", name, "bash", "-euo", "pipefail", "-c", """
            mkdir -p /run/containerd
            (containerd > /var/tmp/containerd.log 2>&1 &)
            for i in $(seq 1 60); do ctr version >/dev/null 2>&1 && break; sleep 0.5; done
            ctr -n k8s.io images import --all-platforms --no-unpack /var/tmp/images.tar >&2
            ctr -n k8s.io images ls -q
            pkill -x containerd
            for i in $(seq 1 60); do pgrep -x containerd >/dev/null || break; sleep 0.5; done
            rm -rf /var/tmp/images.tar /var/tmp/containerd.log /run/containerd
            """],
            error=NodeImageBuildError, fix=fix,
        )
        present = set(preload.stdout.decode().split())
        missing = [image for image in expected if image not in present]
        if missing:
            raise NodeImageBuildError(
                f"containerd in the node image lacks {', '.join(missing)} after the import", fix)
        commit = ["docker", "commit",
                  "--change", 'ENTRYPOINT ["/usr/local/bin/rh-node-entrypoint", "/sbin/init"]',
                  "--change", "ENV container=docker",
                  "--change", f"LABEL {CACHE_LABEL}={key}",
                  "--change", f"LABEL rollout-harness.kubernetes={v.kubernetes}",
                  "--change", f"LABEL rollout-harness.images={','.join(expected)}",
                  name, ref]
        progress.note("committing the node image")
        run_step("commit node image", commit, error=NodeImageBuildError, fix=fix, log_file=log_file)
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True, check=False)
