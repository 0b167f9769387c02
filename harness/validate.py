"""Everything about a scenario that can be known without a cluster, checked before any cluster work.

A run creates or reuses a cluster and builds an image before it deploys anything, so a mistake in
the scenario, its manifests or its kubeconfig would otherwise show only minutes later. Here each is
named at once: the scenario's own fields (its loader), the manifests directory and what the API
server would refuse in it, as written and once the scenario's overrides are applied, the image
references, and the kubeconfig and context a run would use (read from the file; no cluster is
contacted).
"""

from __future__ import annotations

import functools
import json
import os
import re
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.builtin import scenario_location
from harness.cluster.kind import NODE_PORT, load_record
from harness.disruptions import check_steps_fit
from harness.errors import ConfigError, ManifestError, PrerequisiteMissingError, ScenarioError
from harness.exposure import choose_service, exposure_for
from harness.manifests import (
    ManifestDocument,
    Overrides,
    check_documents,
    find_workload,
    rejected_by_api,
    render,
)
from harness.manifests.scope import scope_documents
from harness.manifests.sources import render_source, scenario_source
from harness.safe_yaml import read_yaml, shorten
from harness.scenario import Scenario, load_scenario, parse_scenario

__all__ = [
    "FileResult",
    "Problem",
    "scenario_files",
    "validate_each",
    "validate_paths",
    "validate_replay",
    "validate_scenario",
    "validate_scenario_file",
]

_MAX_LINES = 14
_MAX_LINE = 500
_MAX_LISTED = 5  # findings quoted in one message
_KUBECONFIG_MAX_BYTES = 8 * 1_048_576

