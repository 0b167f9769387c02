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

REPO = Path(__file__).resolve().parents[2]
GOOD = REPO / "manifests" / "sample-service"
NAIVE = REPO / "manifests" / "sample-service-naive"
DATA = Path(__file__).parent / "data" / "manifests"

Objects = list[dict[str, Any]]


@pytest.fixture
def good() -> Objects:
    return load_manifests(GOOD)


def deployment(objects: Objects) -> dict[str, Any]:
    return find_workload(objects)[0]


def pod_spec(objects: Objects) -> dict[str, Any]:
    spec: dict[str, Any] = deployment(objects)["spec"]["template"]["spec"]
    return spec


def container(objects: Objects) -> dict[str, Any]:
    found = workload_container(deployment(objects))
    assert found is not None
    return found


def set_env(objects: Objects, **values: str) -> Objects:
    return render(objects, Overrides(env=values))


def rules(findings: list[Finding]) -> set[tuple[str, str]]:
    return {(f.severity.value, f.rule) for f in findings}


def only(findings: list[Finding], rule: str) -> Finding:
    matching = [f for f in findings if f.rule == rule]
    assert len(matching) == 1, findings
    return matching[0]


# The two shipped variants


def test_graceful_variant_has_no_findings() -> None:
    findings = check_manifests(GOOD)
    assert findings == []
    assert not has_errors(findings)
    assert format_findings(findings) == "no problems found"


def test_naive_variant_errors_name_the_shutdown_problems() -> None:
    findings = check_manifests(NAIVE)
    assert has_errors(findings)
    assert rules(findings) == {
        ("error", "shutdown-mode"),
        ("error", "pre-stop"),
        ("warning", "readiness-flip"),
    }
    assert all(f.object == "Deployment/sample-service" for f in findings)
    assert all(f.file == f"{NAIVE / 'deployment.yaml'}:5" for f in findings)
    assert "SHUTDOWN_MODE=graceful" in only(findings, "shutdown-mode").fix
    assert "lifecycle.preStop.sleep.seconds" in only(findings, "pre-stop").fix
    assert "Service/sample-service" in only(findings, "pre-stop").problem
    assert "READINESS_FLIP=true" in only(findings, "readiness-flip").fix


def test_variants_differ_only_in_shutdown_behaviour() -> None:
    def without_shutdown(objects: Objects) -> Objects:
        objects = copy.deepcopy(objects)
        main = container(objects)
        main.pop("lifecycle", None)
        main["env"] = [e for e in main["env"] if e["name"] not in ("SHUTDOWN_MODE", "READINESS_FLIP")]
        return objects

    good, naive = load_manifests(GOOD), load_manifests(NAIVE)
    assert good != naive
    assert without_shutdown(good) == without_shutdown(naive)


def test_graceful_variant_matches_the_brief(good: Objects) -> None:
    dep = deployment(good)
    assert dep["spec"]["replicas"] == 3
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert dep["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"] == "0.1.0"
    main = container(good)
    assert main["image"] == "rollout-harness/sample-service:0.1.0"
    assert main["lifecycle"]["preStop"] == {"sleep": {"seconds": 5}}
    probe = main["readinessProbe"]
    assert (probe["httpGet"]["path"], probe["periodSeconds"], probe["failureThreshold"]) == ("/ready", 1, 1)
    assert pod_spec(good)["securityContext"]["runAsNonRoot"] is True


def test_naive_variant_made_graceful_by_env_passes_without_prestop() -> None:
    fixed = set_env(load_manifests(NAIVE), SHUTDOWN_MODE="graceful", READINESS_FLIP="true")
    assert check_objects(fixed) == []


# Grace period


def test_grace_too_short_fixture_names_the_sum_and_the_fix() -> None:
    findings = check_manifests(DATA / "grace-too-short")
    finding = only(findings, "grace-period")
    assert finding.severity == Severity.ERROR
    assert "terminationGracePeriodSeconds 20 is not above the 25s" in finding.problem
    assert "preStop 10s + DRAIN_DELAY 5s + SHUTDOWN_TIMEOUT 10s" in finding.problem
    assert "above 25s" in finding.fix
    assert finding.file == f"{DATA / 'grace-too-short' / 'deployment.yaml'}:2"
    assert finding.object == "Deployment/web"


