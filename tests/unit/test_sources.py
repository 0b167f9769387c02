"""Manifest sources: detection, the renderers' command lines, their errors, the pinned helm, and real
rendering of the go-httpbin example's chart and kustomization when helm and kubectl are there."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
import yaml

from harness.cluster.helm import HELM_VERSION, cached_helm_path, ensure_helm, helm_version
from harness.errors import ManifestError, PrerequisiteMissingError, ScenarioError
from harness.manifests import Overrides, find_workload, render
from harness.manifests.sources import (
    HelmOptions,
    ManifestSource,
    chart_release_name,
    detect_source,
    find_kubectl,
    helm_template_args,
    parse_rendered,
    render_source,
    scenario_source,
    tool_failure_fix,
    trim_stderr,
    write_applied,
)
from harness.scenario import parse_scenario
from harness.validate import validate_scenario_file

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "go-httpbin"
IMAGE = "rollout-harness-examples/go-httpbin:v2.26.0"
OVERLAY_LABEL = "rollout-harness.example/overlay"


def fake_tool(bin_dir: Path, name: str, *, stdout: str = "", stderr: str = "", code: int = 0,
              version: str | None = None) -> Path:
    """A stand-in for helm, kubectl or go on PATH: records its arguments (one call a line), prints what it is
    told; ``version`` is what it answers to ``version``."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    (bin_dir / f"{name}.out").write_text(stdout)
    (bin_dir / f"{name}.err").write_text(stderr)
    answer = f'if [ "$1" = version ]; then printf "%s" "{version}"; exit 0; fi\n' if version is not None else ""
    script = bin_dir / name
    script.write_text(f'#!/bin/sh\necho "$@" >> "{bin_dir}/{name}.args"\n{answer}'
                      f'/bin/cat "{bin_dir}/{name}.out"\n/bin/cat "{bin_dir}/{name}.err" >&2\nexit {code}\n')
    script.chmod(0o755)
    return bin_dir / f"{name}.args"


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH holds only the fakes put in ``bin``; the harness's cache is empty."""
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("RH_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "bin"


def scenario_at(directory: Path, target: dict[str, object]) -> Path:
    path = directory / "s.yaml"
    path.write_text(yaml.safe_dump({"name": "s", "target": {"image": IMAGE, "service": "go-httpbin", **target},
                                    "traffic": {"connection_modes": ["new"]},
                                    "steps": [{"action": "rollout-restart"}]}))
    return path


def chart_dir(directory: Path, name: str = "web") -> Path:
    chart = directory / "chart"
    chart.mkdir()
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 0.1.0\n")
    return chart


# Detection


@pytest.mark.parametrize(("marker", "kind"), [("Chart.yaml", "helm"), ("kustomization.yaml", "kustomize"),
                                              ("kustomization.yml", "kustomize"), ("Kustomization", "kustomize"),
                                              ("deployment.yaml", "directory")])
def test_a_directory_is_detected_by_the_file_that_marks_it(tmp_path: Path, marker: str, kind: str) -> None:
    (tmp_path / marker).write_text("x: 1\n")
    assert detect_source(tmp_path).kind == kind


def test_a_missing_directory_is_named_by_the_field_that_names_it(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as err:
        detect_source(tmp_path / "nope", named_by="target.manifests")
    assert err.value.problem.startswith("target.manifests ") and "does not exist" in err.value.problem


def test_target_helm_paths_are_relative_to_the_scenario_file(tmp_path: Path) -> None:
    chart_dir(tmp_path)
    (tmp_path / "v.yaml").write_text("replicaCount: 2\n")
    path = scenario_at(tmp_path, {"helm": {"chart": "chart", "values": ["v.yaml"], "set": {"a.b": 1},
                                           "release": "web-1"}})
    scenario = parse_scenario(yaml.safe_load(path.read_text()), str(path))
    source = scenario_source(scenario)
    assert source == ManifestSource("helm", tmp_path / "chart",
                                    HelmOptions(release="web-1", values=(tmp_path / "v.yaml",), set=(("a.b", 1),)))
    recorded = scenario.with_absolute_paths().target.helm
    assert recorded is not None and (recorded.chart, recorded.values) == (str(tmp_path / "chart"),
                                                                          [str(tmp_path / "v.yaml")])


@pytest.mark.parametrize(("helm", "problem"), [
    ({"chart": "nowhere"}, "target.helm.chart 'nowhere': "),
    ({"chart": "empty"}, "holds no Chart.yaml"),
    ({"chart": "chart", "values": ["missing.yaml"]}, "target.helm.values[0] 'missing.yaml': "),
])
def test_a_chart_or_values_file_that_is_not_there_is_named(tmp_path: Path, helm: dict[str, object],
                                                            problem: str) -> None:
    chart_dir(tmp_path)
    (tmp_path / "empty").mkdir()
    path = scenario_at(tmp_path, {"helm": helm})
    with pytest.raises(ManifestError) as err:
        scenario_source(parse_scenario(yaml.safe_load(path.read_text()), str(path)))
    assert problem in err.value.problem


@pytest.mark.parametrize(("target", "message"), [
    ({"manifests": "m", "helm": {"chart": "c"}}, "target.manifests and target.helm both name"),
    ({"helm": {"chart": "c", "set": {"a=b": "x"}}}, "is not a Helm value path"),
    ({"helm": {"chart": "c", "release": "Web_App"}}, "target.helm.release"),
    ({"helm": {"chart": "c", "valuez": []}}, "unknown field"),
])
def test_the_helm_section_refuses_what_cannot_render(tmp_path: Path, target: dict[str, object], message: str) -> None:
    path = scenario_at(tmp_path, target)
    with pytest.raises(ScenarioError) as err:
        parse_scenario(yaml.safe_load(path.read_text()), str(path))
    assert message in err.value.problem


# The command lines


def test_helm_template_args_keep_values_in_order_and_strings_as_strings(tmp_path: Path) -> None:
    source = ManifestSource("helm", tmp_path / "c", HelmOptions(
        release="web", values=(tmp_path / "a.yaml", tmp_path / "b.yaml"),
        set=(("image.tag", "1.10"), ("replicaCount", 2), ("debug", True), ("args", "a,b\\c"))))
    assert helm_template_args("helm", source) == [
        "helm", "template", "web", str(tmp_path / "c"), "--skip-tests",
        "--values", str(tmp_path / "a.yaml"), "--values", str(tmp_path / "b.yaml"),
        "--set-string", "image.tag=1.10", "--set", "replicaCount=2", "--set", "debug=true",
        "--set-string", "args=a\\,b\\\\c"]


@pytest.mark.parametrize(("name", "release"), [("Web_App", "web-app"), ("x" * 80, "x" * 53), ("--", "release")])
def test_the_default_release_is_the_chart_name_made_valid(tmp_path: Path, name: str, release: str) -> None:
    assert chart_release_name(chart_dir(tmp_path, name)) == release


def test_a_chart_is_rendered_as_the_release_its_chart_names_by_default(isolated: Path) -> None:
    chart = chart_dir(isolated.parent, "Web_App")
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web"}}
    args = fake_tool(isolated, "helm", stdout="---\n# Source: web/templates/cm.yaml\n" + yaml.safe_dump(doc),
                     version=HELM_VERSION)
    rendered = render_source(detect_source(chart))
    assert args.read_text().splitlines()[-1].split() == ["template", "web-app", str(chart), "--skip-tests"]
    assert rendered.objects == [doc] and rendered.documents[0].path == chart / "templates" / "cm.yaml"
    assert rendered.tool is not None and (rendered.tool.version, rendered.tool.pinned) == (HELM_VERSION, True)
    assert rendered.record()["command"] == [str(isolated / "helm"), "template", "web-app", str(chart), "--skip-tests"]


# Errors


def test_a_failed_render_shows_the_end_of_the_tools_message_and_the_fix(isolated: Path) -> None:
    chart = chart_dir(isolated.parent)
    noise = "".join(f"warning {i}\n" for i in range(30))
    fake_tool(isolated, "helm", stderr=noise + "Error: found in Chart.yaml, but missing in charts/ directory: redis\n",
              code=1, version=HELM_VERSION)
    with pytest.raises(ManifestError) as err:
        render_source(detect_source(chart))
    problem = err.value.problem
    assert problem.startswith("`helm template web ") and "failed (exit code 1)" in problem
    assert "missing in charts/ directory: redis" in problem and "warning 29" in problem and "warning 3\n" not in problem
    assert "helm dependency build" in err.value.fix


def test_a_failed_kustomization_says_which_paths_to_check(isolated: Path) -> None:
    overlay = isolated.parent / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text("resources: [../base]\n")
    fake_tool(isolated, "kubectl", stderr="error: accumulating resources: accumulation err='...'\n", code=1)
    with pytest.raises(ManifestError) as err:
        render_source(detect_source(overlay))
    assert "accumulating resources" in err.value.problem and "resources: paths" in err.value.fix


@pytest.mark.parametrize(("kind", "stderr", "fix"), [
    ("helm", 'parse error at (web/templates/d.yaml:3): function "nope" not defined', "file and line"),
    ("helm", "execution error at (web/templates/d.yaml:1:3): image.tag is required", "target.helm.values"),
    ("helm", "Error: something new", "so that `helm template` renders"),
    ("kustomize", "Error: something new", "so that `kubectl kustomize` renders"),
])
def test_the_fix_is_chosen_by_what_the_tool_said(kind: str, stderr: str, fix: str) -> None:
    assert fix in tool_failure_fix(kind, stderr)  # type: ignore[arg-type]


def test_a_long_tool_message_is_trimmed_line_by_line() -> None:
    trimmed = trim_stderr("\n".join(["x" * 1000] * 20))
    assert len(trimmed.splitlines()) == 8 and all(len(line) <= 302 for line in trimmed.splitlines())
    assert trim_stderr("") == "  (it wrote no message)"


def test_output_that_is_not_objects_is_refused() -> None:
    with pytest.raises(ManifestError, match="not a Kubernetes object"):
        parse_rendered("- a\n", "x")


def test_no_kubectl_anywhere_is_a_prerequisite_error(isolated: Path) -> None:
    overlay = isolated.parent / "k"
    overlay.mkdir()
    (overlay / "Kustomization").write_text("resources: []\n")
    with pytest.raises(PrerequisiteMissingError) as err:
        render_source(detect_source(overlay))
    assert "`kubectl` is not on PATH" in err.value.problem and "install kubectl" in err.value.fix


def test_kubectl_built_by_the_node_image_build_is_used_when_none_is_on_path(isolated: Path) -> None:
    from harness.cluster.versions import DEFAULT_K8S_VERSION

    built = isolated.parent / "cache" / "nodeimage" / "go" / f"kubernetes-{DEFAULT_K8S_VERSION}" / "out"
    fake_tool(built, "kubectl", stdout='{"clientVersion": {"gitVersion": "v1.34.4"}, "kustomizeVersion": "v5.7.1"}')
    assert find_kubectl() == (str(built / "kubectl"), "v1.34.4 (kustomize v5.7.1)")


# The pinned helm


def test_the_cached_pinned_helm_wins_over_one_on_path(isolated: Path) -> None:
    fake_tool(isolated, "helm", version="v3.12.0")
    fake_tool(cached_helm_path().parent, "helm", version=HELM_VERSION)
    assert ensure_helm().path == str(cached_helm_path())


def test_a_helm_on_path_at_the_pinned_version_is_used_as_it_is(isolated: Path) -> None:
    fake_tool(isolated, "helm", version=HELM_VERSION)
    assert ensure_helm() == ensure_helm(install=False)
    assert ensure_helm().path == str(isolated / "helm") and ensure_helm().pinned


def test_helm_is_built_with_go_into_the_cache_at_the_pinned_version(isolated: Path) -> None:
    fake_tool(isolated, "helm", version="v3.12.0")
    go = isolated / "go"
    go.write_text('#!/bin/sh\necho "$GOBIN $CGO_ENABLED $@" >> "$0.args"\n/bin/mkdir -p "$GOBIN"\n'
                  f'printf \'#!/bin/sh\\nprintf {HELM_VERSION}\\n\' > "$GOBIN/helm"\n/bin/chmod +x "$GOBIN/helm"\n')
    go.chmod(0o755)
    helm = ensure_helm()
    assert (helm.path, helm.version, helm.pinned) == (str(cached_helm_path()), HELM_VERSION, True)
    assert (isolated / "go.args").read_text().strip() == " ".join([
        str(cached_helm_path().parent), "0", "install", "-ldflags",
        f"-X helm.sh/helm/v3/internal/version.version={HELM_VERSION}", f"helm.sh/helm/v3/cmd/helm@{HELM_VERSION}"])


def test_another_helm_is_used_only_when_the_pinned_one_cannot_be_had_and_says_so(
        isolated: Path, caplog: pytest.LogCaptureFixture) -> None:
    fake_tool(isolated, "helm", version="v3.12.0")
    with caplog.at_level(logging.WARNING):
        helm = ensure_helm()
    assert (helm.version, helm.pinned) == ("v3.12.0", False)
    assert f"not the pinned {HELM_VERSION}" in caplog.text and "v3.12.0" in caplog.text


def test_no_helm_and_no_go_is_a_prerequisite_error_with_the_install_command(isolated: Path) -> None:
    with pytest.raises(PrerequisiteMissingError) as err:
        ensure_helm()
    assert "`helm` is not on PATH" in err.value.problem
    assert f"go install -ldflags '-X helm.sh/helm/v3/internal/version.version={HELM_VERSION}'" in err.value.fix


# Real rendering of the example


def _pinned_helm() -> bool:
    return cached_helm_path().is_file() and helm_version(str(cached_helm_path())) == HELM_VERSION


needs_helm = pytest.mark.skipif(not _pinned_helm(), reason=f"needs helm {HELM_VERSION} in the harness's cache "
                                "(scripts/setup installs it)")
needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl for kubectl kustomize")


@needs_helm
def test_the_example_chart_renders_the_manifests_objects_with_its_values(tmp_path: Path) -> None:
    (tmp_path / "values.yaml").write_text("replicaCount: 2\npodLabels: {team: web}\n")
    path = scenario_at(tmp_path, {"helm": {"chart": str(EXAMPLE / "chart"), "values": ["values.yaml"],
                                           "set": {"preStopSeconds": 7}}})
    scenario = parse_scenario(yaml.safe_load(path.read_text()), str(path))
    rendered = render_source(scenario_source(scenario))
    assert rendered.tool is not None and rendered.tool.version == HELM_VERSION
    assert [(o["kind"], o["metadata"]["name"]) for o in rendered.objects] == [("Service", "go-httpbin"),
                                                                             ("Deployment", "go-httpbin")]
    deployment, _ = find_workload(rendered.objects)
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["template"]["metadata"]["labels"]["team"] == "web"
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == IMAGE and container["lifecycle"]["preStop"]["sleep"]["seconds"] == 7
    plain = yaml.safe_load((EXAMPLE / "manifests" / "deployment.yaml").read_text())
    assert container["readinessProbe"] == plain["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    # The harness's overrides apply to the rendered objects as to plain files.
    overridden, _ = find_workload(render(rendered.objects, Overrides(replicas=4, pre_stop_seconds=3)))
    assert overridden["spec"]["replicas"] == 4 and deployment["spec"]["replicas"] == 2
    validate_scenario_file(path)


@needs_helm
def test_a_chart_that_does_not_render_fails_validation_with_helms_message(tmp_path: Path) -> None:
    chart = shutil.copytree(EXAMPLE / "chart", tmp_path / "chart")
    (chart / "templates" / "broken.yaml").write_text("{{ .Values.image.tag | nope }}\n")
    with pytest.raises(ManifestError) as err:
        validate_scenario_file(scenario_at(tmp_path, {"helm": {"chart": "chart"}}))
    assert "target.helm" in err.value.problem and 'function "nope" not defined' in err.value.problem
    assert "file and line" in err.value.fix


@needs_kubectl
def test_the_example_kustomization_overlays_replicas_and_a_pod_label(tmp_path: Path) -> None:
    rendered = render_source(detect_source(EXAMPLE / "kustomize"))
    deployment, _ = find_workload(rendered.objects)
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["template"]["metadata"]["labels"][OVERLAY_LABEL] == "kustomize"
    assert OVERLAY_LABEL not in deployment["spec"]["selector"]["matchLabels"]
    assert rendered.tool is not None and rendered.tool.name == "kubectl" and rendered.text is not None
    validate_scenario_file(scenario_at(tmp_path, {"manifests": str(EXAMPLE / "kustomize")}))
    write_applied(tmp_path / "applied.yaml", rendered.objects)
    assert list(yaml.safe_load_all((tmp_path / "applied.yaml").read_text())) == rendered.objects


def test_the_kustomize_base_is_a_true_copy_of_the_manifests() -> None:
    # Kustomize reads no file outside a kustomization's directory, so the base holds copies.
    for name in ("deployment.yaml", "service.yaml"):
        assert (EXAMPLE / "kustomize" / "base" / name).read_bytes() == (EXAMPLE / "manifests" / name).read_bytes()
