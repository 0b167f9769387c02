"""The disruption registry: one module per action, each with its parameters, execution and gate
declarations; steps run against an in-memory cluster built here (no cluster, no network)."""

from __future__ import annotations

import pkgutil
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, get_args

import kubernetes.client
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

import harness.disruptions as registry
from harness.disruptions import (
    REGISTRY,
    DeadlineStep,
    StepBase,
    StepContext,
    gate_defaults,
    run_step,
    wait_for_start,
)
from harness.disruptions._base import Replaces
from harness.errors import ApiNotFoundError, DisruptionError, ScenarioError, TrafficError
from harness.scenario import Scenario, parse_scenario
from harness.workload import Deployed

# Each action with the fewest fields it needs, and what it implies for the gates:
# (rolls, disruption_replaces, disruption_new_ready).
MINIMAL: dict[str, dict[str, Any]] = {
    "rollout-restart": {},
    "set-image": {"image": "nginx:1.27"},
    "set-env": {"env": {"A": "1"}},
    "scale": {"replicas": 2},
    "delete-pod": {},
    "kill-pod": {},
    "drain": {},
    "rollback": {},
    "wait": {"seconds": 1},
}
IMPLIES: dict[str, tuple[bool, str, bool]] = {
    "rollout-restart": (True, "all", True),
    "set-image": (True, "all", True),
    "set-env": (True, "all", True),
    "rollback": (True, "all", True),
    "scale": (False, "none", True),
    "delete-pod": (False, "any", True),
    "kill-pod": (False, "any", True),
    "drain": (False, "any", True),
    "wait": (False, "none", False),
}
# A field each action takes that some other action does not.
OWN_FIELD = {"set-image": "image", "set-env": "env", "scale": "replicas", "delete-pod": "grace_period_s",
             "kill-pod": "count", "drain": "node", "wait": "seconds"}


def _scenario(*steps: dict[str, Any], **extra: Any) -> Scenario:
    return parse_scenario({"name": "t", "steps": list(steps), **extra}, "mem.yaml")


def _step(action: str) -> dict[str, Any]:
    return {"action": action, **MINIMAL[action]}


def _steps_of(action: str) -> list[dict[str, Any]]:
    # A rollback needs an earlier step that rolls.
    return [{"action": "rollout-restart"}, _step(action)] if action == "rollback" else [_step(action)]


# The registry


def test_every_action_in_the_union_has_a_module_with_execute_and_gate_declarations() -> None:
    union = get_args(get_args(Scenario.model_fields["steps"].annotation)[0])[0]
    tags = {get_args(cls.model_fields["action"].annotation)[0] for cls in get_args(union)}
    modules = {m.name for m in pkgutil.iter_modules(registry.__path__) if not m.name.startswith("_")}
    assert tags == set(REGISTRY) == set(MINIMAL)
    assert modules == {a.replace("-", "_") for a in tags}
    for action, declared in REGISTRY.items():
        assert issubclass(declared.params, StepBase)
        module = f"harness.disruptions.{action.replace('-', '_')}"
        assert declared.params.__module__ == module
        assert declared.execute.__module__ == module  # its own execution, not another action's
        assert declared.replaces in get_args(Replaces)
        assert (declared.rolls, declared.replaces, declared.new_ready) == IMPLIES[action]
        # A step that changes the workload is waited for, so it has a deadline.
        assert declared.disrupts == issubclass(declared.params, DeadlineStep)


@pytest.mark.parametrize("action", sorted(MINIMAL))
def test_each_action_parses_its_parameters_and_declares_its_gates(action: str) -> None:
    scenario = _scenario(*_steps_of(action))
    step = scenario.steps[-1]
    assert type(step) is REGISTRY[action].params
    assert step.label == action
    rolls, replaces, new_ready = IMPLIES[action]
    assert REGISTRY[action].rolls is rolls
    if action != "rollback":  # alone: a rollback scenario also holds the step it undoes
        gates = gate_defaults(scenario)
        assert (gates.disruption_replaces, gates.disruption_new_ready) == (replaces, new_ready)


