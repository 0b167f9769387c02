from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from harness.manifests import (
    Finding,
    ManifestDocument,
    Overrides,
    Severity,
    check_documents,
    check_manifests,
    check_objects,
    find_workload,
    format_findings,
    has_errors,
    load_documents,
    load_manifests,
    render,
    workload_container,
)

REPO = Path(__file__).resolve().parents[3]
GOOD = REPO / "manifests" / "sample-service"
NAIVE = REPO / "manifests" / "sample-service-naive"
DATA = Path(__file__).parents[1] / "data" / "manifests"

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
    # Its image is not the sample service, so DRAIN_DELAY and SHUTDOWN_TIMEOUT mean nothing there:
    # only the preStop 10s counts, and 20s is above it.
    assert "grace-period" not in {f.rule for f in check_manifests(DATA / "grace-too-short")}
    documents = load_documents(DATA / "grace-too-short")
    sample = render([d.obj for d in documents], Overrides(image="rollout-harness/sample-service:0.1.0"))
    findings = check_documents([ManifestDocument(obj, d.path, d.line) for d, obj in zip(documents, sample,
                                                                                          strict=True)])
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


# Shapes the API server rejects: named with the field's path, never a crash


def service(objects: Objects) -> dict[str, Any]:
    found: dict[str, Any] = next(o for o in objects if o["kind"] == "Service")
    return found


def rejected(objects: Objects) -> list[Finding]:
    return [f for f in check_objects(objects) if f.api_rejects]


def only_rejected(objects: Objects, rule: str) -> Finding:
    matching = [f for f in rejected(objects) if f.rule == rule]
    assert len(matching) == 1, check_objects(objects)
    assert matching[0].severity == Severity.ERROR
    return matching[0]


def test_shipped_variants_have_nothing_the_api_rejects() -> None:
    assert rejected(load_manifests(GOOD)) == []
    naive = check_manifests(NAIVE)
    assert has_errors(naive)
    assert [f for f in naive if f.api_rejects] == []


def test_env_written_as_a_mapping(good: Objects) -> None:
    container(good)["env"] = {"SHUTDOWN_MODE": "graceful"}
    finding = only_rejected(good, "env")
    assert "containers[0].env is {'SHUTDOWN_MODE': 'graceful'} (a mapping), not a list" in finding.problem
    assert "the API server rejects it" in finding.problem


@pytest.mark.parametrize(("entry", "expected"), [
    ({"value": "x"}, "env[7].name is None"),
    ({"name": "A=B", "value": "x"}, "env[7].name is 'A=B'"),
    ({"name": "A", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
     "env[7] has both value and valueFrom"),
    ({"name": "A", "valueFrom": "metadata.name"}, "env[7].valueFrom is 'metadata.name' (a string)"),
    ("A=B", "env[7] is 'A=B' (a string), not a mapping"),
])
def test_env_entries_the_api_rejects(good: Objects, entry: Any, expected: str) -> None:
    container(good)["env"].append(entry)
    assert expected in only_rejected(good, "env").problem


def test_service_selector_written_as_a_list(good: Objects) -> None:
    service(good)["spec"]["selector"] = [{"app.kubernetes.io/name": "sample-service"}]
    finding = only_rejected(good, "service-selector")
    assert "spec.selector is" in finding.problem and "(a list), not a mapping" in finding.problem


def test_service_selector_values_must_be_strings(good: Objects) -> None:
    service(good)["spec"]["selector"] = {"app.kubernetes.io/name": 7}
    assert "spec.selector[app.kubernetes.io/name] is 7 (an integer)" in only_rejected(good, "service-selector").problem


@pytest.mark.parametrize(("ports", "expected"), [
    ({"http": 80}, "spec.ports is {'http': 80} (a mapping), not a list"),
    ([{"port": 0}], "spec.ports[0].port is 0, outside 1..65535"),
    ([{"port": "80"}], "spec.ports[0].port is '80' (a string), not a whole number"),
    ([{"port": 80, "targetPort": "Not A Name"}], "targetPort 'Not A Name' is neither a number nor a port name"),
    ([{"port": 80, "protocol": "HTTP"}], "protocol is 'HTTP', not one of TCP, UDP, SCTP"),
    ([{"port": 80}, {"port": 81}], "spec.ports[0].name is missing"),
    (None, "spec.ports is missing"),
])
def test_service_ports_the_api_rejects(good: Objects, ports: Any, expected: str) -> None:
    service(good)["spec"]["ports"] = ports
    assert any(expected in f.problem for f in rejected(good) if f.rule == "ports"), check_objects(good)


def test_node_port_only_on_node_port_services(good: Objects) -> None:
    service(good)["spec"]["type"] = "ClusterIP"
    assert "nodePort is set on a Service of type 'ClusterIP'" in only_rejected(good, "ports").problem


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("periodSeconds", -1, "readinessProbe.periodSeconds is -1, outside 0..2147483647"),
    ("timeoutSeconds", float("inf"), "readinessProbe.timeoutSeconds is inf (not a finite number)"),
    ("failureThreshold", float("nan"), "readinessProbe.failureThreshold is nan (not a finite number)"),
    ("successThreshold", "1", "readinessProbe.successThreshold is '1' (a string)"),
    ("tcpSocket", {"port": 8080}, "readinessProbe names 2 actions (httpGet, tcpSocket)"),
])
def test_probe_numbers_and_actions(good: Objects, field: str, value: Any, expected: str) -> None:
    container(good)["readinessProbe"][field] = value
    assert expected in only_rejected(good, "probe").problem


