"""`harness init`: the plan it makes from manifests, the errors that stop it, the file it writes."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import ConfigError, ManifestError, PrerequisiteMissingError
from harness.init import (
    InitPlan,
    ManifestSource,
    detect_source,
    init_scenario,
    manifests_text,
    parse_rendered,
    plan_init,
    read_source,
    scenario_text,
)
from harness.manifests import K8sObject, load_manifests
from harness.scenario import load_scenario, parse_scenario
from harness.validate import validate_scenario_file

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "manifests" / "sample-service"
EXAMPLE = ROOT / "examples" / "go-httpbin"
HERE = ManifestSource("directory", Path("here"))
runner = CliRunner()


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent-default"))
    monkeypatch.setenv("RH_STATE_DIR", str(tmp_path / "state"))


def deployment(name: str = "web", *, kind: str = "Deployment", image: str | None = "team/web:1.2.3",
               labels: dict[str, str] | None = None, ports: list[dict[str, Any]] | None = None,
               **container: Any) -> K8sObject:
    spec: dict[str, Any] = {"name": name, **container}
    if image is not None:
        spec["image"] = image
    spec["ports"] = ports if ports is not None else [{"name": "http", "containerPort": 8080}]
    pod_labels = labels or {"app": name}
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name},
            "spec": {"replicas": 2, "selector": {"matchLabels": pod_labels},
                     "template": {"metadata": {"labels": pod_labels}, "spec": {"containers": [spec]}}}}


def service(name: str = "web", *, selector: dict[str, str] | None = None, kind: str = "ClusterIP",
            ports: list[dict[str, Any]] | None = None, node_port: int | None = None) -> K8sObject:
    """A Service as users ship one: ClusterIP on port 8080 to the container port named http."""
    default = [{"name": "http", "port": 8080, "targetPort": "http",
                **({"nodePort": node_port} if node_port is not None else {})}]
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": kind, "selector": selector or {"app": "web"}, "ports": ports if ports is not None
                     else default}}


def config_map(name: str = "settings") -> K8sObject:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "b"}}


def text_of(plan: InitPlan, manifests: str = "manifests") -> str:
    return scenario_text(plan, manifests)


def words(text: str) -> str:
    """The text's words in one line: a comment too long for its field's line is wrapped above it."""
    return " ".join(text.replace("#", " ").split())


# Plans from real manifests


def test_the_sample_service_manifests_plan_a_run_of_the_sample_image_through_its_nodeport() -> None:
    plan = plan_init(read_source(detect_source(SAMPLE)), detect_source(SAMPLE))
    assert (plan.workload, plan.container, plan.service) == ("sample-service", "sample-service", "sample-service")
    assert plan.image == "sample" and plan.image_from == "sample"  # the harness builds and loads it
    assert plan.port.port == 80 and plan.port.node_port == 30080 and plan.port_key == 80
    assert plan.exposed_through == "sample-service"  # its own nodePort 30080: nothing added
    assert plan.objects is None and plan.notes == ()  # the directory serves as it stands
    assert plan.replicas == 3 and plan.name == "sample-service-rolling-restart"


def test_the_example_is_exposed_by_the_harness_and_its_image_loaded_when_local() -> None:
    source = detect_source(EXAMPLE / "manifests")
    plan = plan_init(read_source(source), source)
    assert plan.image == "rollout-harness-examples/go-httpbin:v2.26.0" and plan.image_from == "manifest"
    assert (plan.service, plan.service_type, plan.port.port, plan.port.target_port) == (
        "go-httpbin", "ClusterIP", 8080, "http")
    assert plan.exposed_through == "rh-expose-go-httpbin" and plan.objects is None
    assert plan.notes == (
        "the harness exposes Service go-httpbin port 8080 on its cluster through its own NodePort Service "
        "rh-expose-go-httpbin",
        "image rollout-harness-examples/go-httpbin:v2.26.0 is loaded from the local Docker engine when there; else "
        "the cluster's nodes must pull it, which a run checks before it deploys")


def test_a_given_image_replaces_the_manifests_one() -> None:
    plan = plan_init([deployment(), service()], HERE, image="registry.example/team/web:2.0")
    assert plan.image == "registry.example/team/web:2.0" and plan.image_from == "option"
    assert parse_scenario(yaml.safe_load(text_of(plan)), "x.yaml").target.image == "registry.example/team/web:2.0"


def test_a_workload_with_a_statefulset_beside_it_gets_a_directory_without_it_once_picked() -> None:
    objects = [deployment(), service(), deployment("db", kind="StatefulSet", labels={"app": "db"}), config_map()]
    with pytest.raises(ConfigError) as err:
        plan_init(objects, HERE)
    assert "Deployment/web, StatefulSet/db" in err.value.problem and "--workload" in err.value.fix
    plan = plan_init(objects, HERE, workload="web")
    # A run tests one workload of its manifests: the StatefulSet beside it is left out of them.
    assert plan.left_out == ("StatefulSet/db",) and plan.objects is not None
    assert [o["kind"] for o in plan.objects] == ["Deployment", "Service", "ConfigMap"]


def test_a_statefulset_gets_its_scenario_and_the_service_that_is_not_headless() -> None:
    sts = deployment(kind="StatefulSet")
    headless = service(name="web-pods")
    headless["spec"]["clusterIP"] = "None"
    plan = plan_init([sts, headless, service()], HERE)
    assert (plan.kind, plan.workload, plan.port.service) == ("StatefulSet", "web", "web")
    text = text_of(plan)
    assert "A rolling restart of StatefulSet/web" in text and "the StatefulSet must be whole again" in text
    loaded = parse_scenario(yaml.safe_load(text), "x.yaml")
    assert loaded.target.service == "web" and loaded.steps[0].action == "rollout-restart"


def test_a_statefulset_that_updates_on_delete_is_refused_with_what_to_write_instead() -> None:
    sts = deployment(kind="StatefulSet")
    sts["spec"]["updateStrategy"] = {"type": "OnDelete"}
    with pytest.raises(ManifestError) as err:
        plan_init([sts, service()], HERE)
    assert "OnDelete" in err.value.problem and "delete-pod" in err.value.fix


def test_several_deployments_picked_by_workload_get_a_manifests_directory_of_their_own() -> None:
    other = deployment("worker", labels={"app": "worker"})
    plan = plan_init([deployment(), other, service(), config_map()], HERE, workload="Deployment/web")
    assert plan.workload == "web" and plan.left_out == ("Deployment/worker",)
    assert plan.objects is not None and [o["metadata"]["name"] for o in plan.objects] == ["web", "web", "settings"]
    assert any("left out" in note and "Deployment/worker" in note for note in plan.notes)
    written = yaml.safe_load_all(manifests_text(plan))
    assert [o["kind"] for o in written] == ["Deployment", "Service", "ConfigMap"]


def test_a_service_picked_among_several_is_written_and_the_others_stay_in_the_manifests(tmp_path: Path) -> None:
    objects = [deployment(), service("web"), service("web-admin")]
    with pytest.raises(ManifestError) as err:
        plan_init(objects, HERE)
    assert "2 Services select the pods of Deployment/web: web, web-admin" in err.value.problem
    assert "set target.service" in err.value.fix and "--service NAME writes target.service" in err.value.fix
    plan = plan_init(objects, HERE, service="web-admin")
    # A run picks by target.service too: the directory is applied as the team ships it.
    assert plan.service == "web-admin" and plan.left_out == () and plan.objects is None
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "all.yaml").write_text(yaml.safe_dump_all(objects))
    result = init_scenario(tmp_path / "deploy", out=tmp_path / "s.yaml", service="web-admin")
    scenario = validate_scenario_file(result.scenario)
    assert (scenario.target.service, scenario.target.port) == ("web-admin", 8080)


def test_a_port_is_picked_by_number_or_name_among_several_and_written_as_given() -> None:
    ports = [{"name": "admin", "port": 9090, "targetPort": 9090}, {"name": "http", "port": 8080, "targetPort": "http"}]
    objects = [deployment(), service(ports=ports)]
    with pytest.raises(ManifestError) as err:
        plan_init(objects, HERE)
    assert "Service web has 2 ports: 9090 (admin), 8080 (http)" in err.value.problem
    assert "--port NUMBER (or its name) writes target.port" in err.value.fix
    by_name = plan_init(objects, HERE, port="http")
    by_number = plan_init(objects, HERE, port="8080")
    assert by_name.port == by_number.port and by_name.port.target_port == "http"
    assert (by_name.port_key, by_number.port_key) == ("http", 8080)
    assert parse_scenario(yaml.safe_load(text_of(by_name)), "x.yaml").target.port == "http"
    assert parse_scenario(yaml.safe_load(text_of(by_number)), "x.yaml").target.port == 8080


def test_a_service_with_nodeport_30080_on_the_chosen_port_is_its_own_way_in() -> None:
    ports = [{"name": "metrics", "port": 9090, "nodePort": 31000}, {"name": "http", "port": 80, "nodePort": 30080}]
    objects = [deployment(), service(kind="NodePort", ports=ports)]
    plan = plan_init(objects, HERE, port="http")
    assert plan.exposed_through == "web" and not any("exposes" in n for n in plan.notes)
    assert "its nodePort 30080 is the one the harness's cluster publishes on the host" in words(text_of(plan))
    # Traffic for the metrics port cannot get its own nodePort 30080 while the http port holds it.
    metrics = plan_init(objects, HERE, port="metrics")
    assert metrics.exposed_through is None
    assert "is claimed elsewhere in the manifests" in words(text_of(metrics))


def test_a_clusterip_service_is_exposed_through_a_nodeport_service_of_the_harness() -> None:
    plan = plan_init([deployment(), service()], HERE)
    assert plan.service_type == "ClusterIP" and plan.exposed_through == "rh-expose-web"
    assert any(n.startswith("the harness exposes Service web port 8080 on its cluster through its own NodePort "
                            "Service rh-expose-web") for n in plan.notes)
    text = text_of(plan)
    assert "NOTE" not in text and "own NodePort Service rh-expose-web" in words(text)


def test_a_namespace_in_the_manifests_is_removed_from_a_copy_and_the_source_is_left_alone() -> None:
    objects = [deployment(), service()]
    objects[0]["metadata"]["namespace"] = "prod"
    before = copy.deepcopy(objects)
    plan = plan_init(objects, HERE)
    assert plan.objects is not None and all("namespace" not in o["metadata"] for o in plan.objects)
    assert any("metadata.namespace removed from Deployment/web" in n for n in plan.notes)
    assert objects == before


def test_notes_name_a_target_port_no_container_declares_and_an_image_pulled_on_every_start() -> None:
    plan = plan_init([deployment(ports=[], image="team/web:latest"), service()], HERE)
    assert any("targets the port named 'http'" in n for n in plan.notes)
    assert any("pulls its image on every start" in n and "a loaded local image is not used" in n for n in plan.notes)
    pinned = plan_init([deployment(imagePullPolicy="IfNotPresent"), service()], HERE)
    assert not any("every start" in n or "targets the port" in n for n in pinned.notes)


def test_the_image_note_names_every_image_of_the_pod_template() -> None:
    web = deployment()
    web["spec"]["template"]["spec"]["initContainers"] = [{"name": "migrate", "image": "team/migrate:7"}]
    plan = plan_init([web, service()], HERE, image="team/web:2.0")
    assert any(n.startswith("images team/web:2.0, team/migrate:7 are loaded from the local Docker engine")
               for n in plan.notes), plan.notes


@pytest.mark.parametrize(("objects", "options", "error", "problem", "fix"), [
    ([config_map()], {}, ManifestError, "hold no Deployment", "Deployment and Service"),
    ([deployment(), deployment("agent", kind="DaemonSet")], {"workload": "agent"}, ManifestError,
     "DaemonSet/agent is a DaemonSet: not supported", "Deployment or a StatefulSet"),
    ([deployment(), service()], {"workload": "api"}, ConfigError,
     "--workload 'api': no such workload in the manifests (they hold Deployment/web)", "--workload"),
    ([deployment(), deployment("web", kind="StatefulSet")], {"workload": "web"}, ConfigError,
     "names several workloads: Deployment/web, StatefulSet/web", "Kind/NAME"),
    ([deployment(), service(selector={"app": "other"})], {}, ManifestError,
     "no Service selects the pods of Deployment/web", "spec.selector"),
    ([deployment(), service()], {"service": "api"}, ManifestError,
     "target.service api is not among the manifests of Deployment/web",
     "set target.service to one of: web; for harness init, --service NAME writes target.service"),
    ([deployment(), service(ports=[])], {}, ManifestError, "Service web has no ports", "add the port"),
    ([deployment(), service()], {"port": "8443"}, ManifestError,
     "target.port 8443 is not a port of Service web (its ports: 8080 (http))", "--port NUMBER"),
    ([deployment(image=None), service()], {}, ManifestError, "container web names no image", "--image"),
    ([{**deployment(), "spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}}}},
      service()], {}, ManifestError, "Deployment/web has no named container", "container"),
    ([deployment(), service()], {"name": "Web App"}, ConfigError, "--name 'Web App' cannot name a scenario",
     "lowercase"),
])
def test_what_init_refuses_names_the_choices_and_the_option(
        objects: list[K8sObject], options: dict[str, str], error: type[ConfigError], problem: str, fix: str) -> None:
    with pytest.raises(error) as err:
        plan_init(objects, HERE, **options)
    assert type(err.value) is error
    assert problem in err.value.problem, err.value.problem
    assert fix in err.value.fix, err.value.fix


def test_a_long_workload_name_gives_a_scenario_name_of_at_most_63_characters() -> None:
    long = "a" * 60
    plan = plan_init([deployment(long, labels={"app": "web"}), service()], HERE)
    assert len(plan.name) <= 63 and plan.name.endswith("-rolling-restart")
    assert parse_scenario(yaml.safe_load(text_of(plan)), "x.yaml").name == plan.name


# The scenario text


def test_the_text_round_trips_into_the_plan_and_the_defaults_it_states() -> None:
    plan = plan_init([deployment(), service()], HERE)
    scenario = parse_scenario(yaml.safe_load(text_of(plan, "../deploy")), "x.yaml")
    assert scenario.name == "web-rolling-restart" and scenario.expect == "pass"
    assert (scenario.target.manifests, scenario.target.image, scenario.target.service, scenario.target.port) == (
        "../deploy", "team/web:1.2.3", "web", 8080)
    assert [s.action for s in scenario.steps] == ["rollout-restart"]
    assert scenario.traffic.rate == 100 and scenario.traffic.connection_modes == ["keep-alive", "new"]
    assert scenario.gates.min_requests == 500


def test_every_field_of_the_text_carries_a_comment() -> None:
    lines = text_of(plan_init([deployment(), service()], HERE)).splitlines()
    for i, line in enumerate(lines):
        if line.lstrip().startswith("#"):
            continue
        assert " # " in line or lines[i - 1].lstrip().startswith("#"), line
        assert len(line) <= 110, line


def test_values_yaml_would_misread_are_quoted() -> None:
    plan = plan_init([deployment(image="team/web:1.0"), service("yes", selector={"app": "web"})], HERE,
                     name="1.10")
    scenario = parse_scenario(yaml.safe_load(text_of(plan, "on")), "x.yaml")
    assert (scenario.name, scenario.target.manifests, scenario.target.service) == ("1.10", "on", "yes")


# Writing the files


def test_init_writes_the_example_scenario_that_ships_with_it(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE / "manifests", tmp_path / "manifests")
    result = init_scenario(tmp_path / "manifests", out=tmp_path / "scenario.yaml")
    assert result.manifests is None
    # The shipped file is what init writes: regenerate it with init when init changes.
    assert result.scenario.read_text() == (EXAMPLE / "scenario.yaml").read_text()


def test_the_shipped_example_scenario_validates_and_points_at_its_manifests() -> None:
    scenario = validate_scenario_file(EXAMPLE / "scenario.yaml")
    assert scenario.manifests_dir() == (EXAMPLE / "manifests").resolve()


def test_paths_in_the_written_scenario_are_relative_to_its_directory(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "scenarios").mkdir()
    monkeypatch.chdir(tmp_path)  # anywhere but the scenario's directory
    result = init_scenario(SAMPLE, out=Path("scenarios") / "mine.yaml")
    loaded = load_scenario(result.scenario)
    assert Path(loaded.target.manifests or "").is_absolute() is False
    assert loaded.manifests_dir() == SAMPLE.resolve()
    assert validate_scenario_file(result.scenario).name == "sample-service-rolling-restart"


def test_an_existing_file_is_refused_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "s.yaml"
    out.write_text("mine\n")
    with pytest.raises(ConfigError) as err:
        init_scenario(SAMPLE, out=out)
    assert "already exists" in err.value.problem and "--force" in err.value.fix
    assert out.read_text() == "mine\n"
    init_scenario(SAMPLE, out=out, force=True)
    assert load_scenario(out).target.image == "sample"


def test_the_scenario_may_not_land_in_the_directory_whose_yaml_a_run_applies(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(SAMPLE, tmp_path / "deploy")
    monkeypatch.chdir(tmp_path / "deploy")
    with pytest.raises(ConfigError) as err:
        init_scenario(Path())
    assert "would apply it as a manifest" in err.value.problem and "--out ../" in err.value.fix
    assert sorted(p.name for p in (tmp_path / "deploy").iterdir()) == sorted(p.name for p in SAMPLE.iterdir())


def test_picked_objects_are_written_beside_the_scenario_and_load_as_a_manifests_directory(tmp_path: Path) -> None:
    source = tmp_path / "deploy"
    source.mkdir()
    docs = [deployment(), deployment("worker", labels={"app": "worker"}), service()]
    (source / "all.yaml").write_text(yaml.safe_dump_all(docs))
    result = init_scenario(source, out=tmp_path / "web.yaml", workload="web")
    assert result.manifests == tmp_path / "web-manifests" / "manifests.yaml"
    assert [o["metadata"]["name"] for o in load_manifests(tmp_path / "web-manifests")] == ["web", "web"]
    assert load_scenario(result.scenario).manifests_dir() == (tmp_path / "web-manifests").resolve()
    with pytest.raises(ConfigError):  # the written manifests are refused too, until forced
        init_scenario(source, out=tmp_path / "web.yaml", workload="web")
    (tmp_path / "web-manifests" / "stray.yaml").write_text("kind: ConfigMap\n")
    with pytest.raises(ConfigError) as err:
        init_scenario(source, out=tmp_path / "web.yaml", workload="web", force=True)
    assert "stray.yaml, which a run would apply too" in err.value.problem


def test_an_out_in_a_missing_directory_or_naming_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        init_scenario(SAMPLE, out=tmp_path / "nope" / "s.yaml")
    assert "does not exist" in err.value.problem
    with pytest.raises(ConfigError) as err:
        init_scenario(SAMPLE, out=tmp_path)
    assert "is a directory" in err.value.problem and "name the scenario file" in err.value.fix
    with pytest.raises(ManifestError):
        init_scenario(tmp_path / "absent", out=tmp_path / "s.yaml")


# Kustomizations and charts


def fake_tool(bin_dir: Path, name: str, output: str, code: int = 0) -> Path:
    """A stand-in for kubectl or helm on PATH: records its arguments, prints ``output``."""
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / f"{name}.out").write_text(output)
    script = bin_dir / name
    script.write_text(f'#!/bin/sh\necho "$@" > "{bin_dir}/{name}.args"\n/bin/cat "{bin_dir}/{name}.out"\n'
                      f'echo "rendering went wrong" >&2\nexit {code}\n')
    script.chmod(0o755)
    return bin_dir / f"{name}.args"


def test_a_kustomization_is_rendered_with_kubectl_and_written_beside_the_scenario(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text("resources: [../base]\n")
    rendered = deployment(), service()
    rendered[0]["metadata"]["namespace"] = "prod"
    args = fake_tool(tmp_path / "bin", "kubectl", yaml.safe_dump_all(list(rendered)))
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert detect_source(overlay).kind == "kustomize"
    result = init_scenario(overlay, out=tmp_path / "web.yaml")
    assert args.read_text().split() == ["kustomize", str(overlay)]
    assert result.manifests is not None
    objects = load_manifests(result.manifests.parent)
    assert [o["kind"] for o in objects] == ["Deployment", "Service"] and "namespace" not in objects[0]["metadata"]
    assert load_scenario(result.scenario).target.manifests == "web-manifests"


def test_a_helm_chart_is_rendered_as_a_release_named_like_the_chart(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    chart = tmp_path / "chart"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: Web_App\nversion: 0.1.0\n")
    args = fake_tool(tmp_path / "bin", "helm", "---\n# Source: web/templates/d.yaml\n" +
                     yaml.safe_dump_all([deployment(), service()]))
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("RH_CACHE_DIR", str(tmp_path / "cache"))  # no pinned helm there: the one on PATH
    objects = read_source(detect_source(chart))
    assert args.read_text().split() == ["template", "web-app", str(chart), "--skip-tests"]
    assert [o["kind"] for o in objects] == ["Deployment", "Service"]


@pytest.mark.parametrize(("marker", "tool"), [("kustomization.yaml", "kubectl"), ("Chart.yaml", "helm")])
def test_a_missing_renderer_is_a_prerequisite_error_naming_the_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, marker: str, tool: str) -> None:
    (tmp_path / marker).write_text("name: x\n")
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("RH_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(PrerequisiteMissingError) as err:
        read_source(detect_source(tmp_path))
    assert f"`{tool}` is not on PATH" in err.value.problem
    assert f"install {'kubectl' if tool == 'kubectl' else 'Helm 3'}" in err.value.fix


def test_a_renderer_that_fails_shows_its_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    fake_tool(tmp_path / "bin", "kubectl", "", code=1)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(ManifestError) as err:
        read_source(detect_source(tmp_path / "src"))
    assert "failed (exit code 1)" in err.value.problem and "rendering went wrong" in err.value.problem


@pytest.mark.parametrize(("text", "problem"), [
    ("", "rendered no Kubernetes objects"),
    ("- a list\n", "not a Kubernetes object"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", "not a Kubernetes object"),
])
def test_rendered_output_that_holds_no_objects_is_refused(text: str, problem: str) -> None:
    with pytest.raises(ManifestError) as err:
        parse_rendered(text, "kubectl kustomize x")
    assert problem in err.value.problem


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl, whose kustomize renders the overlay")
def test_a_real_kustomize_overlay_of_the_sample_service_plans_its_prefixed_names(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay"
    shutil.copytree(SAMPLE, overlay)
    (overlay / "kustomization.yaml").write_text(
        "resources: [deployment.yaml, service.yaml, pdb.yaml]\nnamePrefix: shop-\nnamespace: shop\n")
    source = detect_source(overlay)
    plan = plan_init(read_source(source), source)
    assert (plan.workload, plan.service, plan.image) == ("shop-sample-service", "shop-sample-service", "sample")
    assert plan.objects is not None and all("namespace" not in o["metadata"] for o in plan.objects)


# The command


def test_the_command_writes_a_scenario_that_validates(tmp_path: Path) -> None:
    out = tmp_path / "example.yaml"
    result = runner.invoke(app, ["init", "--manifests", str(EXAMPLE / "manifests"), "--out", str(out),
                                 "--name", "example"])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output and "it validates; run it with: harness run" in result.output
    assert "own NodePort Service rh-expose-go-httpbin" in result.output
    assert "loaded from the local Docker engine when there" in result.output and "kind load" not in result.output
    assert load_scenario(out).name == "example"


def test_the_command_says_when_the_scenario_does_not_validate_yet(tmp_path: Path) -> None:
    # Traffic is meant for the ClusterIP Service, while another one holds the node port the harness's
    # cluster publishes: the file is written, and the answer names what to change.
    legacy = service("web-legacy", kind="NodePort", node_port=30080)
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "all.yaml").write_text(yaml.safe_dump_all([deployment(), service(), legacy]))
    result = runner.invoke(app, ["init", "--manifests", str(tmp_path / "deploy"), "--out", str(tmp_path / "s.yaml"),
                                 "--service", "web"])
    assert result.exit_code == 1, result.output
    assert "it does not validate yet" in result.output
    assert "Service/web-legacy claims nodePort 30080" in result.output
    assert "drop the fixed nodePort from Service/web-legacy, or set target.service to it" in result.output
    assert "is claimed elsewhere in the manifests" in words((tmp_path / "s.yaml").read_text())


def test_the_command_refuses_ambiguity_with_exit_code_2_and_no_file(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "all.yaml").write_text(yaml.safe_dump_all([deployment(), service("a"), service("b")]))
    result = runner.invoke(app, ["init", "--manifests", str(tmp_path / "deploy"), "--out", str(tmp_path / "s.yaml")])
    assert result.exit_code == 2
    assert "2 Services select the pods of Deployment/web: a, b" in result.output
    assert "--service NAME" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "s.yaml").exists()