# The sample service's version is its image tag and its pods' version label: both rules at once.
_SAMPLE_VERSION = re.compile(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?")
# An image reference as the container runtime parses it (the distribution reference grammar).
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_HOST_PART}(?:\.{_HOST_PART})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_IMAGE_REF = re.compile(
    rf"(?:{_HOST}/)?{_PATH_PART}(?:/{_PATH_PART})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)


@dataclass(frozen=True, slots=True)
class Problem:
    """Why one scenario file (or path) cannot run, and what to change."""

    path: Path
    problem: str
    fix: str

    def format(self) -> str:
        return f"{self.problem}\n  fix: {self.fix}" if self.fix else self.problem


@dataclass(frozen=True, slots=True)
class FileResult:
    path: Path
    scenario: Scenario | None
    problem: Problem | None


@dataclass(frozen=True, slots=True)
class _Issue:
    error: type[ConfigError]
    problem: str
    fix: str


def validate_scenario_file(path: Path, *, context: str | None = None, kubeconfig: Path | None = None) -> Scenario:
    """The scenario at ``path``, once everything a run needs from it checks out.

    Raises a ConfigError leaf (ScenarioError, ManifestError or ConfigError) naming each problem.
    """
    try:
        scenario = load_scenario(path)
    except ConfigError as exc:
        raise _short(type(exc), _prefixed(str(path), exc.problem), exc.fix) from None
    return validate_scenario(scenario, context=context, kubeconfig=kubeconfig, where=str(path))


def validate_scenario(scenario: Scenario, *, context: str | None = None, kubeconfig: Path | None = None,
                      where: str | None = None) -> Scenario:
    """Check a loaded scenario the way :func:`validate_scenario_file` does; returns it unchanged."""
    where = where or scenario.source or scenario.name
    target = _target_issues(scenario)
    # The manifests are rendered with the target's overrides, so they wait until those are valid.
    issues = [*_cluster_issues(scenario, context, kubeconfig), *_image_issues(scenario), *target,
              *([] if target else _manifest_issues(scenario))]
    if issues:
        raise _combined(where, issues)
    if scenario.sweep is not None:  # every combination of its grid, as it would run
        from harness.sweep.plan import check_sweep_section

        check_sweep_section(scenario, context=context, kubeconfig=kubeconfig, where=where)
    return scenario


def scenario_files(paths: Sequence[Path]) -> tuple[list[Path], list[Problem]]:
    """The scenario files named by ``paths`` (directories hold *.yaml), and the paths that name none."""
    files: list[Path] = []
    problems: list[Problem] = []
    for given in paths:
        try:
            path = scenario_location(given)  # builtin:NAME
        except ConfigError as exc:
            problems.append(Problem(given, exc.problem, exc.fix))
            continue
        if path.is_dir():
            found = sorted(p for p in path.glob("*.yaml") if p.is_file() and not p.name.startswith("."))
            if not found:
                problems.append(Problem(path, f"{path}: no scenario files (*.yaml) in this directory",
                                        "pass a directory of scenarios, such as scenarios/, or a file"))
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            problems.append(Problem(path, f"{path}: no such file or directory",
                                    "check the path (scenarios live in scenarios/)"))
    return files, problems


def validate_each(paths: Sequence[Path], *, context: str | None = None, kubeconfig: Path | None = None
                  ) -> tuple[list[FileResult], list[Problem]]:
    """Each scenario file's result, in order, and the problems of paths that hold no scenario.

    Two files with the same scenario name are a problem of the second: a gate reports by name.
    """
    files, missing = scenario_files(paths)
    results: list[FileResult] = []
    names: dict[str, Path] = {}
    for path in files:
        try:
            scenario = validate_scenario_file(path, context=context, kubeconfig=kubeconfig)
        except ConfigError as exc:
            results.append(FileResult(path, None, Problem(path, exc.problem, exc.fix)))
            continue
        first = names.setdefault(scenario.name, path)
        if first != path:
            results.append(FileResult(path, None, Problem(
                path, f"{path}: the scenario name {scenario.name!r} is also the name of {first}",
                "give every scenario a name of its own; reports and --only address scenarios by name")))
            continue
        results.append(FileResult(path, scenario, None))
    return results, missing


def validate_paths(paths: Sequence[Path], *, context: str | None = None, kubeconfig: Path | None = None
                   ) -> list[Problem]:
    """Every problem of the scenario files named by ``paths`` (files, or directories of *.yaml)."""
    results, missing = validate_each(paths, context=context, kubeconfig=kubeconfig)
    return [*missing, *(r.problem for r in results if r.problem is not None)]


def validate_replay(run_dir: Path, *, context: str | None = None) -> Scenario:
    """The recorded scenario of ``run_dir``, checked against the target a replay would use."""
    scenario_path = run_dir / "scenario.json"
    data = _read_json(scenario_path)
    versions_path = run_dir / "versions.json"
    recorded = _read_json(versions_path) if versions_path.exists() else {}
    data.pop("source", None)
    try:
        scenario = parse_scenario(data, str(scenario_path))
    except ConfigError as exc:
        raise _short(type(exc), _prefixed(str(scenario_path), exc.problem), exc.fix) from None
    # As harness.replay picks it: the harness's own cluster again, or the context named then.
    recorded_context = recorded.get("context") if isinstance(recorded.get("context"), str) else None
    owned = recorded.get("owned_cluster", True) is not False
    named = context or (None if owned else recorded_context)
    kubeconfig = recorded.get("kubeconfig") if named and named == recorded_context else None
    return validate_scenario(scenario, context=named,
                             kubeconfig=Path(kubeconfig) if isinstance(kubeconfig, str) and kubeconfig else None,
                             where=str(scenario_path))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ConfigError(f"cannot read {path}: {shorten(str(exc), 200)}",
                          "pass a run directory written by `harness run` (it holds scenario.json)") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} is not a JSON object", "pass a run directory written by `harness run`")
    return data


# The cluster and the kube context


def _cluster_issues(scenario: Scenario, context: str | None, kubeconfig: Path | None) -> list[_Issue]:
    # The Kubernetes version is the loader's: it knows which node images exist.
    named_context = context or scenario.cluster.context
    written = scenario.cluster.kubeconfig
    named_config = kubeconfig or (scenario.resolve(written) if written else None)
    if named_context:
        return _context_issues(named_context, named_config)
    if named_config is not None:
        return [_Issue(ConfigError, f"kubeconfig {shorten(str(named_config))} is named but no context: the "
                       "harness would run on its own cluster and never read it",
                       "name the context too (--context or cluster.context), or drop the kubeconfig")]
    return []