@pytest.mark.parametrize("action", sorted(MINIMAL))
def test_fields_of_other_actions_are_refused_naming_what_the_action_takes(action: str) -> None:
    foreign = next(f for a, f in OWN_FIELD.items() if a != action and f not in REGISTRY[action].params.model_fields)
    with pytest.raises(ScenarioError) as info:
        _scenario(*_steps_of(action)[:-1], {**_step(action), foreign: 1})
    text = info.value.problem
    assert f"steps[{len(_steps_of(action)) - 1}].{foreign}" in text
    assert f"does not apply to action {action}, which takes" in text
    for own in REGISTRY[action].params.model_fields:
        assert own in text.split("which takes", 1)[1]


def test_gate_defaults_take_the_strongest_step_and_honour_explicit_fields() -> None:
    mixed = _scenario({"action": "scale", "replicas": 1}, {"action": "delete-pod"}, {"action": "rollout-restart"})
    assert gate_defaults(mixed).disruption_replaces == "all"
    pods = _scenario({"action": "wait", "seconds": 1}, {"action": "kill-pod"})
    assert (gate_defaults(pods).disruption_replaces, gate_defaults(pods).disruption_new_ready) == ("any", True)
    explicit = _scenario({"action": "rollout-restart"},
                         gates={"disruption_replaces": "none", "disruption_new_ready": False, "min_requests": 5})
    gates = gate_defaults(explicit)
    assert (gates.disruption_replaces, gates.disruption_new_ready, gates.min_requests) == ("none", False, 5)
    only_one = gate_defaults(_scenario({"action": "wait", "seconds": 1}, gates={"disruption_replaces": "any"}))
    assert (only_one.disruption_replaces, only_one.disruption_new_ready) == ("any", False)


# An in-memory cluster behind the client classes the steps and the workload helpers use


def _pod(name: str, node: str, *, terminating: bool = False, ready: bool = True) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, deletion_timestamp="2024-01-01T00:00:00Z" if terminating else None),
        spec=client.V1PodSpec(node_name=node, containers=[client.V1Container(name="web")]),
        status=client.V1PodStatus(conditions=[client.V1PodCondition(type="Ready", status=str(ready))]),
    )


def _template(image: str, hash_: str) -> client.V1PodTemplateSpec:
    return client.V1PodTemplateSpec(
        metadata=client.V1ObjectMeta(labels={"app": "web", "pod-template-hash": hash_}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="web", image=image)]))


def _replica_set(name: str, revision: int, image: str, owner: str = "uid-web") -> client.V1ReplicaSet:
    return client.V1ReplicaSet(
        metadata=client.V1ObjectMeta(name=name, annotations={"deployment.kubernetes.io/revision": str(revision)},
                                     owner_references=[client.V1OwnerReference(
                                         api_version="apps/v1", kind="Deployment", name="web", uid=owner)]),
        spec=client.V1ReplicaSetSpec(selector=client.V1LabelSelector(match_labels={"app": "web"}),
                                     template=_template(image, name.rsplit("-", 1)[-1])))