def test_liveness_probe_success_threshold_is_one(good: Objects) -> None:
    container(good)["livenessProbe"]["successThreshold"] = 2
    assert "a livenessProbe allows only 1" in only_rejected(good, "probe").problem


@pytest.mark.parametrize(("seconds", "expected"), [
    (float("inf"), "sleep.seconds is inf (not a finite number), not a whole number"),
    (float("nan"), "sleep.seconds is nan (not a finite number), not a whole number"),
    (-3, "sleep.seconds is -3, outside"),
    (2.5, "sleep.seconds is 2.5 (a number), not a whole number"),
    (31, "sleep.seconds (31) is above terminationGracePeriodSeconds (30)"),
    (10**30, "sleep.seconds is 1000000000000000000000000000000, outside"),
])
def test_pre_stop_sleep_the_api_rejects(good: Objects, seconds: Any, expected: str) -> None:
    container(good)["lifecycle"]["preStop"]["sleep"]["seconds"] = seconds
    assert expected in only_rejected(good, "lifecycle").problem


def test_pre_stop_exec_command_must_be_a_list_of_strings(good: Objects) -> None:
    container(good)["lifecycle"]["preStop"] = {"exec": {"command": "sleep 5"}}
    assert "exec.command is 'sleep 5' (a string)" in only_rejected(good, "lifecycle").problem
    container(good)["lifecycle"]["preStop"] = {"exec": {"command": ["sleep", 5]}}
    assert "a non-empty list of strings" in only_rejected(good, "lifecycle").problem


@pytest.mark.parametrize("grace", ["30", -5, 1.5, float("inf"), 2**70, True])
def test_grace_period_must_be_a_whole_number(good: Objects, grace: Any) -> None:
    pod_spec(good)["terminationGracePeriodSeconds"] = grace
    assert only_rejected(good, "grace-period").problem.startswith("terminationGracePeriodSeconds")


@pytest.mark.parametrize("replicas", ["3", -1, 2.0, float("nan"), 2**40, None])
def test_replicas_must_be_a_whole_number(good: Objects, replicas: Any) -> None:
    deployment(good)["spec"]["replicas"] = replicas
    assert only_rejected(good, "replicas").problem.startswith("spec.replicas")


@pytest.mark.parametrize(("labels", "expected"), [
    ({"version": 0.1}, "metadata.labels[version] is 0.1 (a number), not a string"),
    ({"version": True}, "metadata.labels[version] is True (a boolean)"),
    ({1: "a"}, "metadata.labels key is 1 (an integer)"),
    (["a", "b"], "metadata.labels is ['a', 'b'] (a list), not a mapping"),
    ({"bad key!": "a"}, "metadata.labels key 'bad key!' is not a valid name"),
    ({"tier": "x" * 64}, "a label value has at most 63"),
])
def test_labels_must_be_string_maps(good: Objects, labels: Any, expected: str) -> None:
    service(good)["metadata"]["labels"] = labels
    assert expected in only_rejected(good, "labels").problem


def test_annotations_must_be_a_string_map(good: Objects) -> None:
    service(good)["metadata"]["annotations"] = {"note": 5}
    assert "metadata.annotations[note] is 5" in only_rejected(good, "labels").problem
    service(good)["metadata"]["annotations"] = {"note": "x" * 500}  # any string will do
    assert rejected(good) == []


@pytest.mark.parametrize(("kind", "name", "valid"), [
    ("Service", "sample-service", True),
    ("Service", "1st", False),  # a Service name starts with a letter
    ("Deployment", "1st", True),
    ("Deployment", "a.b", True),
    ("Deployment", "Sample", False),
    ("Deployment", "a" * 254, False),
    ("PodDisruptionBudget", "-x", False),
])
def test_object_names(good: Objects, kind: str, name: str, valid: bool) -> None:
    obj = next(o for o in good if o["kind"] == kind)
    obj["metadata"]["name"] = name
    names = [f for f in rejected(good) if f.rule == "object-name"]
    assert (names == []) is valid, names


