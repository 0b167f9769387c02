"""StatefulSets as the workload under test: finding one, the overrides that apply to it and the ones
refused, the steps it cannot carry out, and the shipped sample and scenario."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from harness.disruptions import check_steps_fit
from harness.errors import ManifestError, ScenarioError
from harness.manifests import Overrides, find_workload, load_manifests, render, workload_container
from harness.scenario import Scenario, load_scenario, parse_scenario
from harness.validate import validate_scenario_file

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "manifests" / "sample-statefulset"
SCENARIO = REPO / "scenarios" / "statefulset-rolling-restart.yaml"


@pytest.fixture
def objects() -> list[dict[str, Any]]:
    return load_manifests(SAMPLE)


def _sts(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == "StatefulSet")


def _scenario(*steps: dict[str, Any]) -> Scenario:
    return parse_scenario({"name": "t", "steps": list(steps)}, "mem.yaml")


def test_the_sample_statefulset_is_the_workload_and_a_service_selects_it(objects: list[dict[str, Any]]) -> None:
    workload, service = find_workload(objects)
    assert workload["kind"] == "StatefulSet" and workload["metadata"]["name"] == "sample-service"
    assert workload["spec"]["serviceName"] == "sample-service-pods"
    assert service is not None and service["kind"] == "Service"
    headless = next(o for o in objects if o["metadata"]["name"] == "sample-service-pods")
    assert headless["spec"]["clusterIP"] == "None"


def test_several_workloads_are_refused_naming_each(objects: list[dict[str, Any]]) -> None:
    deployment = load_manifests(REPO / "manifests" / "sample-service")
    mixed = [*objects, next(o for o in deployment if o["kind"] == "Deployment")]
    with pytest.raises(ManifestError, match=r"2 workloads \(StatefulSet/sample-service, Deployment/sample-service\)"):
        find_workload(mixed)
    twin = copy.deepcopy(_sts(objects))
    twin["metadata"]["name"] = "other"
    with pytest.raises(ManifestError, match=r"2 StatefulSets"):
        find_workload([*objects, twin])
    with pytest.raises(ManifestError, match="no Deployment or StatefulSet"):
        find_workload([o for o in objects if o["kind"] != "StatefulSet"])


def test_pod_overrides_apply_to_the_statefulset(objects: list[dict[str, Any]]) -> None:
    rendered = render(objects, Overrides(image="web:2", env={"DRAIN_DELAY": "9s", "NEW": "1"}, replicas=5,
                                         termination_grace_period_seconds=40, pre_stop_seconds=7,
                                         version_label="0.2.0"))
    sts = _sts(rendered)
    assert sts["spec"]["replicas"] == 5
    pod = sts["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 40
    container = workload_container(sts)
    assert container is not None and container["image"] == "web:2"
    assert container["lifecycle"]["preStop"] == {"sleep": {"seconds": 7}}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["DRAIN_DELAY"] == "9s" and env["NEW"] == "1"
    assert sts["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"] == "0.2.0"
    assert _sts(objects)["spec"]["replicas"] == 3, "the input stays as it was"


def test_max_unavailable_goes_into_the_rolling_update_and_keeps_the_partition(objects: list[dict[str, Any]]) -> None:
    strategy = _sts(render(objects, Overrides(max_unavailable=2)))["spec"]["updateStrategy"]
    assert strategy == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0, "maxUnavailable": 2}}
    assert "strategy" not in _sts(render(objects, Overrides(max_unavailable="50%")))["spec"]


def test_max_surge_is_refused_naming_the_field(objects: list[dict[str, Any]]) -> None:
    with pytest.raises(ManifestError) as info:
        render(objects, Overrides(max_surge=1))
    assert "target.max_surge" in info.value.problem and "StatefulSet" in info.value.problem
    assert "v1.34" in info.value.problem


@pytest.mark.parametrize(("overrides", "words"), [
    (Overrides(strategy="Recreate"), "RollingUpdate or OnDelete"),
    (Overrides(max_unavailable=0), "is 0"),
])
def test_what_a_statefulset_cannot_have_is_refused(objects: list[dict[str, Any]], overrides: Overrides,
                                                    words: str) -> None:
    with pytest.raises(ManifestError, match=words):
        render(objects, overrides)


def test_max_unavailable_on_an_on_delete_statefulset_is_refused(objects: list[dict[str, Any]]) -> None:
    _sts(objects)["spec"]["updateStrategy"] = {"type": "OnDelete"}
    with pytest.raises(ManifestError, match="OnDelete update strategy, which has no maxUnavailable"):
        render(objects, Overrides(max_unavailable=1))


@pytest.mark.parametrize("step", [{"action": "rollout-restart"}, {"action": "set-image", "image": "web:2"},
                                  {"action": "set-env", "env": {"A": "1"}}])
def test_on_delete_refuses_a_step_that_rolls(objects: list[dict[str, Any]], step: dict[str, Any]) -> None:
    sts = _sts(objects)
    check_steps_fit(_scenario(step), sts)  # RollingUpdate: fine
    sts["spec"]["updateStrategy"] = {"type": "OnDelete"}
    with pytest.raises(ScenarioError) as info:
        check_steps_fit(_scenario({"action": "wait", "seconds": 1}, step), sts)
    assert info.value.problem.startswith(f"steps[1] ({step['action']}): StatefulSet/sample-service uses "
                                         "updateStrategy OnDelete")
    assert "delete-pod" in info.value.fix


def test_on_delete_allows_pod_steps_and_rollback_is_refused_for_any_statefulset(
        objects: list[dict[str, Any]]) -> None:
    sts = _sts(objects)
    sts["spec"]["updateStrategy"] = {"type": "OnDelete"}
    check_steps_fit(_scenario({"action": "delete-pod"}, {"action": "kill-pod"}, {"action": "drain"},
                              {"action": "scale", "replicas": 2}), sts)
    with pytest.raises(ScenarioError, match="ReplicaSets"):
        check_steps_fit(_scenario({"action": "set-image", "image": "web:2"}, {"action": "rollback"}), _sts(
            load_manifests(SAMPLE)))


def test_a_deployment_takes_every_step() -> None:
    deployment = find_workload(load_manifests(REPO / "manifests" / "sample-service"))[0]
    check_steps_fit(_scenario({"action": "rollout-restart"}, {"action": "rollback"}), deployment)


def test_the_shipped_scenario_validates_and_names_the_service_traffic_uses() -> None:
    scenario = load_scenario(SCENARIO)
    assert scenario.expect == "pass" and scenario.target.service == "sample-service"
    assert [s.action for s in scenario.steps] == ["rollout-restart"]
    validate_scenario_file(SCENARIO)


def test_validate_refuses_a_statefulset_scenario_with_max_surge(tmp_path: Path) -> None:
    text = SCENARIO.read_text().replace("  service: sample-service\n", "  service: sample-service\n  max_surge: 1\n")
    text = text.replace("../manifests/sample-statefulset", str(SAMPLE))
    path = tmp_path / "surge.yaml"
    path.write_text(text)
    with pytest.raises(ManifestError, match=r"target\.max_surge"):
        validate_scenario_file(path)


def test_validate_refuses_a_restart_of_an_on_delete_statefulset_before_any_cluster_work(tmp_path: Path) -> None:
    manifests = tmp_path / "sts"
    manifests.mkdir()
    for source in SAMPLE.glob("*.yaml"):
        text = source.read_text()
        if source.name == "statefulset.yaml":
            text = text.replace("    type: RollingUpdate\n", "    type: OnDelete\n").replace(
                "      partition: 0\n", "").replace("    rollingUpdate:\n", "")
        (manifests / source.name).write_text(text)
    assert "OnDelete" in (manifests / "statefulset.yaml").read_text()
    path = tmp_path / "on-delete.yaml"
    path.write_text(SCENARIO.read_text().replace("../manifests/sample-statefulset", "sts"))
    with pytest.raises(ScenarioError, match=r"steps\[0\] \(rollout-restart\): StatefulSet/sample-service uses "
                                            "updateStrategy OnDelete"):
        validate_scenario_file(path)
