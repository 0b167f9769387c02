"""`harness manifests check` on servers other than the sample service: general rules hold for any
server, the sample service's environment counts only where its image runs, and what lies in the
process is reported as unknown rather than guessed."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from harness.manifests import (
    Finding,
    Overrides,
    Severity,
    check_manifests,
    check_objects,
    find_workload,
    format_findings,
    has_errors,
    load_manifests,
    render,
    workload_container,
)
from harness.manifests.check import runs_sample_service

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "manifests" / "sample-service"
NAIVE = REPO / "manifests" / "sample-service-naive"
HTTPBIN = REPO / "examples" / "go-httpbin" / "manifests"

Objects = list[dict[str, Any]]


@pytest.fixture
def httpbin() -> Objects:
    return load_manifests(HTTPBIN)


def main(objects: Objects) -> dict[str, Any]:
    found = workload_container(find_workload(objects)[0])
    assert found is not None
    return found


def pod_spec(objects: Objects) -> dict[str, Any]:
    spec: dict[str, Any] = find_workload(objects)[0]["spec"]["template"]["spec"]
    return spec


def by_rule(findings: list[Finding]) -> dict[str, list[Finding]]:
    grouped: dict[str, list[Finding]] = {}
    for finding in findings:
        grouped.setdefault(finding.rule, []).append(finding)
    return grouped


def test_the_shipped_manifests_give_what_they_should() -> None:
    assert check_manifests(SAMPLE) == []
    assert check_manifests(HTTPBIN) == []
    assert {(f.severity, f.rule) for f in check_manifests(NAIVE)} == {
        (Severity.ERROR, "shutdown-mode"), (Severity.ERROR, "pre-stop"), (Severity.WARNING, "readiness-flip")}


@pytest.mark.parametrize(("image", "sample"), [
    ("rollout-harness/sample-service:0.1.0", True),
    ("docker.io/rollout-harness/sample-service:0.2.0", True),
    ("rollout-harness/sample-service@sha256:" + "a" * 64, True),
    ("rollout-harness-examples/go-httpbin:v2.26.0", False),
    ("registry.example:5000/rollout-harness/sample-service:1", False),
    ("example.org/sample-service:1", False),
])
def test_which_image_is_the_sample_service(image: str, sample: bool) -> None:
    assert runs_sample_service({"image": image}) is sample


def test_no_pre_stop_on_another_server_is_unknown_not_a_false_does_not_drain(httpbin: Objects) -> None:
    objects = render(httpbin, Overrides(pre_stop_seconds=0))
    [finding] = check_objects(objects)
    assert (finding.severity, finding.rule) == (Severity.UNKNOWN, "pre-stop")
    assert "whether the process drains on SIGTERM cannot be read from the manifests" in finding.problem
    assert "does not drain" not in finding.problem
    assert "Service/go-httpbin" in finding.problem
    assert not has_errors([finding])
    assert format_findings([finding]).endswith("0 errors, 0 warnings, 1 unknown (a run shows them)")


def test_the_sample_service_without_pre_stop_or_drain_still_does_not_drain() -> None:
    objects = render(load_manifests(SAMPLE), Overrides(pre_stop_seconds=0, env={"DRAIN_DELAY": "0s"}))
    [finding] = check_objects(objects)
    assert (finding.severity, finding.rule) == (Severity.ERROR, "pre-stop")
    assert "does not drain" in finding.problem


def test_sample_env_names_mean_nothing_on_another_server(httpbin: Objects) -> None:
    objects = render(httpbin, Overrides(pre_stop_seconds=0, termination_grace_period_seconds=5, env={
        "DRAIN_DELAY": "5s", "SHUTDOWN_TIMEOUT": "1h", "SHUTDOWN_MODE": "immediate", "READY_LIES": "sure"}))
    # DRAIN_DELAY does not stand in for preStop, and nothing is read into the other names.
    assert {(f.severity, f.rule) for f in check_objects(objects)} == {(Severity.UNKNOWN, "pre-stop")}
    sample = render(objects, Overrides(image="rollout-harness/sample-service:0.1.0"))
    found = {(f.severity, f.rule) for f in check_objects(sample)}
    assert {(Severity.ERROR, "shutdown-mode"), (Severity.ERROR, "env-invalid"), (Severity.ERROR, "pre-stop")} <= found


# Configurations that lose requests, on a server the harness knows nothing about


def test_no_pre_stop_and_max_unavailable_100_percent(httpbin: Objects) -> None:
    objects = render(httpbin, Overrides(pre_stop_seconds=0, max_surge=0, max_unavailable="100%"))
    rules = by_rule(check_objects(objects))
    assert set(rules) == {"rollout-strategy", "pre-stop"}
    [strategy] = rules["rollout-strategy"]
    assert strategy.severity == Severity.ERROR
    assert "maxUnavailable 100% of 3 replicas rounds down to 3" in strategy.problem
    assert "leaving no ready pod" in strategy.problem
    assert rules["pre-stop"][0].severity == Severity.UNKNOWN


@pytest.mark.parametrize(("grace", "pre_stop"), [
    (5, {"sleep": {"seconds": 5}}),
    # Below the sleep action the API server refuses the object; an exec sleep it cannot see into.
    (3, {"exec": {"command": ["/bin/sh", "-c", "sleep 5"]}}),
])
def test_grace_period_not_above_pre_stop(httpbin: Objects, grace: int, pre_stop: dict[str, Any]) -> None:
    main(httpbin)["lifecycle"]["preStop"] = pre_stop
    objects = render(httpbin, Overrides(termination_grace_period_seconds=grace))
    [finding] = check_objects(objects)
    assert (finding.severity, finding.rule) == (Severity.ERROR, "grace-period")
    assert f"terminationGracePeriodSeconds {grace} is not above its preStop 5s" in finding.problem
    assert "SIGKILL" in finding.problem
    assert "DRAIN_DELAY" not in finding.problem + finding.fix


def test_grace_above_pre_stop_is_fine_for_another_server(httpbin: Objects) -> None:
    assert check_objects(render(httpbin, Overrides(termination_grace_period_seconds=6))) == []


def test_no_readiness_probe(httpbin: Objects) -> None:
    del main(httpbin)["readinessProbe"]
    [finding] = check_objects(httpbin)
    assert (finding.severity, finding.rule) == (Severity.ERROR, "readiness-probe")
    assert "container go-httpbin has no readinessProbe" in finding.problem


def test_one_replica(httpbin: Objects) -> None:
    findings = check_objects(render(httpbin, Overrides(replicas=1)))
    assert (Severity.WARNING, "replicas") in {(f.severity, f.rule) for f in findings}


@pytest.mark.parametrize(("image", "severity"), [
    ("rollout-harness-examples/go-httpbin:v2.26.0", Severity.WARNING),
    ("rollout-harness/sample-service:0.1.0", Severity.ERROR),
])
def test_pull_policy_always(httpbin: Objects, image: str, severity: Severity) -> None:
    objects = render(httpbin, Overrides(image=image))
    main(objects)["imagePullPolicy"] = "Always"
    findings = [f for f in check_objects(objects) if f.rule == "pull-policy"]
    assert [f.severity for f in findings] == [severity]
    assert "ignores an image loaded into the nodes" in findings[0].problem
    assert "set imagePullPolicy: IfNotPresent" in findings[0].fix


def test_unknown_findings_come_last(httpbin: Objects) -> None:
    objects = render(httpbin, Overrides(pre_stop_seconds=0, replicas=1))
    severities = [f.severity for f in check_objects(objects)]
    assert severities == sorted(severities, key=[Severity.ERROR, Severity.WARNING, Severity.UNKNOWN].index)
    assert severities[-1] == Severity.UNKNOWN


# How a run will place the objects


def test_namespace_and_cluster_scoped_objects_are_named(httpbin: Objects) -> None:
    objects = copy.deepcopy(httpbin)
    objects[0]["metadata"]["namespace"] = "prod"
    objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}})
    objects.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                    "metadata": {"name": "reader"}, "rules": []})
    found = {(f.object, f.rule) for f in check_objects(objects)}
    assert found == {("Deployment/go-httpbin", "namespace"), ("Namespace/prod", "namespace"),
                     ("ClusterRole/reader", "cluster-scoped")}
    [cluster] = [f for f in check_objects(objects) if f.rule == "cluster-scoped"]
    assert "target.cluster_scoped: apply" in cluster.fix