def _context_issues(context: str, kubeconfig: Path | None) -> list[_Issue]:
    """The kubeconfig a run would load holds ``context``, whose cluster it also holds."""
    explicit = kubeconfig is not None
    if kubeconfig is None and context.startswith("kind-"):
        try:
            record = load_record(context.removeprefix("kind-"))
        except (OSError, ValueError, TypeError):
            record = None  # an unreadable record: the run treats the context as foreign too
        if record is not None:
            kubeconfig = Path(record.kubeconfig)
    # As the Kubernetes client reads them: a list of files, missing ones skipped, the first one winning.
    spec = str(kubeconfig) if kubeconfig is not None else os.environ.get("KUBECONFIG") or "~/.kube/config"
    candidates = [Path(os.path.expanduser(p)) for p in spec.split(os.pathsep) if p]
    files = [p for p in candidates if p.is_file()]
    where = ", ".join(str(p) for p in candidates) or spec
    if not files:
        source = "" if explicit or kubeconfig is not None else " (the default kubeconfig)"
        return [_Issue(ConfigError, f"context {shorten(context)} is named, but the kubeconfig {shorten(where, 200)}"
                       f"{source} does not exist",
                       "pass the file that holds the context with --kubeconfig (or cluster.kubeconfig)")]
    contexts: dict[str, Any] = {}
    clusters: set[str] = set()
    for path in files:
        try:
            documents = read_yaml(path, error=ConfigError, max_bytes=_KUBECONFIG_MAX_BYTES)
        except ConfigError as exc:
            return [_Issue(ConfigError, f"kubeconfig {exc.problem}", exc.fix)]
        data = documents[0].data if len(documents) == 1 else None
        if not isinstance(data, dict):
            return [_Issue(ConfigError, f"kubeconfig {path} is not one YAML mapping with contexts and clusters",
                           "pass a kubeconfig file (kubectl config view --flatten writes one)")]
        for entry in _named_entries(data.get("contexts")):
            contexts.setdefault(entry["name"], entry.get("context"))
        clusters.update(entry["name"] for entry in _named_entries(data.get("clusters")))
    if context not in contexts:
        have = ", ".join(_cut(name, 60) for name in sorted(contexts)[:8]) or "none"
        return [_Issue(ConfigError, f"kubeconfig {shorten(where, 200)} has no context {shorten(context)} "
                       f"(it has: {have})",
                       "name one of its contexts, or pass the kubeconfig that holds this one")]
    body = contexts[context]
    cluster = body.get("cluster") if isinstance(body, dict) else None
    if not isinstance(cluster, str) or cluster not in clusters:
        return [_Issue(ConfigError, f"kubeconfig {shorten(where, 200)}: context {shorten(context)} names cluster "
                       f"{shorten(cluster)}, which the kubeconfig does not hold",
                       "fix the context's cluster entry (kubectl config get-contexts shows it)")]
    return []


def _named_entries(value: Any) -> list[dict[str, Any]]:
    """The entries of a kubeconfig list (contexts, clusters) that have a name."""
    if not isinstance(value, list):
        return []
    return [e for e in value if isinstance(e, dict) and isinstance(e.get("name"), str)]


# Images and versions


def _image_issues(scenario: Scenario) -> list[_Issue]:
    issues: list[_Issue] = []
    sample = scenario.target.image == "sample"
    if not sample and not _is_image_ref(scenario.target.image):
        issues.append(_bad_image("target.image", scenario.target.image))
    if sample and scenario.target.version is not None:
        issues.extend(_version_issues("target.version", scenario.target.version))
    if not sample and scenario.target.version is not None:
        issues.append(_Issue(ScenarioError, "target.version is set but target.image is not 'sample': only the "
                             "sample service is built at a version, so it would be ignored",
                             "drop target.version, or set target.image: sample"))
    for i, step in enumerate(scenario.steps):
        image, version = getattr(step, "image", None), getattr(step, "version", None)
        if image is not None and not _is_image_ref(str(image)):
            issues.append(_bad_image(f"steps[{i}].image", str(image)))
        if version is not None:
            if sample:
                issues.extend(_version_issues(f"steps[{i}].version", str(version)))
            elif image is None:
                issues.append(_Issue(ScenarioError, f"steps[{i}].version is set but target.image is not 'sample', "
                                     "so there is no image to build at that version",
                                     f"give steps[{i}] an image reference instead of a version"))
    return issues