@dataclass
class FakeCluster:
    pods: list[client.V1Pod]
    replica_sets: list[client.V1ReplicaSet] = field(default_factory=list)
    refuse_evictions: list[int] = field(default_factory=list)  # statuses to answer, in turn, before success
    fail_patch: int | None = None
    calls: list[tuple[str, Any]] = field(default_factory=list)
    deployment: client.V1Deployment = field(default_factory=lambda: client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web", generation=2, uid="uid-web",
                                     annotations={"deployment.kubernetes.io/revision": "2"}),
        spec=client.V1DeploymentSpec(replicas=3, selector=client.V1LabelSelector(match_labels={"app": "web"}),
                                     template=_template("img:2", "bbb")),
        status=client.V1DeploymentStatus(observed_generation=2, replicas=3, updated_replicas=3,
                                         available_replicas=3)))

    def list_namespaced_pod(self, namespace: str, **_: Any) -> client.V1PodList:
        return client.V1PodList(items=list(self.pods))

    def delete_namespaced_pod(self, name: str, namespace: str, body: Any = None) -> None:
        self.calls.append(("delete", (name, body.grace_period_seconds if body is not None else None)))
        self.pods = [p for p in self.pods if p.metadata.name != name]

    def read_namespaced_deployment(self, name: str, namespace: str, **_: Any) -> client.V1Deployment:
        return self.deployment

    def patch_namespaced_deployment(self, name: str, namespace: str, body: dict[str, Any]) -> None:
        if self.fail_patch is not None:
            raise ApiException(status=self.fail_patch, reason="Not Found")
        self.calls.append(("patch", body))

    def list_namespaced_replica_set(self, namespace: str, **_: Any) -> client.V1ReplicaSetList:
        return client.V1ReplicaSetList(items=self.replica_sets)

    def patch_node(self, name: str, body: dict[str, Any]) -> None:
        self.calls.append(("node", (name, body["spec"]["unschedulable"])))

    def create_namespaced_pod_eviction(self, name: str, namespace: str, body: Any) -> None:
        if self.refuse_evictions:
            raise ApiException(status=self.refuse_evictions.pop(0), reason="refused")
        self.calls.append(("evict", name))
        self.pods = [p for p in self.pods if p.metadata.name != name]

    def of(self, kind: str) -> list[Any]:
        return [arg for k, arg in self.calls if k == kind]


@dataclass
class Recorder:
    actions: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)

    def action(self, step: str, phase: str, detail: str = "", **extra: Any) -> object:
        self.actions.append((step, phase, detail, extra))
        return None

    def phases(self) -> list[str]:
        return [phase for _, phase, _, _ in self.actions]


@dataclass
class Traffic:
    sent: int = 0
    polls: int = 0

    @property
    def status(self) -> SimpleNamespace:
        return SimpleNamespace(sent=self.sent)

    def check_alive(self) -> None:
        self.polls += 1


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCluster]:
    fake = FakeCluster(pods=[_pod(f"web-{c}", "worker" if c in "ab" else "worker2") for c in "abc"])
    monkeypatch.setattr(kubernetes.client, "CoreV1Api", lambda api=None: fake)
    monkeypatch.setattr(kubernetes.client, "AppsV1Api", lambda api=None: fake)
    yield fake


def _context(scenario: Scenario, *, traffic: Traffic | None = None,
             images: dict[str, tuple[str, str | None]] | None = None) -> StepContext:
    deployed = Deployed(namespace="ns", deployment="web", service="web", node_port=30080, selector={"app": "web"})
    return StepContext(api=client.ApiClient(), deployed=deployed, scenario=scenario, writer=Recorder(),
                       traffic=traffic or Traffic(), resolve_image=lambda v: (images or {})[v])


def _run(ctx: StepContext, index: int = -1) -> Any:
    return run_step(ctx.scenario.steps[index], ctx)


def _writer(ctx: StepContext) -> Recorder:
    assert isinstance(ctx.writer, Recorder)
    return ctx.writer


# Execution


