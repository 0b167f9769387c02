"""Building the node's Go binaries from the Go module proxy, with no registry and no git clone.

Each component is built from a small wrapper module the harness writes: ``go install pkg@version``
refuses modules whose go.mod has replace directives (Kubernetes and etcd both have them), and
Kubernetes' staging modules must be pinned to their published ``v0.X.Y`` tags.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from harness.cluster.build_progress import BuildProgress, GoPackages, stale_packages
from harness.cluster.versions import NodeVersions
from harness.errors import HarnessError, NodeImageBuildError
from harness.log import get_logger
from harness.shell import require_tool, run_step

__all__ = ["GoComponent", "build_component", "build_label", "component_labels", "components_for", "resolve_label"]

log = get_logger(__name__)

K8S_STAGING_MODULES = (
    "api", "apiextensions-apiserver", "apimachinery", "apiserver", "cli-runtime", "client-go",
    "cloud-provider", "cluster-bootstrap", "code-generator", "component-base", "component-helpers",
    "controller-manager", "cri-api", "cri-client", "csi-translation-lib", "dynamic-resource-allocation",
    "endpointslice", "externaljwt", "kms", "kube-aggregator", "kube-controller-manager", "kube-proxy",
    "kube-scheduler", "kubectl", "kubelet", "metrics", "mount-utils", "pod-security-admission",
    "sample-apiserver", "sample-cli-plugin", "sample-controller",
)

K8S_BINARIES = (
    "kubelet", "kubeadm", "kubectl", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
    "kube-proxy",
)

GO_FIX = "install Go >= 1.24 (https://go.dev/dl) and make sure the Go module proxy is reachable"


@dataclass(frozen=True)
class GoComponent:
    name: str
    module: str
    version: str
    binaries: dict[str, str]  # output name -> package path
    replaces: dict[str, str] = field(default_factory=dict)  # module -> version
    ldflags: str = ""
    tags: str = ""
    go_directive: str = "1.24.0"
    godebug: str = ""

    @property
    def dirname(self) -> str:
        return f"{self.name}-{self.version}"

    def go_mod(self) -> str:
        lines = [f"module rollout-harness.local/nodebuild/{self.name}", "", f"go {self.go_directive}", ""]
        if self.godebug:
            lines += [f"godebug {self.godebug}", ""]
        lines += [f"require {self.module} {self.version}", ""]
        if self.replaces:
            lines.append("replace (")
            lines += [f"\t{mod} => {mod} {ver}" for mod, ver in sorted(self.replaces.items())]
            lines += [")", ""]
        return "\n".join(lines)

    def stamp(self) -> str:
        return json.dumps(
            {"go.mod": self.go_mod(), "ldflags": self.ldflags, "tags": self.tags,
             "binaries": self.binaries},
            sort_keys=True,
        )


def _k8s_ldflags(v: NodeVersions) -> str:
    major, minor = v.kubernetes.removeprefix("v").split(".")[:2]
    # The version must be compiled in: kubeadm derives its skew rules and the image tags it
    # lists from it, and an unset version reads as v0.0.0-master.
    values = {
        "gitVersion": v.kubernetes, "gitMajor": major, "gitMinor": minor,
        "gitCommit": "0" * 40, "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
    }
    flags = [
        f"-X '{pkg}.{key}={val}'"
        for pkg in ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version")
        for key, val in values.items()
    ]
    return " ".join(flags)


def components_for(v: NodeVersions) -> list[GoComponent]:
    k8s = GoComponent(
        name="kubernetes",
        module="k8s.io/kubernetes",
        version=v.kubernetes,
        binaries={b: f"k8s.io/kubernetes/cmd/{b}" for b in K8S_BINARIES},
        replaces={f"k8s.io/{m}": v.staging for m in K8S_STAGING_MODULES},
        ldflags=_k8s_ldflags(v),
        tags="selinux,notest,grpcnotrace",
        godebug="default=go1.24",
    )
    etcd = GoComponent(
        name="etcd",
        module="go.etcd.io/etcd/server/v3",
        version=f"v{v.etcd}",
        binaries={"etcd": "go.etcd.io/etcd/server/v3"},
    )
    coredns = GoComponent(
        name="coredns",
        module="github.com/coredns/coredns",
        version=v.coredns,
        binaries={"coredns": "github.com/coredns/coredns"},
    )
    crictl = GoComponent(
        name="crictl",
        module="sigs.k8s.io/cri-tools",
        version=v.crictl,
        binaries={"crictl": "sigs.k8s.io/cri-tools/cmd/crictl"},
        ldflags=f"-X sigs.k8s.io/cri-tools/pkg/version.Version={v.crictl.removeprefix('v')}",
    )
    return [k8s, etcd, coredns, crictl]


def resolve_label(comp: GoComponent) -> str:
    return f"resolving the {comp.name} modules"


def build_label(binary: str) -> str:
    return f"building {binary}"


def component_labels(comp: GoComponent) -> list[str]:
    """The build steps of ``comp``, as the node-image build plans and times them."""
    return [resolve_label(comp), *(build_label(name) for name in comp.binaries)]


def _build_flags(comp: GoComponent) -> list[str]:
    flags = ["-trimpath"]
    if comp.tags:
        flags.append(f"-tags={comp.tags}")
    flags.append(f"-ldflags=all={comp.ldflags} -s -w".replace("all= ", "all="))
    return flags


def _stale(go: str, comp: GoComponent, pkg: str, work: Path, env: dict[str, str]) -> frozenset[str] | None:
    """The packages building ``pkg`` will compile, the build cache holding the others: the total the
    progress counts against. None when `go list` cannot tell; the build then shows a bare count."""
    try:
        proc = run_step(f"list the packages of {pkg}",
                        [go, "list", "-deps", *_build_flags(comp), "-f", "{{if .Stale}}{{.ImportPath}}{{end}}", pkg],
                        cwd=work, env=env, timeout=300, check=False)
    except HarnessError as exc:
        log.debug("no package count for %s: %s", pkg, exc.problem)
        return None
    if proc.returncode != 0:
        log.debug("no package count for %s: %s", pkg, proc.stderr.decode(errors="replace")[-500:])
        return None
    return stale_packages(proc.stdout.decode(errors="replace"))


def build_component(comp: GoComponent, build_root: Path, logs: Path, progress: BuildProgress) -> Path:
    """Build ``comp`` into ``build_root/<name>-<version>/out`` unless a matching stamp says it is done."""
    go = require_tool("go", GO_FIX)
    work = build_root / comp.dirname
    out = work / "out"
    stamp_file = work / "DONE"
    if stamp_file.exists() and stamp_file.read_text() == comp.stamp() and all(
        (out / name).is_file() for name in comp.binaries
    ):
        progress.skip(component_labels(comp), f"{comp.name} {comp.version}: cached")
        return out
    work.mkdir(parents=True, exist_ok=True)
    stamp_file.unlink(missing_ok=True)
    (work / "go.mod").write_text(comp.go_mod())
    (work / "go.sum").unlink(missing_ok=True)
    log_file = logs / f"go-{comp.name}.log"
    env = {
        "CGO_ENABLED": "0", "GOOS": "linux", "GOARCH": "amd64", "GOFLAGS": "-mod=mod",
        "GOTOOLCHAIN": os.environ.get("GOTOOLCHAIN", "local"),
    }
    fix = f"{GO_FIX}; see {log_file}"
    # `go get pkg@version` records every requirement of the wrapped module in go.mod and go.sum.
    targets = sorted({f"{pkg}@{comp.version}" for pkg in comp.binaries.values()})
    with progress.step(resolve_label(comp), log_file=log_file):
        run_step(f"resolve {comp.name} {comp.version}", [go, "get", *targets], error=NodeImageBuildError,
                 fix=fix, cwd=work, env=env, log_file=log_file)
    env["GOFLAGS"] = "-mod=readonly"
    out.mkdir(exist_ok=True)
    for name, pkg in comp.binaries.items():
        packages = GoPackages()
        with progress.step(build_label(name), log_file=log_file, watch=packages):
            packages.expected = _stale(go, comp, pkg, work, env)
            # -v prints each package as it is compiled: the progress counts them in the log.
            cmd = [go, "build", "-v", "-o", str(out / name), *_build_flags(comp), pkg]
            run_step(f"build {name} {comp.version}", cmd, error=NodeImageBuildError, fix=fix, cwd=work,
                     env=env, log_file=log_file)
    stamp_file.write_text(comp.stamp())
    return out