def _is_image_ref(ref: str) -> bool:
    return len(ref) <= 255 and _IMAGE_REF.fullmatch(ref) is not None


def _bad_image(field: str, ref: str) -> _Issue:
    return _Issue(ScenarioError, f"{field} {shorten(ref)} is not an image reference",
                  "write a reference such as registry.example/team/service:1.2.3 (lowercase repository, "
                  "optional :tag and @sha256:digest), or 'sample' for the sample service")


def _version_issues(field: str, version: str) -> list[_Issue]:
    if version != "latest" and _SAMPLE_VERSION.fullmatch(version):
        return []
    return [_Issue(ScenarioError, f"{field} {shorten(version)} cannot be a sample service version: it is the "
                   "image tag and the pods' version label",
                   "use a version such as 0.1.1 (at most 63 of letters, digits, '.', '_', '-', alphanumeric at "
                   "both ends; never 'latest')")]


# The target: its URL, paths and overrides


def _target_issues(scenario: Scenario) -> list[_Issue]:
    t = scenario.target
    issues: list[_Issue] = []
    if t.url is not None:
        try:
            parsed = urllib.parse.urlsplit(t.url)
            parsed.port  # noqa: B018 - raises ValueError for a port that is not a number in range
            good = parsed.scheme in ("http", "https") and bool(parsed.hostname)
        except ValueError:
            good = False
        if not good:
            issues.append(_Issue(ScenarioError, f"target.url {shorten(t.url)} is not an http:// or https:// URL "
                                 "with a host", "write it like http://127.0.0.1:30080"))
    issues.extend(_override_issues("target", lambda: _overrides(scenario, t.image)))
    for i, step in enumerate(scenario.steps):
        env = getattr(step, "env", None)
        if env:
            issues.extend(_override_issues(f"steps[{i}]", functools.partial(Overrides, env=env)))
    return issues


def _sample_image(version: str | None) -> tuple[str, str | None]:
    """The reference and version label a run gives the sample service, without building it."""
    from harness.image import SAMPLE_REPOSITORY, sample_service_dir, sample_version

    if version is None:
        try:
            version = sample_version(sample_service_dir())
        except (OSError, UnicodeDecodeError):
            version = None  # the build names a missing VERSION file; the label is then unknown here
    return (f"{SAMPLE_REPOSITORY}:{version}" if version else f"{SAMPLE_REPOSITORY}:0.0.0"), version


def _overrides(scenario: Scenario, image: str) -> Overrides:
    t = scenario.target
    label: str | None = None
    if image == "sample":
        image, label = _sample_image(t.version)
    return Overrides(
        image=image, env=t.env, replicas=t.replicas, max_surge=t.max_surge, max_unavailable=t.max_unavailable,
        termination_grace_period_seconds=t.termination_grace_period_seconds,
        pre_stop_seconds=t.pre_stop_seconds, version_label=label,
    )


_OVERRIDE_FIELDS = {"version_label": "version", "image": "image"}


def _override_issues(prefix: str, build: Callable[[], object]) -> list[_Issue]:
    try:
        build()
    except ValidationError as exc:
        issues = []
        for err in exc.errors()[:_MAX_LISTED]:
            loc = [str(p) for p in err["loc"]]
            if loc:
                loc[0] = _OVERRIDE_FIELDS.get(loc[0], loc[0])
            field = ".".join([prefix, *loc])
            message = str(err["msg"]).removeprefix("Value error, ")
            shown = f" {shorten(err['input'])}" if loc and "input" in err else ""
            issues.append(_Issue(ScenarioError, f"{field}{shown}: {message}",
                                 "correct the field; see scenarios/README.md for its allowed values"))
        return issues
    except ConfigError as exc:
        return [_Issue(type(exc), exc.problem, exc.fix)]
    return []


# The manifests