def test_a_rolling_step_writes_start_applied_end_and_returns_the_rollout(cluster: FakeCluster) -> None:
    ctx = _context(_scenario({"action": "rollout-restart", "name": "restart", "deadline_s": 30}))
    facts = _run(ctx)
    assert facts is not None and facts.completed and facts.deadline_s == 30 and facts.error is None
    assert _writer(ctx).phases() == ["start", "applied", "end"]
    annotations = cluster.of("patch")[0]["spec"]["template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in annotations
    assert _writer(ctx).actions[0][:3] == ("restart", "start", "rollout-restart")
    assert _writer(ctx).actions[2][3] == {"disruption": True, "rollout_done": True}


def test_a_step_that_rolls_nothing_returns_none_and_names_the_pods_it_deleted(cluster: FakeCluster) -> None:
    ctx = _context(_scenario({"action": "kill-pod", "count": 2}))
    assert _run(ctx) is None
    deleted = cluster.of("delete")
    assert len(deleted) == 2 and all(grace == 0 for _, grace in deleted)
    applied = _writer(ctx).actions[1]
    assert applied[1] == "applied" and applied[3]["pods"] == sorted(name for name, _ in deleted)
    assert _writer(ctx).phases() == ["start", "applied", "end"]


def test_wait_only_lets_time_pass_watching_the_traffic(cluster: FakeCluster) -> None:
    traffic = Traffic()
    ctx = _context(_scenario({"action": "wait", "seconds": 0.6}), traffic=traffic)
    assert _run(ctx) is None
    assert _writer(ctx).phases() == ["start", "end"]
    assert _writer(ctx).actions[1][2] == "waited 0.6 s"
    assert all(extra["disruption"] is False for *_, extra in _writer(ctx).actions)
    assert traffic.polls >= 1 and cluster.calls == []


def test_an_api_error_is_written_as_the_steps_error_and_raised(cluster: FakeCluster) -> None:
    cluster.fail_patch = 404
    ctx = _context(_scenario({"action": "scale", "replicas": 1}))
    with pytest.raises(ApiNotFoundError):
        _run(ctx)
    assert _writer(ctx).phases() == ["start", "error"]
    assert "patch deployment web" in _writer(ctx).actions[1][2]


def test_set_image_builds_a_version_or_takes_an_image(cluster: FakeCluster) -> None:
    ctx = _context(_scenario({"action": "set-image", "version": "0.2.0"}),
                   images={"0.2.0": ("rollout-harness/sample-service:0.2.0", "0.2.0")})
    _run(ctx)
    template = cluster.of("patch")[0]["spec"]["template"]
    assert template["spec"]["containers"] == [{"name": "web", "image": "rollout-harness/sample-service:0.2.0"}]
    assert template["metadata"]["labels"] == {"app.kubernetes.io/version": "0.2.0"}
    _run(_context(_scenario({"action": "set-image", "image": "nginx:1.27"})))
    assert cluster.of("patch")[1] == {"spec": {"template": {"spec": {
        "containers": [{"name": "web", "image": "nginx:1.27"}]}}}}


def test_set_env_patches_the_container_by_name(cluster: FakeCluster) -> None:
    _run(_context(_scenario({"action": "set-env", "env": {"B": "2", "A": "1"}})))
    container = cluster.of("patch")[0]["spec"]["template"]["spec"]["containers"][0]
    assert container == {"name": "web", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}


def test_rollback_puts_the_previous_template_back(cluster: FakeCluster) -> None:
    cluster.replica_sets = [_replica_set("web-aaa", 1, "img:1"), _replica_set("web-bbb", 2, "img:2"),
                            _replica_set("other-ccc", 1, "img:0", owner="uid-other")]
    ctx = _context(_scenario({"action": "rollout-restart"}, {"action": "rollback"}))
    _run(ctx)
    template = cluster.of("patch")[0]["spec"]["template"]
    assert template["spec"]["containers"][0]["image"] == "img:1"
    assert template["metadata"]["labels"] == {"app": "web"}  # the ReplicaSet's own hash label removed
    assert "revision 1 (web-aaa)" in _writer(ctx).actions[1][2]


def test_rollback_without_an_earlier_revision_is_a_disruption_error(cluster: FakeCluster) -> None:
    cluster.replica_sets = [_replica_set("web-bbb", 2, "img:2")]
    with pytest.raises(DisruptionError, match="no earlier revision"):
        _run(_context(_scenario({"action": "rollout-restart"}, {"action": "rollback"})))


def test_deleting_more_pods_than_run_is_refused(cluster: FakeCluster) -> None:
    cluster.pods.append(_pod("web-z", "worker", terminating=True))  # going already: not a candidate
    with pytest.raises(DisruptionError, match="only 3 running pods"):
        _run(_context(_scenario({"action": "delete-pod", "count": 4})))
    assert cluster.of("delete") == []


# Seeded choices


def _victims(seed: int, pods: list[client.V1Pod], monkeypatch: pytest.MonkeyPatch, count: int = 2) -> list[str]:
    fake = FakeCluster(pods=pods)
    monkeypatch.setattr(kubernetes.client, "CoreV1Api", lambda api=None: fake)
    monkeypatch.setattr(kubernetes.client, "AppsV1Api", lambda api=None: fake)
    _run(_context(_scenario({"action": "delete-pod", "count": count, "grace_period_s": 5}, seed=seed)))
    assert all(grace == 5 for _, grace in fake.of("delete"))
    return [name for name, _ in fake.of("delete")]


def test_the_seed_decides_which_pods_are_deleted_whatever_order_the_api_lists_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    pods = [_pod(f"web-{i:02d}", "worker") for i in range(10)]
    shuffled = pods[:]
    random.Random(99).shuffle(shuffled)
    first = _victims(7, pods, monkeypatch)
    assert _victims(7, shuffled, monkeypatch) == first
    names = sorted(p.metadata.name for p in pods)
    assert first == sorted(random.Random(7).sample(names, 2))  # the documented rule: the seed on the sorted names
    assert len({tuple(_victims(seed, pods, monkeypatch)) for seed in range(12)}) > 1


# Drain


def test_drain_cordons_the_busiest_node_evicts_its_pods_and_leaves_an_uncordon(cluster: FakeCluster) -> None:
    cluster.refuse_evictions = [429]  # the budget allows no disruption at first
    ctx = _context(_scenario({"action": "drain", "deadline_s": 30}))
    assert _run(ctx) is None
    assert cluster.of("node") == [("worker", True)]
    assert cluster.of("evict") == ["web-a", "web-b"]
    assert _writer(ctx).actions[1][3]["pods"] == ["web-a", "web-b"]
    assert [c.left for c in ctx.cleanup] == ["node worker is still cordoned"]
    ctx.cleanup[0].run()
    assert cluster.of("node")[-1] == ("worker", False)


def test_a_tie_between_nodes_is_drawn_with_the_seed(cluster: FakeCluster) -> None:
    cluster.pods = [_pod("web-a", "node-1"), _pod("web-b", "node-2")]
    ctx = _context(_scenario({"action": "drain"}, seed=3))
    _run(ctx)
    assert cluster.of("node")[0] == (random.Random(3).choice(["node-1", "node-2"]), True)


def test_a_failed_drain_uncordons_at_once(cluster: FakeCluster) -> None:
    cluster.refuse_evictions = [403]
    ctx = _context(_scenario({"action": "drain", "node": "worker2"}))
    with pytest.raises(DisruptionError, match="evicting web-c from worker2"):
        _run(ctx)
    assert cluster.of("node") == [("worker2", True), ("worker2", False)]
    assert ctx.cleanup == []
    assert _writer(ctx).phases() == ["start", "error"]


# Start conditions


def test_a_start_condition_waits_for_the_traffic_and_times_out_with_a_clear_error(cluster: FakeCluster) -> None:
    ready = _context(_scenario({"action": "delete-pod", "when": {"requests_at_least": 10, "ready_pods_at_least": 3}}),
                     traffic=Traffic(sent=10))
    wait_for_start(ready.scenario.steps[0], ready)
    never = _context(_scenario({"action": "delete-pod", "when": {"ready_pods_at_most": 1, "timeout_s": 0.3}}))
    with pytest.raises(DisruptionError, match=r"ready_pods_at_most 1\) did not hold within 0.3 s"):
        wait_for_start(never.scenario.steps[0], never)


@dataclass
class DyingTraffic(Traffic):
    def check_alive(self) -> None:
        raise TrafficError("the traffic process exited", "see traffic.log")


def test_the_uncordon_stays_registered_when_the_run_fails_after_the_drain(cluster: FakeCluster) -> None:
    ctx = _context(_scenario({"action": "drain", "node": "worker"}), traffic=DyingTraffic())
    with pytest.raises(TrafficError):
        _run(ctx)  # the drain is done; waiting for the Deployment finds the traffic process gone
    assert cluster.of("node") == [("worker", True)]
    assert _writer(ctx).phases() == ["start", "applied", "error"]
    assert [c.kubectl for c in ctx.cleanup] == ["uncordon worker"]


def test_a_pod_gone_before_its_eviction_is_not_an_error(cluster: FakeCluster) -> None:
    cluster.refuse_evictions = [404]
    ctx = _context(_scenario({"action": "drain", "node": "worker"}))
    _run(ctx)
    assert cluster.of("evict") == ["web-b"]
