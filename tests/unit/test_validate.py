"""Validation before any cluster work: what it accepts, what it names, and how it reads kubeconfigs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.errors import ConfigError, ManifestError, ScenarioError
from harness.validate import (
    scenario_files,
    validate_each,
    validate_paths,
    validate_replay,
    validate_scenario_file,
)

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
GOOD = ROOT / "manifests" / "sample-service"

KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "prod", "cluster": {"server": "https://10.0.0.1:6443"}}],
    "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "me"}},
                 {"name": "broken", "context": {"cluster": "missing", "user": "me"}}],
    "users": [{"name": "me", "user": {"token": "x"}}],
}


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent-default"))
    monkeypatch.setenv("RH_STATE_DIR", str(tmp_path / "state"))


def scenario(tmp_path: Path, name: str = "s.yaml", **sections: Any) -> Path:
    data = yaml.safe_load((SCENARIOS / "rolling-restart.yaml").read_text())
    data["target"]["manifests"] = str(GOOD)  # the shipped file's path is relative to scenarios/
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def variant(tmp_path: Path) -> Path:
    target = tmp_path / "variant"
    shutil.copytree(GOOD, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def kubeconfig(tmp_path: Path, data: Any = None) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(KUBECONFIG if data is None else data))
    return path


def test_every_shipped_scenario_is_valid() -> None:
    results, missing = validate_each([SCENARIOS])
    assert missing == []
    assert [r.problem for r in results if r.problem is not None] == []
    assert len(results) == len(list(SCENARIOS.glob("*.yaml"))) >= 10


def test_a_valid_scenario_comes_back_loaded(tmp_path: Path) -> None:
    loaded = validate_scenario_file(scenario(tmp_path))
    assert loaded.name == "rolling-restart"


# The manifests a run needs


def test_missing_manifests_directory_is_named_with_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as info:
        validate_scenario_file(scenario(tmp_path, target={"manifests": "gone/variant"}))
    assert "target.manifests 'gone/variant'" in info.value.problem
    assert "does not exist" in info.value.problem
    assert str(tmp_path / "s.yaml") in info.value.problem


def test_manifests_the_api_would_reject_are_errors_with_file_and_field(tmp_path: Path) -> None:
    directory = variant(tmp_path)
    edit(directory / "service.yaml", "  selector:\n    app.kubernetes.io/name: sample-service",
         "  selector:\n    - app.kubernetes.io/name: sample-service")
    with pytest.raises(ManifestError) as info:
        validate_scenario_file(scenario(tmp_path, target={"manifests": str(directory)}))
    problem = info.value.problem
    assert "the API server would reject the manifests:" in problem
    assert f"Service/sample-service ({directory / 'service.yaml'}:3)" in problem
    assert "spec.selector is" in problem and "(a list), not a mapping" in problem


def test_lint_errors_that_the_api_accepts_do_not_block_a_run(tmp_path: Path) -> None:
    # The naive variant loses requests (that is what its scenarios prove) but deploys fine.
    loaded = validate_scenario_file(scenario(tmp_path, target={"manifests": str(ROOT / "manifests" /
                                                                              "sample-service-naive")}))
    assert loaded.target.manifests.endswith("sample-service-naive")


def test_an_override_the_api_would_reject_is_named_as_such(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as info:
        validate_scenario_file(scenario(tmp_path, target={"pre_stop_seconds": 60}))
    assert "once the scenario's target settings are applied" in info.value.problem
    assert "sleep.seconds (60) is above terminationGracePeriodSeconds (30)" in info.value.problem


def test_the_run_needs_a_service_that_selects_the_deployment(tmp_path: Path) -> None:
    directory = variant(tmp_path)
    (directory / "service.yaml").unlink()
    with pytest.raises(ManifestError, match="no Service selects the pods of Deployment/sample-service"):
        validate_scenario_file(scenario(tmp_path, target={"manifests": str(directory)}))


def test_any_service_validates_as_the_harness_exposes_it_itself(tmp_path: Path) -> None:
    directory = variant(tmp_path)
    edit(directory / "service.yaml", "nodePort: 30080", "nodePort: 30555")
    validate_scenario_file(scenario(tmp_path, target={"manifests": str(directory)}))
    edit(directory / "service.yaml", "      nodePort: 30555\n", "")
    edit(directory / "service.yaml", "type: NodePort", "type: ClusterIP")
    validate_scenario_file(scenario(tmp_path, target={"manifests": str(directory)}))


def test_another_service_holding_the_mapped_node_port_is_refused(tmp_path: Path) -> None:
    directory = variant(tmp_path)
    text = (directory / "service.yaml").read_text()
    (directory / "other.yaml").write_text(text.replace("name: sample-service\n", "name: admin\n", 1))
    edit(directory / "service.yaml", "      nodePort: 30080\n", "")
    with pytest.raises(ManifestError, match=r"Service/admin claims nodePort 30080"):
        validate_scenario_file(scenario(tmp_path, target={"manifests": str(directory), "service": "sample-service"}))
    # With a URL of its own the traffic does not depend on the mapping.
    validate_scenario_file(scenario(tmp_path, target={"manifests": str(directory), "service": "sample-service",
                                                      "url": "http://10.1.2.3:8080"}))


def test_two_services_need_target_service(tmp_path: Path) -> None:
    directory = variant(tmp_path)
    text = (directory / "service.yaml").read_text().replace("      nodePort: 30080\n", "")
    (directory / "other.yaml").write_text(text.replace("name: sample-service\n", "name: admin\n", 1))
    with pytest.raises(ManifestError, match=r"2 Services select the pods of Deployment/sample-service: "):
        validate_scenario_file(scenario(tmp_path, target={"manifests": str(directory)}))
    validate_scenario_file(scenario(tmp_path, target={"manifests": str(directory), "service": "sample-service"}))


def test_target_port_must_be_a_port_of_the_service(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"target.port 9999 is not a port of Service sample-service \(its ports: "
                                            r"80 \(http\)\)"):
        validate_scenario_file(scenario(tmp_path, target={"port": 9999}))
    validate_scenario_file(scenario(tmp_path, target={"port": "http"}))
    validate_scenario_file(scenario(tmp_path, target={"port": 80}))


def test_target_service_must_select_the_workload(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"target.service frontend is not among the manifests of "
                                            r"Deployment/sample-service"):
        validate_scenario_file(scenario(tmp_path, target={"service": "frontend"}))
    validate_scenario_file(scenario(tmp_path, target={"service": "sample-service"}))


def test_two_deployments_are_refused(tmp_path: Path) -> None:
    directory = variant(tmp_path)
    second = (directory / "deployment.yaml").read_text().replace("name: sample-service\n", "name: second\n", 1)
    (directory / "second.yaml").write_text(second)
    with pytest.raises(ManifestError, match="2 Deployments"):
        validate_scenario_file(scenario(tmp_path, target={"manifests": str(directory)}))


# Images


@pytest.mark.parametrize("ref", [
    "nginx", "nginx:1.27", "docker.io/library/nginx:1.27", "localhost:5000/team/app_x:v1-rc.1",
    "registry.example/a/b/c@sha256:" + "a" * 64, "[::1]:5000/app:1",
])
def test_image_references_that_parse(tmp_path: Path, ref: str) -> None:
    assert validate_scenario_file(scenario(tmp_path, target={"image": ref})).target.image == ref


@pytest.mark.parametrize("ref", ["Nginx:1", "nginx:", "nginx@sha256:abc", "-nginx", "a//b", "nginx:" + "x" * 200])
def test_image_references_that_do_not(tmp_path: Path, ref: str) -> None:
    with pytest.raises(ScenarioError, match=r"target\.image"):
        validate_scenario_file(scenario(tmp_path, target={"image": ref}))


def test_latest_is_no_sample_version(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"target\.version 'latest' cannot be a sample service version"):
        validate_scenario_file(scenario(tmp_path, target={"version": "latest"}))


def test_a_version_without_the_sample_image_would_be_ignored(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"target\.version is set but target\.image is not 'sample'"):
        validate_scenario_file(scenario(tmp_path, target={"image": "nginx:1.27", "version": "0.1.0"}))


def test_a_url_with_an_impossible_port(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"target\.url"):
        validate_scenario_file(scenario(tmp_path, target={"url": "http://127.0.0.1:99999"}))


# Kube contexts and kubeconfigs: read from the file, never from a cluster


def test_a_named_context_in_its_kubeconfig_is_valid(tmp_path: Path) -> None:
    config = kubeconfig(tmp_path)
    validate_scenario_file(scenario(tmp_path, cluster={"context": "prod", "kubeconfig": str(config)}))
    validate_scenario_file(scenario(tmp_path), context="prod", kubeconfig=config)


def test_an_unknown_context_lists_the_ones_there_are(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        validate_scenario_file(scenario(tmp_path), context="staging", kubeconfig=kubeconfig(tmp_path))
    assert "has no context 'staging' (it has: broken, prod)" in info.value.problem


def test_a_context_whose_cluster_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="context 'broken' names cluster 'missing'"):
        validate_scenario_file(scenario(tmp_path), context="broken", kubeconfig=kubeconfig(tmp_path))


def test_the_default_kubeconfig_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"\(the default kubeconfig\) does not exist"):
        validate_scenario_file(scenario(tmp_path), context="prod")
    other = tmp_path / "other"
    other.write_text(yaml.safe_dump({"contexts": []}))
    # Like kubectl: a list of files, missing ones skipped, every one's contexts counted.
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'absent'}:{other}:{kubeconfig(tmp_path)}")
    validate_scenario_file(scenario(tmp_path), context="prod")


def test_a_kind_context_uses_the_kubeconfig_of_the_harness_cluster_record(tmp_path: Path) -> None:
    record_dir = tmp_path / "state" / "clusters" / "mine"
    record_dir.mkdir(parents=True)
    config = kubeconfig(tmp_path, {**KUBECONFIG, "contexts": [{"name": "kind-mine", "context": {"cluster": "prod"}}]})
    (record_dir / "cluster.json").write_text(json.dumps({
        "name": "mine", "context": "kind-mine", "kubeconfig": str(config), "node_image": "x", "workers": 0,
        "host_port": 30080}))
    validate_scenario_file(scenario(tmp_path), context="kind-mine")


@pytest.mark.parametrize(("content", "expected"), [
    (b"contexts: [\n", "YAML syntax error"),
    (b"- a\n", "is not one YAML mapping"),
    (b"a: 1\n---\nb: 2\n", "is not one YAML mapping"),
    (b"\xff\xfe", "not UTF-8"),
    (b"contexts: {prod: x}\n", "has no context 'prod' (it has: none)"),
])
def test_a_kubeconfig_that_cannot_be_read(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "kubeconfig"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        validate_scenario_file(scenario(tmp_path), context="prod", kubeconfig=path)
    assert expected in info.value.problem


def test_a_kubeconfig_without_a_context_would_be_ignored(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is named but no context"):
        validate_scenario_file(scenario(tmp_path), kubeconfig=kubeconfig(tmp_path))


# Several files, and messages


def test_paths_that_hold_no_scenario(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    files, problems = scenario_files([empty, tmp_path / "nope.yaml"])
    assert files == []
    assert [p.problem for p in problems] == [f"{empty}: no scenario files (*.yaml) in this directory",
                                             f"{tmp_path / 'nope.yaml'}: no such file or directory"]


def test_every_problem_of_a_file_is_named_at_once(tmp_path: Path) -> None:
    path = scenario(tmp_path, target={"manifests": "gone", "image": "Bad:Ref"}, cluster={"context": "x"})
    [problem] = validate_paths([path])
    assert problem.problem.startswith(f"{path}: 3 problems")
    for part in ("context 'x' is named", "target.image 'Bad:Ref'", "target.manifests 'gone'"):
        assert part in problem.problem
    assert problem.format().count("fix:") == 4  # one per problem, and the closing one


def test_messages_stay_short_whatever_the_input(tmp_path: Path) -> None:
    huge = "a" * 5000
    [problem] = validate_paths([scenario(tmp_path, target={"manifests": huge})])
    assert len(problem.format()) < 1500
    assert "..." in problem.problem


def test_scenario_names_are_unique_across_files(tmp_path: Path) -> None:
    first, second = scenario(tmp_path, "a.yaml"), scenario(tmp_path, "b.yaml")
    results, _ = validate_each([tmp_path])
    assert [r.path for r in results] == [first, second]
    assert results[0].problem is None
    assert results[1].problem is not None
    assert "also the name of" in results[1].problem.problem


# Replay: the recorded scenario against the target a replay would use


def run_dir(tmp_path: Path, versions: dict[str, Any], **target: Any) -> Path:
    data = yaml.safe_load((SCENARIOS / "rolling-restart.yaml").read_text())
    # As a run records it: its paths absolute (relative ones would be read against the run directory).
    data["target"] = {**data["target"], "manifests": str(GOOD), **target}
    directory = tmp_path / "run"
    directory.mkdir()
    (directory / "scenario.json").write_text(json.dumps({**data, "source": "/elsewhere/s.yaml"}))
    (directory / "versions.json").write_text(json.dumps(versions))
    return directory


def test_replay_of_a_valid_recording_on_the_harness_cluster(tmp_path: Path) -> None:
    recorded = run_dir(tmp_path, {"owned_cluster": True, "context": "kind-rollout-harness"})
    assert validate_replay(recorded).name == "rolling-restart"


def test_replay_checks_the_foreign_context_it_would_use_again(tmp_path: Path) -> None:
    config = kubeconfig(tmp_path)
    recorded = run_dir(tmp_path, {"owned_cluster": False, "context": "prod", "kubeconfig": str(config)})
    validate_replay(recorded)
    config.write_text(yaml.safe_dump({**KUBECONFIG, "contexts": []}))
    with pytest.raises(ConfigError, match="has no context 'prod'"):
        validate_replay(recorded)


def test_replay_names_the_recorded_file(tmp_path: Path) -> None:
    recorded = run_dir(tmp_path, {}, manifests="/gone")
    with pytest.raises(ManifestError) as info:
        validate_replay(recorded)
    assert info.value.problem.startswith(f"{recorded / 'scenario.json'}: target.manifests '/gone'")
