"""Where a scenario's Kubernetes objects come from, and turning that into objects.

Three kinds of source: a directory of plain YAML (read as it is), a kustomization (rendered with
``kubectl kustomize``) and a Helm chart (rendered with ``helm template`` at the pinned version of
harness.cluster.helm). ``target.manifests`` names a directory, which is a kustomization when it holds
a kustomization file and a chart when it holds Chart.yaml; ``target.helm`` names a chart with its
values files, ``--set`` values and release name. Rendering happens before any cluster work; the
harness's own overrides are applied to the rendered objects afterwards, exactly as to plain files.

A renderer that fails is a ManifestError naming the command, showing the end of its own message and
saying what usually fixes it; a renderer that is missing is a PrerequisiteMissingError.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml

from harness.cluster.helm import ensure_helm
from harness.cluster.paths import cache_dir
from harness.cluster.versions import DEFAULT_K8S_VERSION
from harness.errors import ManifestError, PrerequisiteMissingError
from harness.manifests.load import K8sObject, ManifestDocument, load_documents
from harness.safe_yaml import parse_yaml, shorten

if TYPE_CHECKING:
    from harness.scenario import Scenario, TargetSection

__all__ = [
    "APPLIED_FILE",
    "KUSTOMIZATION_FILES",
    "RENDERED_FILE",
    "HelmOptions",
    "HelmValue",
    "ManifestSource",
    "RenderedSource",
    "SourceKind",
    "ToolUsed",
    "chart_release_name",
    "detect_source",
    "find_kubectl",
    "helm_template_args",
    "parse_rendered",
    "parse_rendered_documents",
    "read_source",
    "render_source",
    "scenario_source",
    "tool_failure_fix",
    "trim_stderr",
    "write_applied",
]

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# In a run directory: what the renderer wrote, as it wrote it; and every object the run applied, once
# the harness's overrides were set (the exact YAML sent to the API server, before the namespace).
RENDERED_FILE = "rendered.yaml"
APPLIED_FILE = "applied.yaml"
CHART_FILE = "Chart.yaml"
SourceKind = Literal["directory", "kustomize", "helm"]
HelmValue = str | int | float | bool

_RENDER_TIMEOUT_S = 120
_STDERR_LINES = 8
_STDERR_LINE_CHARS = 300
_RELEASE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_HELM_SOURCE = re.compile(r"^# Source: [^/\n]+/(?P<path>\S[^\n]*)$")


@dataclass(frozen=True, slots=True)
class HelmOptions:
    """How a chart is rendered: ``helm template RELEASE CHART --values F... --set K=V...``."""

    release: str | None = None  # None: the chart's own name, made a valid release name
    values: tuple[Path, ...] = ()
    set: tuple[tuple[str, HelmValue], ...] = ()


@dataclass(frozen=True, slots=True)
class ManifestSource:
    """Where the objects come from: a directory of plain YAML, a kustomization, or a Helm chart."""

    kind: SourceKind
    path: Path
    helm: HelmOptions = field(default_factory=HelmOptions)

    def describe(self, shown: str | None = None) -> str:
        where = shown or str(self.path)
        return {"directory": f"the manifests directory {where}",
                "kustomize": f"the kustomization {where} (kubectl kustomize)",
                "helm": f"the Helm chart {where} (helm template)"}[self.kind]


@dataclass(frozen=True, slots=True)
class ToolUsed:
    """The renderer that ran: its name, binary, the version it reports, and the exact command."""

    name: Literal["kubectl", "helm"]
    path: str
    version: str | None
    command: tuple[str, ...]
    pinned: bool = True  # helm only: whether it is harness.cluster.helm.HELM_VERSION

    def record(self) -> dict[str, object]:
        """As versions.json of a run holds it."""
        return {"tool": self.name, "path": self.path, "version": self.version, "pinned": self.pinned,
                "command": list(self.command)}


@dataclass(frozen=True, slots=True)
class RenderedSource:
    """The objects of a source, each with where it came from; ``text`` is what the renderer wrote."""

    source: ManifestSource
    documents: tuple[ManifestDocument, ...]
    tool: ToolUsed | None = None  # None: a plain directory, read as it is
    text: str | None = None

    @property
    def objects(self) -> list[K8sObject]:
        return [d.obj for d in self.documents]

    def record(self) -> dict[str, object]:
        """What versions.json of a run says about where its objects came from."""
        out: dict[str, object] = {"source": self.source.kind, "path": str(self.source.path)}
        if self.tool is not None:
            out.update(self.tool.record())
        return out


# Which source


def detect_source(directory: Path, *, named_by: str = "--manifests") -> ManifestSource:
    """What kind of manifests ``directory`` holds: a Helm chart, a kustomization, or plain YAML."""
    if not directory.is_dir():
        what = "is a file, not a directory" if directory.exists() else "does not exist"
        raise ManifestError(f"{named_by} {directory} {what}",
                            "name the directory that holds the service's Kubernetes manifests (plain YAML, a "
                            "kustomization or a Helm chart)")
    if (directory / CHART_FILE).is_file():
        return ManifestSource("helm", directory)
    if any((directory / name).is_file() for name in KUSTOMIZATION_FILES):
        return ManifestSource("kustomize", directory)
    return ManifestSource("directory", directory)


def scenario_source(scenario: Scenario, target: TargetSection | None = None) -> ManifestSource:
    """The source ``target`` (default: the scenario's) names, every path relative to the scenario file."""
    t = target or scenario.target
    if t.helm is None:
        return detect_source(scenario.manifests_dir(t), named_by="target.manifests")
    chart = scenario.resolve(t.helm.chart)
    packaged = chart.is_file() and chart.name.endswith((".tgz", ".tar.gz"))
    if not packaged and not (chart / CHART_FILE).is_file():
        what = ("does not exist" if not chart.exists() else
                "is a file, not a chart directory or packaged chart (.tgz)" if chart.is_file() else
                f"holds no {CHART_FILE}")
        raise ManifestError(f"target.helm.chart {shorten(t.helm.chart)}: {chart} {what}",
                            f"name a chart directory (the one holding {CHART_FILE}) or a packaged chart, relative to "
                            "the directory of the scenario file")
    values = tuple(scenario.resolve(v) for v in t.helm.values)
    for i, path in enumerate(values):
        if not path.is_file():
            what = "is a directory" if path.is_dir() else "does not exist"
            raise ManifestError(f"target.helm.values[{i}] {shorten(t.helm.values[i])}: {path} {what}",
                                "name a values file, relative to the directory of the scenario file")
    return ManifestSource("helm", chart, HelmOptions(release=t.helm.release, values=values,
                                                     set=tuple(t.helm.set.items())))


# Rendering


def render_source(source: ManifestSource, *, install: bool = True) -> RenderedSource:
    """The objects of ``source``; a kustomization or chart is rendered by its tool (``install``: the pinned
    helm may be built when missing)."""
    if source.kind == "directory":
        return RenderedSource(source, tuple(load_documents(source.path)))
    if source.kind == "kustomize":
        kubectl, version = find_kubectl(source)
        argv = [kubectl, "kustomize", str(source.path)]
        tool = ToolUsed("kubectl", kubectl, version, tuple(argv))
    else:
        helm = ensure_helm(install=install)
        argv = helm_template_args(helm.path, source)
        tool = ToolUsed("helm", helm.path, helm.version, tuple(argv), pinned=helm.pinned)
    text = _run_renderer(argv, source)
    return RenderedSource(source, tuple(parse_rendered_documents(text, source)), tool, text)


def read_source(source: ManifestSource, *, release: str | None = None) -> list[K8sObject]:
    """The objects of ``source``; ``release`` names the Helm release (default: the source's, else the chart's)."""
    if release is not None and source.kind == "helm":
        source = ManifestSource(source.kind, source.path, HelmOptions(release, source.helm.values, source.helm.set))
    return render_source(source).objects


def helm_template_args(helm: str, source: ManifestSource) -> list[str]:
    """The ``helm template`` command for ``source``: values files in order, then each ``set`` value (strings
    with --set-string, so that a tag such as 1.10 stays text)."""
    options = source.helm
    argv = [helm, "template", options.release or chart_release_name(source.path), str(source.path), "--skip-tests"]
    for values in options.values:
        argv += ["--values", str(values)]
    for key, value in options.set:
        flag = "--set-string" if isinstance(value, str) else "--set"
        argv += [flag, f"{key}={_set_value(value)}"]
    return argv


def _set_value(value: HelmValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    # Helm's --set parser splits on commas and reads backslash escapes.
    return str(value).replace("\\", "\\\\").replace(",", "\\,")


def chart_release_name(chart: Path) -> str:
    """The chart's own name as a valid release name: objects come out named as a user installing it sees."""
    data = None
    if chart.is_dir():
        try:
            data = yaml.safe_load((chart / CHART_FILE).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            data = None
    name = data.get("name") if isinstance(data, dict) else None
    fallback = chart.resolve().name.removesuffix(".tgz").removesuffix(".tar.gz")
    cleaned = re.sub(r"[^a-z0-9-]+", "-", (name if isinstance(name, str) else fallback).lower())
    cleaned = cleaned.strip("-")[:53].rstrip("-")
    return cleaned if _RELEASE.match(cleaned) else "release"


def find_kubectl(source: ManifestSource | None = None) -> tuple[str, str | None]:
    """kubectl (and the version it and its kustomize report): the one on PATH, else the one the node image
    build compiled (``harness cluster image``, which scripts/setup runs)."""
    path = shutil.which("kubectl")
    if path is None:
        built = cache_dir() / "nodeimage" / "go" / f"kubernetes-{DEFAULT_K8S_VERSION}" / "out" / "kubectl"
        path = str(built) if built.is_file() else None
    if path is None:
        where = f"{source.path} holds a kustomization file, and " if source is not None else ""
        raise PrerequisiteMissingError(
            f"{where}`kubectl` is not on PATH to render it with `kubectl kustomize` (nor built by the node image "
            "build in the harness's cache)",
            "install kubectl, or run scripts/setup (its node image build compiles one); or render the kustomization "
            "yourself (kustomize build DIR > OUT/all.yaml) and name OUT as the manifests directory")
    return path, _kubectl_version(path)


def _kubectl_version(path: str) -> str | None:
    try:
        proc = subprocess.run([path, "version", "--client", "-o", "json"], capture_output=True, check=False,
                              timeout=30)
        data = json.loads(proc.stdout.decode(errors="replace")) if proc.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    client = data.get("clientVersion")
    version = client.get("gitVersion") if isinstance(client, dict) else None
    kustomize = data.get("kustomizeVersion")
    if not isinstance(version, str):
        return None
    return f"{version} (kustomize {kustomize})" if isinstance(kustomize, str) else version


def _run_renderer(argv: list[str], source: ManifestSource) -> str:
    shown = " ".join(shlex.quote(a) for a in [Path(argv[0]).name, *argv[1:]])
    shown = shown if len(shown) <= 300 else shown[:297] + "..."
    try:
        proc = subprocess.run(argv, capture_output=True, check=False, timeout=_RENDER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ManifestError(f"`{shown}` did not finish within {_RENDER_TIMEOUT_S} s",
                            "check that it renders offline (no remote bases or chart dependencies to fetch)"
                            ) from None
    except OSError as exc:
        raise PrerequisiteMissingError(f"`{argv[0]}` cannot be run: {exc.strerror or exc}",
                                       "check that it is an executable kubectl or helm") from None
    if proc.returncode != 0:
        stderr = proc.stderr.decode(errors="replace")
        raise ManifestError(f"`{shown}` failed (exit code {proc.returncode}):\n{trim_stderr(stderr)}",
                            tool_failure_fix(source.kind, stderr))
    try:
        return proc.stdout.decode("utf-8")
    except UnicodeDecodeError:
        raise ManifestError(f"`{shown}` wrote output that is not UTF-8 text",
                            "check what the kustomization or chart renders") from None


def trim_stderr(stderr: str) -> str:
    """The last lines of a tool's message, each cut to a sensible length, indented under the problem."""
    lines = [line.rstrip() for line in stderr.strip().splitlines() if line.strip()]
    lines = [line if len(line) <= _STDERR_LINE_CHARS else line[: _STDERR_LINE_CHARS - 3] + "..."
             for line in lines[-_STDERR_LINES:]]
    return "\n".join(f"  {line}" for line in lines) or "  (it wrote no message)"


# What a failed render usually needs, by what the tool said. The first match wins.
_FIXES: tuple[tuple[SourceKind, str, str], ...] = (
    ("helm", "missing in charts/ directory",
     "fetch the chart's dependencies into its charts/ directory (helm dependency build CHART) before the run"),
    ("helm", "open ", "a file the command names is missing: check target.helm.values and the chart path"),
    ("helm", "parse error",
     "correct the template at the file and line named above (helm template --debug shows the rendered text)"),
    ("helm", "execution error",
     "the template failed on the values given: check target.helm.values and target.helm.set against the chart's "
     "values.yaml"),
    ("helm", "chart requires kubeVersion",
     "the chart refuses the Kubernetes version helm assumes: relax kubeVersion in Chart.yaml"),
    ("helm", "error converting YAML to JSON",
     "a template renders invalid YAML at the place named above (often indentation of an included block)"),
    ("kustomize", "accumulating resources",
     "a resource or base the kustomization lists cannot be read: check its resources: paths, relative to the "
     "kustomization's directory (remote bases need the network)"),
    ("kustomize", "no such file or directory",
     "a file the kustomization names is missing: check its paths, relative to the kustomization's directory"),
    ("kustomize", "invalid Kustomization",
     "correct the kustomization file: the field named above is not part of the Kustomization schema"),
)


def tool_failure_fix(kind: SourceKind, stderr: str) -> str:
    """The fix for a failed render, chosen by what the tool said."""
    for tool_kind, needle, fix in _FIXES:
        if tool_kind == kind and needle in stderr:
            return fix
    if kind == "helm":
        return "fix the chart or the values so that `helm template` renders; its message above says where"
    return "fix the kustomization so that `kubectl kustomize` renders; its message above says where"


def parse_rendered(text: str, where: str) -> list[K8sObject]:
    """The objects of a renderer's output: every non-empty document must be a named Kubernetes object."""
    return [d.obj for d in _documents(text, where, None)]


def parse_rendered_documents(text: str, source: ManifestSource) -> list[ManifestDocument]:
    """Like :func:`parse_rendered`, each object tied to its template file when Helm says which it is."""
    return _documents(text, source.describe(), source)


def _documents(text: str, where: str, source: ManifestSource | None) -> list[ManifestDocument]:
    templates = _helm_templates(text, source.path) if source is not None and source.kind == "helm" else {}
    documents: list[ManifestDocument] = []
    for doc in parse_yaml(text, where, error=ManifestError):
        obj = doc.data
        metadata = obj.get("metadata") if isinstance(obj, dict) else None
        if not (isinstance(obj, dict) and isinstance(obj.get("kind"), str) and isinstance(obj.get("apiVersion"), str)
                and isinstance(metadata, dict) and isinstance(metadata.get("name"), str) and metadata["name"]):
            raise ManifestError(f"{where}:{doc.line}: the document is not a Kubernetes object with apiVersion, "
                                "kind and metadata.name", "correct the template that renders it")
        template = _template_at(templates, doc.line)
        documents.append(ManifestDocument(obj=obj, path=template, line=None))
    if not documents:
        raise ManifestError(f"{where} rendered no Kubernetes objects",
                            "check that the kustomization or chart renders the service's Deployment and Service")
    return documents


def _helm_templates(text: str, chart: Path) -> Mapping[int, Path]:
    """Line number -> template file, from the ``# Source: CHART/templates/x.yaml`` lines Helm writes."""
    base = chart if chart.is_dir() else chart.parent
    found: dict[int, Path] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = _HELM_SOURCE.match(line)
        if match:
            found[number] = base / match.group("path")
    return found


def _template_at(templates: Mapping[int, Path], line: int) -> Path | None:
    before: Sequence[int] = [n for n in templates if n < line]
    return templates[max(before)] if before else None


def write_applied(path: Path, objects: Sequence[K8sObject]) -> None:
    """The objects a run applies, as one multi-document YAML file."""
    path.write_text(yaml.safe_dump_all(list(objects), sort_keys=False, default_flow_style=False, allow_unicode=True))
