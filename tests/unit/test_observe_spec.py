"""pod_data's spec_containers: each container's preStop hook and readiness probe, from client models."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from harness.observe import pod_data, spec_containers_data


def _pod(*containers: client.V1Container) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name="web-a", uid="u1", labels={}),
        spec=client.V1PodSpec(containers=list(containers), node_name="n1"),
        status=client.V1PodStatus(phase="Running", conditions=[], container_statuses=[]),
    )


def _only(pod: client.V1Pod) -> dict[str, Any]:
    (container,) = pod_data(pod)["spec_containers"]
    assert isinstance(container, dict)
    return container


def test_a_sleep_pre_stop_and_an_http_probe_with_its_own_numbers() -> None:
    container = client.V1Container(
        name="web",
        lifecycle=client.V1Lifecycle(pre_stop=client.V1LifecycleHandler(sleep=client.V1SleepAction(seconds=5))),
        readiness_probe=client.V1Probe(http_get=client.V1HTTPGetAction(path="/ready", port=8080), period_seconds=2,
                                       failure_threshold=1, initial_delay_seconds=3, timeout_seconds=4,
                                       success_threshold=2))
    assert _only(_pod(container)) == {
        "name": "web", "pre_stop": {"sleep_s": 5},
        "readiness": {"period_s": 2, "failure_threshold": 1, "initial_delay_s": 3, "timeout_s": 4,
                      "success_threshold": 2, "probe": "http_get /ready:8080"}}


def test_probe_fields_left_out_take_the_kubernetes_defaults() -> None:
    container = client.V1Container(name="web", readiness_probe=client.V1Probe(
        tcp_socket=client.V1TCPSocketAction(port=8080)))
    assert _only(_pod(container))["readiness"] == {"period_s": 10, "failure_threshold": 3, "initial_delay_s": 0,
                                                   "timeout_s": 1, "success_threshold": 1, "probe": "tcp 8080"}


def test_exec_hooks_and_grpc_or_named_port_probes_are_named_briefly() -> None:
    long_arg = "x" * 300
    web = client.V1Container(
        name="web",
        lifecycle=client.V1Lifecycle(pre_stop=client.V1LifecycleHandler(
            _exec=client.V1ExecAction(command=["/bin/sh", "-c", "sleep 3"]))),
        readiness_probe=client.V1Probe(grpc=client.V1GRPCAction(port=9000)))
    side = client.V1Container(
        name="side",
        lifecycle=client.V1Lifecycle(pre_stop=client.V1LifecycleHandler(
            http_get=client.V1HTTPGetAction(port="admin"))),
        readiness_probe=client.V1Probe(_exec=client.V1ExecAction(command=["check", long_arg])))
    first, second = pod_data(_pod(web, side))["spec_containers"]
    assert first["pre_stop"] == {"exec": "/bin/sh -c sleep 3"}
    assert first["readiness"]["probe"] == "grpc 9000"
    assert second["pre_stop"] == {"http_get": "/:admin"}
    assert second["readiness"]["probe"].startswith("exec check xxx")
    assert len(second["readiness"]["probe"]) == 200


def test_a_container_without_hook_or_probe_and_a_pod_without_spec() -> None:
    assert _only(_pod(client.V1Container(name="web"))) == {"name": "web", "pre_stop": None, "readiness": None}
    assert spec_containers_data(None) == []
    bare = client.V1Pod(metadata=client.V1ObjectMeta(name="web-b"), status=client.V1PodStatus())
    assert pod_data(bare)["spec_containers"] == []