def test_deployment_selector_must_match_its_template(good: Objects) -> None:
    deployment(good)["spec"]["selector"] = {"matchLabels": {"app.kubernetes.io/name": "other"}}
    assert "spec.selector does not match" in only_rejected(good, "selector").problem
    deployment(good)["spec"]["selector"] = {}
    assert "is empty" in only_rejected(good, "selector").problem
    del deployment(good)["spec"]["selector"]
    assert "spec.selector is missing" in only_rejected(good, "selector").problem


def test_selector_expressions(good: Objects) -> None:
    deployment(good)["spec"]["selector"] = {"matchExpressions": [
        {"key": "app.kubernetes.io/name", "operator": "Among", "values": ["sample-service"]}]}
    assert "operator is 'Among'" in only_rejected(good, "selector").problem
    deployment(good)["spec"]["selector"] = {"matchExpressions": [
        {"key": "app.kubernetes.io/name", "operator": "In", "values": ["sample-service"]}]}
    assert rejected(good) == []


def test_containers_of_the_wrong_shape(good: Objects) -> None:
    pod_spec(good)["containers"] = {"sample-service": container(good)}
    finding = only_rejected(good, "containers")
    assert "containers is" in finding.problem and "(a mapping), not a list" in finding.problem
    assert "the pod template has no containers" not in [f.problem for f in check_objects(good)]


def test_container_names(good: Objects) -> None:
    pod_spec(good)["initContainers"] = [{"name": "sample-service", "image": "busybox:1.36"}]
    assert "is also the name of" in only_rejected(good, "containers").problem
    del pod_spec(good)["initContainers"]
    del container(good)["name"]
    assert "containers[0].name is missing" in only_rejected(good, "containers").problem


def test_recreate_with_rolling_update_parameters(good: Objects) -> None:
    deployment(good)["spec"]["strategy"]["type"] = "Recreate"
    assert "rollingUpdate is set with strategy type Recreate" in only_rejected(good, "rollout-strategy").problem


@pytest.mark.parametrize("value", ["banana", "25%\n", "9" * 40 + "%", -1, True, 2**40])
def test_rolling_values_the_api_rejects(good: Objects, value: Any) -> None:
    deployment(good)["spec"]["strategy"]["rollingUpdate"]["maxSurge"] = value
    assert "neither a whole number" in only_rejected(good, "rollout-strategy").problem


@pytest.mark.parametrize("value", ["²", "9" * 5000, "-1", " 50"])
def test_odd_digit_strings_in_the_service_env_are_findings(good: Objects, value: str) -> None:
    findings = check_objects(set_env(good, RESPONSE_DELAY_MS=value))
    assert "RESPONSE_DELAY_MS" in only(findings, "env-invalid").problem
    assert len(only(findings, "env-invalid").problem) < 300


@pytest.mark.parametrize("command", [["sleep", "9" * 400], ["sh", "-c", "sleep " + "9" * 400]])
def test_preposterous_exec_sleeps_count_as_none(good: Objects, command: list[Any]) -> None:
    container(good)["lifecycle"]["preStop"] = {"exec": {"command": command}}
    assert check_objects(good) == []


def test_exec_arguments_that_are_not_strings(good: Objects) -> None:
    container(good)["lifecycle"]["preStop"] = {"exec": {"command": ["sleep", 5]}}
    assert "exec.command" in only_rejected(good, "lifecycle").problem


def test_a_deployment_made_of_wrong_types_gives_findings_not_exceptions(good: Objects) -> None:
    # Every field the checks read, set to a type it must not have.
    for value in (None, 7, "x", [1], {"a": 1}, True, float("nan")):
        objects = copy.deepcopy(good)
        dep = deployment(objects)
        spec = dep["spec"]
        spec["strategy"] = value
        spec["template"]["spec"]["containers"][0]["readinessProbe"] = value
        spec["template"]["spec"]["containers"][0]["lifecycle"] = value
        spec["template"]["spec"]["containers"][0]["ports"] = value
        spec["template"]["metadata"]["labels"] = value
        service(objects)["spec"]["ports"] = value
        pdb = next(o for o in objects if o["kind"] == "PodDisruptionBudget")
        pdb["spec"]["selector"] = value
        assert rejected(objects), value
        assert format_findings(check_objects(objects)).endswith(("warning", "warnings"))
        objects = copy.deepcopy(good)
        deployment(objects)["spec"] = value
        service(objects)["spec"] = value
        assert {"Deployment/sample-service", "Service/sample-service"} <= {f.object for f in rejected(objects)}