def _manifest_issues(scenario: Scenario) -> list[_Issue]:
    t = scenario.target
    directory = scenario.manifests_dir()
    field = "target.helm" if t.helm is not None else "target.manifests"
    if t.helm is None and not directory.is_dir():
        what = "is a file, not a directory" if directory.exists() else "does not exist"
        return [_Issue(ManifestError, f"target.manifests {shorten(t.manifests)}: {directory} {what}",
                       "name a directory of *.yaml manifests, relative to the directory of the scenario file "
                       "(such as ../manifests/sample-service), or an absolute path")]
    try:
        # A kustomization or chart is rendered by its tool here, before any cluster work.
        documents = list(render_source(scenario_source(scenario)).documents)
        # As written first: rendering reads the objects and would stumble on the same shapes.
        rejected = _rejected(documents, "")
        if rejected:
            return rejected
        # Namespaces and cluster-scoped objects as a run places them; kinds only discovery knows wait for it.
        documents = scope_documents(documents, namespace=None, policy=t.cluster_scoped).namespaced
        rendered = render([d.obj for d in documents], _overrides(scenario, t.image))
        deployment, _ = find_workload(rendered)
    except ManifestError as exc:
        return [_Issue(ManifestError, _prefixed(field, exc.problem), exc.fix)]
    except PrerequisiteMissingError as exc:  # the renderer is missing: the scenario cannot run here as it is
        return [_Issue(ManifestError, _prefixed(field, exc.problem), exc.fix)]
    try:
        check_steps_fit(scenario, deployment)
    except ScenarioError as exc:
        return [_Issue(ScenarioError, exc.problem, exc.fix)]
    applied = [ManifestDocument(obj=obj, path=doc.path, line=doc.line)
               for doc, obj in zip(documents, rendered, strict=True)]
    issues = _rejected(applied, " once the scenario's target settings are applied")
    try:
        chosen = choose_service(rendered, deployment, service=t.service, port=t.port)
        if t.url is None:
            exposure_for(rendered, chosen, NODE_PORT)
    except ManifestError as exc:
        where = scenario.resolve(t.helm.chart) if t.helm is not None else directory
        issues.append(_Issue(ManifestError, f"{where}: {exc.problem}", exc.fix))
    return issues


def _rejected(documents: Sequence[ManifestDocument], when: str) -> list[_Issue]:
    findings = rejected_by_api(check_documents(documents))
    if not findings:
        return []
    lines = [f"  {f.object}{f' ({f.file})' if f.file else ''}: {f.problem}" for f in findings[:_MAX_LISTED]]
    if len(findings) > _MAX_LISTED:
        lines.append(f"  and {len(findings) - _MAX_LISTED} more (harness manifests check DIR lists them all)")
    return [_Issue(ManifestError, f"the API server would reject the manifests{when}:\n" + "\n".join(lines),
                   findings[0].fix if len(findings) == 1 else "correct each field named above")]


# Messages


def _prefixed(where: str, problem: str) -> str:
    return problem if problem.startswith(where) else f"{where}: {problem}"


def _combined(where: str, issues: Sequence[_Issue]) -> ConfigError:
    kinds = {issue.error for issue in issues}
    error = kinds.pop() if len(kinds) == 1 else ConfigError
    if len(issues) == 1:
        return _short(error, _prefixed(where, issues[0].problem), issues[0].fix)
    lines = [f"{where}: {len(issues)} problems"]
    for issue in issues:
        lines.append(f"  {_indent(issue.problem)}")
        lines.append(f"    fix: {issue.fix}")
    return _short(error, "\n".join(lines), "correct each problem above")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _indent(text: str) -> str:
    return text.replace("\n", "\n  ")


def _short(error: type[ConfigError], problem: str, fix: str) -> ConfigError:
    """The error with its message cut to a few lines of reasonable length, whatever the input was."""
    return error(_cut_lines(problem.splitlines() or [""]), _cut_lines(fix.splitlines() or [""], 3))


def _cut_lines(lines: Iterable[str], limit: int = _MAX_LINES) -> str:
    cut = [line if len(line) <= _MAX_LINE else line[: _MAX_LINE - 3] + "..." for line in lines]
    if len(cut) > limit:
        cut = [*cut[: limit - 1], f"... ({len(cut) - limit + 1} more lines)"]
    return "\n".join(cut)