@pytest.mark.parametrize(("grace", "flagged"), [(19, True), (20, True), (21, False)])
def test_grace_must_be_strictly_above_what_the_pod_needs(good: Objects, grace: int, flagged: bool) -> None:
    # preStop 5s + DRAIN_DELAY 5s + SHUTDOWN_TIMEOUT 10s = 20s
    findings = check_objects(render(good, Overrides(termination_grace_period_seconds=grace)))
    assert (("error", "grace-period") in rules(findings)) is flagged


def test_unset_grace_period_counts_as_the_default_30(good: Objects) -> None:
    del pod_spec(good)["terminationGracePeriodSeconds"]
    assert check_objects(good) == []
    findings = check_objects(set_env(good, SHUTDOWN_TIMEOUT="25s"))
    assert "the default terminationGracePeriodSeconds 30" in only(findings, "grace-period").problem


def test_grace_counts_drain_only_for_a_graceful_process(good: Objects) -> None:
    short = render(good, Overrides(termination_grace_period_seconds=8))
    assert ("error", "grace-period") in rules(check_objects(short))
    immediate = set_env(short, SHUTDOWN_MODE="immediate")
    assert ("error", "grace-period") not in rules(check_objects(immediate))


def test_grace_with_sub_second_durations(good: Objects) -> None:
    objects = render(good, Overrides(
        env={"DRAIN_DELAY": "1500ms", "SHUTDOWN_TIMEOUT": "1m"}, termination_grace_period_seconds=66))
    assert "66.5s" in only(check_objects(objects), "grace-period").problem


@pytest.mark.parametrize(
    ("pre_stop", "seconds"),
    [
        ({"exec": {"command": ["sleep", "12"]}}, 12),
        ({"exec": {"command": ["/bin/sleep", "12s"]}}, 12),
        ({"exec": {"command": ["/bin/sh", "-c", "sleep 7; nginx -s quit; sleep 5"]}}, 12),
        ({"exec": {"command": ["busybox", "sleep", "12"]}}, 12),
        ({"sleep": {"seconds": 12}}, 12),
    ],
)
def test_pre_stop_forms_count_towards_the_grace_period(
    good: Objects, pre_stop: dict[str, Any], seconds: int
) -> None:
    container(good)["lifecycle"]["preStop"] = pre_stop
    pod_spec(good)["terminationGracePeriodSeconds"] = seconds + 15  # + DRAIN_DELAY 5s + SHUTDOWN_TIMEOUT 10s
    problem = only(check_objects(good), "grace-period").problem
    assert f"preStop {seconds}s" in problem
    pod_spec(good)["terminationGracePeriodSeconds"] = seconds + 16
    assert check_objects(good) == []


# preStop behind a Service


def test_no_pre_stop_and_no_drain_behind_a_service_is_an_error(good: Objects) -> None:
    objects = render(good, Overrides(pre_stop_seconds=0, env={"DRAIN_DELAY": "0s"}))
    finding = only(check_objects(objects), "pre-stop")
    assert finding.severity == Severity.ERROR
    assert "endpoint removal" in finding.problem


def test_in_process_drain_stands_in_for_pre_stop(good: Objects) -> None:
    assert check_objects(render(good, Overrides(pre_stop_seconds=0))) == []


def test_no_pre_stop_without_a_service_is_fine(good: Objects) -> None:
    objects = render(good, Overrides(pre_stop_seconds=0, env={"DRAIN_DELAY": "0s"}))
    assert check_objects([o for o in objects if o["kind"] != "Service"]) == []


def test_http_pre_stop_counts_as_a_hook(good: Objects) -> None:
    container(good)["lifecycle"]["preStop"] = {"httpGet": {"path": "/stop", "port": 8080}}
    objects = set_env(good, DRAIN_DELAY="0s")
    assert "pre-stop" not in {f.rule for f in check_objects(objects)}


def test_drain_delay_from_a_config_map_is_unknown(good: Objects) -> None:
    env = container(good)["env"]
    for entry in env:
        if entry["name"] == "DRAIN_DELAY":
            entry.pop("value")
            entry["valueFrom"] = {"configMapKeyRef": {"name": "cfg", "key": "drain"}}
    objects = render(good, Overrides(pre_stop_seconds=0))
    assert ("error", "pre-stop") in rules(check_objects(objects))


# Readiness probe


def test_missing_readiness_probe(good: Objects) -> None:
    del container(good)["readinessProbe"]
    finding = only(check_objects(good), "readiness-probe")
    assert finding.severity == Severity.ERROR
    assert "container sample-service has no readinessProbe" in finding.problem
    assert "/ready" in finding.fix


def test_every_container_needs_a_readiness_probe(good: Objects) -> None:
    pod_spec(good)["containers"].append({"name": "sidecar", "image": "example.org/proxy:1.0"})
    finding = only(check_objects(good), "readiness-probe")
    assert "container sidecar" in finding.problem


# Rollout strategy


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable", "flagged"),
    [
        (3, 1, "100%", True),
        (3, 1, 3, True),
        (3, 1, 4, True),
        (3, 1, 2, False),
        (3, 1, "67%", False),  # 2.01 rounds down to 2
        (3, 0, "25%", False),  # rounds to 0, the controller falls back to 1 of 3
        (1, 0, "50%", True),  # rounds to 0, the fallback 1 is the only pod
        (1, 1, 0, False),
        (4, "25%", "75%", False),
        (4, "25%", "100%", True),
    ],
)
def test_max_unavailable_that_allows_zero_ready_pods(
    good: Objects, replicas: int, surge: int | str, unavailable: int | str, flagged: bool
) -> None:
    dep = deployment(good)
    dep["spec"]["replicas"] = replicas
    dep["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    findings = [f for f in check_objects(good) if f.rule == "rollout-strategy"]
    assert bool(findings) is flagged, findings
    if flagged:
        assert findings[0].severity == Severity.ERROR
        assert "no ready pod" in findings[0].problem
        assert "maxUnavailable: 0 and maxSurge: 1" in findings[0].fix


def test_percentage_rounding_is_explained(good: Objects) -> None:
    dep = deployment(good)
    dep["spec"]["replicas"] = 1
    dep["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": 0, "maxUnavailable": "50%"}
    problem = only(check_objects(good), "rollout-strategy").problem
    assert "50% of 1 replicas rounds down to 0" in problem
    assert "lets 1 go anyway" in problem


@pytest.mark.parametrize(("surge", "unavailable"), [(0, 0), ("0%", 0), (0, "0%")])
def test_both_surge_and_unavailable_zero(good: Objects, surge: int | str, unavailable: int | str) -> None:
    deployment(good)["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    assert "both 0" in only(check_objects(good), "rollout-strategy").problem


@pytest.mark.parametrize("value", ["3", "25", "1.5%", -1, True])
def test_invalid_strategy_values(good: Objects, value: object) -> None:
    deployment(good)["spec"]["strategy"]["rollingUpdate"]["maxSurge"] = value
    assert "the API rejects it" in only(check_objects(good), "rollout-strategy").problem


def test_max_unavailable_above_100_percent(good: Objects) -> None:
    deployment(good)["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = "150%"
    assert "above 100%" in only(check_objects(good), "rollout-strategy").problem


def test_default_strategy_on_three_replicas_is_fine(good: Objects) -> None:
    deployment(good)["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": None, "maxUnavailable": None}
    assert check_objects(good) == []
    del deployment(good)["spec"]["strategy"]
    assert check_objects(good) == []


def test_default_strategy_on_one_replica_keeps_the_pod(good: Objects) -> None:
    # 25% of 1 rounds down to 0 unavailable and up to 1 surge: only the single-replica warning remains.
    del deployment(good)["spec"]["strategy"]
    deployment(good)["spec"]["replicas"] = 1
    assert rules(check_objects(good)) == {("warning", "replicas")}


def test_recreate_is_an_outage(good: Objects) -> None:
    objects = render(good, Overrides(strategy="Recreate"))
    finding = only(check_objects(objects), "rollout-strategy")
    assert finding.severity == Severity.ERROR
    assert "outage" in finding.problem


def test_single_replica_warns(good: Objects) -> None:
    findings = check_objects(render(good, Overrides(replicas=1)))
    assert rules(findings) == {("warning", "replicas")}


# Images


@pytest.mark.parametrize(
    ("image", "flagged"),
    [
        ("rollout-harness/sample-service:latest", "latest tag"),
        ("rollout-harness/sample-service", "has no tag"),
        ("localhost:5000/sample-service", "has no tag"),
        ("localhost:5000/sample-service:latest", "latest tag"),
        ("localhost:5000/sample-service:0.1.0", None),
        ("rollout-harness/sample-service@sha256:" + "a" * 64, None),
        ("rollout-harness/sample-service:latest@sha256:" + "a" * 64, None),
    ],
)
def test_image_tags(good: Objects, image: str, flagged: str | None) -> None:
    findings = [f for f in check_objects(render(good, Overrides(image=image))) if f.rule == "image-tag"]
    if flagged is None:
        assert findings == []
    else:
        assert len(findings) == 1
        assert findings[0].severity == Severity.ERROR
        assert flagged in findings[0].problem
        repository = image.removesuffix(":latest")
        assert f"such as {repository}:0.1.0" in findings[0].fix


def test_missing_image_and_init_container_tags(good: Objects) -> None:
    pod_spec(good)["initContainers"] = [{"name": "init", "image": "busybox:latest"}]
    del container(good)["image"]
    problems = [f.problem for f in check_objects(good) if f.rule == "image-tag"]
    assert len(problems) == 2
    assert any("container init: image busybox:latest" in p for p in problems)
    assert any("container sample-service has no image" in p for p in problems)


# The sample service's switches


def test_unquoted_env_value_is_an_error(good: Objects) -> None:
    container(good)["env"].append({"name": "READY_LIES", "value": False})
    finding = only(check_objects(good), "env-value")
    assert "READY_LIES is False (a YAML bool)" in finding.problem
    assert finding.fix == 'quote it: value: "false"'


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SHUTDOWN_MODE", "gracefull"),
        ("READINESS_FLIP", "yes"),
        ("KEEPALIVE_CLOSE", "rude"),
        ("READY_LIES", "True"),
        ("DRAIN_DELAY", "5"),
        ("SHUTDOWN_TIMEOUT", "-1s"),
        ("STARTUP_DELAY", "soon"),
        ("RESPONSE_DELAY_MS", "1.5"),
    ],
)
def test_values_the_sample_service_refuses(good: Objects, name: str, value: str) -> None:
    finding = only(check_objects(set_env(good, **{name: value})), "env-invalid")
    assert finding.severity == Severity.ERROR
    assert f"{name}={value!r}" in finding.problem
    assert "crash-loops" in finding.problem or "whole number" in finding.problem


def test_empty_env_value_counts_as_unset(good: Objects) -> None:
    assert check_objects(set_env(good, SHUTDOWN_MODE="", READY_LIES="")) == []


@pytest.mark.parametrize(
    ("env", "rule", "severity"),
    [
        ({"SHUTDOWN_MODE": "ignore"}, "shutdown-mode", "error"),
        ({"SHUTDOWN_MODE": "immediate"}, "shutdown-mode", "error"),
        ({"READINESS_FLIP": "false"}, "readiness-flip", "warning"),
        ({"KEEPALIVE_CLOSE": "abrupt"}, "keepalive-close", "error"),
        ({"READY_LIES": "true"}, "ready-lies", "error"),
        ({"RESPONSE_DELAY_MS": "10000"}, "response-delay", "error"),
    ],
)
def test_fault_switches(good: Objects, env: dict[str, str], rule: str, severity: str) -> None:
    findings = check_objects(set_env(good, **env))
    assert rules(findings) == {(severity, rule)}


def test_response_delay_below_the_shutdown_deadline_is_fine(good: Objects) -> None:
    assert check_objects(set_env(good, RESPONSE_DELAY_MS="9999")) == []


# Disruption budget, namespace, Service


@pytest.mark.parametrize(
    ("budget", "flagged"),
    [
        ({"minAvailable": 2}, False),
        ({"minAvailable": 3}, True),
        ({"minAvailable": "100%"}, True),
        ({"minAvailable": "67%"}, True),  # 2.01 rounds up to 3
        ({"minAvailable": "66%"}, False),  # 1.98 rounds up to 2
        ({"maxUnavailable": 0}, True),
        ({"maxUnavailable": "10%"}, False),  # 0.3 rounds up to 1
    ],
)
def test_budget_that_blocks_drains(good: Objects, budget: dict[str, Any], flagged: bool) -> None:
    pdb = next(o for o in good if o["kind"] == "PodDisruptionBudget")
    del pdb["spec"]["maxUnavailable"]
    pdb["spec"].update(budget)
    findings = check_objects(good)
    if flagged:
        finding = only(findings, "disruption-budget")
        assert finding.severity == Severity.WARNING
        assert "waits forever" in finding.problem
    else:
        assert findings == []


def test_budget_with_both_fields_is_an_error(good: Objects) -> None:
    pdb = next(o for o in good if o["kind"] == "PodDisruptionBudget")
    pdb["spec"]["minAvailable"] = 1
    assert only(check_objects(good), "disruption-budget").severity == Severity.ERROR


def test_budget_for_other_pods_is_ignored(good: Objects) -> None:
    pdb = next(o for o in good if o["kind"] == "PodDisruptionBudget")
    pdb["spec"] = {"maxUnavailable": 0, "selector": {"matchLabels": {"app": "other"}}}
    assert check_objects(good) == []


def test_fixed_namespace_warns(good: Objects) -> None:
    good[0]["metadata"]["namespace"] = "prod"
    finding = only(check_objects(good), "namespace")
    assert finding.severity == Severity.WARNING
    assert finding.fix == "remove metadata.namespace"


def test_service_that_selects_nothing(good: Objects) -> None:
    svc = next(o for o in good if o["kind"] == "Service")
    svc["spec"]["selector"] = {"app.kubernetes.io/name": "typo"}
    finding = only(check_objects(good), "service-selector")
    assert finding.object == "Service/sample-service"
    assert finding.severity == Severity.ERROR


def test_service_without_fixed_node_port_is_fine(good: Objects) -> None:
    svc = next(o for o in good if o["kind"] == "Service")
    del svc["spec"]["ports"][0]["nodePort"]
    assert check_objects(good) == []


def test_malformed_deployment_is_reported_not_raised(good: Objects) -> None:
    dep = deployment(good)
    dep["spec"]["replicas"] = "3"
    dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = "30"
    found = rules(check_objects(good))
    assert {("error", "replicas"), ("error", "grace-period")} <= found
    dep["spec"]["template"]["spec"]["containers"] = None
    assert ("error", "containers") in rules(check_objects(good))


# Output


def test_errors_come_first_and_format_names_everything() -> None:
    objects = set_env(load_manifests(GOOD), READINESS_FLIP="false", KEEPALIVE_CLOSE="abrupt")
    objects[0]["metadata"]["namespace"] = "prod"
    findings = check_objects(objects)
    assert [f.severity for f in findings] == [Severity.ERROR, Severity.WARNING, Severity.WARNING]
    assert all(f.file is None for f in findings)
    text = format_findings(findings)
    assert text.splitlines()[0].startswith("error   Deployment/sample-service [keepalive-close]")
    assert "fix: set KEEPALIVE_CLOSE=polite" in text
    assert text.endswith("1 error, 2 warnings")


def test_format_includes_the_file() -> None:
    text = format_findings(check_manifests(NAIVE))
    assert f"({NAIVE / 'deployment.yaml'}:5)" in text
    assert text.endswith("2 errors, 1 warning")
