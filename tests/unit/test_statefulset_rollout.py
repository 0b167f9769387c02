"""A StatefulSet's rollout: when it is complete (RollingUpdate, a partition, OnDelete) on status objects
built here, the steps patching and reading it, and old pods told from new ones by UID although a
StatefulSet's new pod takes the old one's name (the gate, the container watch, the observer's re-list)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest
from kubernetes import client

from harness.containers import ContainerWatch
from harness.disruptions import StepContext, run_step
from harness.evidence import TimelineEvent, TimelineKind, read_timeline
from harness.observe import TimelineWriter, _Observer, pod_data
from harness.scenario import parse_scenario
from harness.verdict import GateConfig, GateStatus, RolloutFacts, RunFacts
from harness.verdict.gates import Evidence, disruption_observed, rollout_completed
from harness.verdict.summary import summarize_requests
from harness.workload import Deployed, statefulset_state, workload_state


def _sts(*, generation: int = 2, observed: int = 2, replicas: int = 3, ready: int = 3, updated: int = 3,
         total: int = 3, current: str = "web-b", update: str = "web-b", strategy: str = "RollingUpdate",
         partition: int | None = None) -> client.V1StatefulSet:
    rolling = client.V1RollingUpdateStatefulSetStrategy(partition=partition) if partition is not None else None
    return client.V1StatefulSet(
        metadata=client.V1ObjectMeta(name="web", generation=generation),
        spec=client.V1StatefulSetSpec(
            replicas=replicas, service_name="web-pods", selector=client.V1LabelSelector(match_labels={"app": "web"}),
            template=client.V1PodTemplateSpec(spec=client.V1PodSpec(containers=[client.V1Container(name="web")])),
            update_strategy=client.V1StatefulSetUpdateStrategy(type=strategy, rolling_update=rolling)),
        status=client.V1StatefulSetStatus(observed_generation=observed, replicas=total, ready_replicas=ready,
                                          updated_replicas=updated, current_revision=current,
                                          update_revision=update))


@pytest.mark.parametrize(("sts", "done", "words"), [
    (_sts(), True, "rolled out: 3 pods at revision web-b"),
    (_sts(observed=1), False, "spec update to be observed"),
    (_sts(observed=0, generation=0), False, "spec update to be observed"),
    # The controller moved to a new revision and has updated one pod so far.
    (_sts(updated=1, current="web-a"), False, "1 of 3 pods are at revision web-b"),
    # Every pod updated but the controller has not yet moved currentRevision: not yet.
    (_sts(current="web-a"), False, "3 of 3 pods are at revision web-b"),
    (_sts(ready=2, updated=2, current="web-a"), False, "2 of 3 pods are ready"),
    (_sts(ready=3, updated=2), False, "2 of 3 pods are at revision"),
    (_sts(total=4), False, "1 pods beyond the 3 replicas"),
])
def test_a_rolling_update_is_complete_when_every_pod_is_at_the_update_revision(
        sts: client.V1StatefulSet, done: bool, words: str) -> None:
    state = statefulset_state(sts)
    assert (state.done, state.failed) == (done, False)
    assert words in state.message
    assert state.scope is None
    assert workload_state(sts, "StatefulSet") == state


def test_a_partition_is_complete_once_the_ordinals_at_or_above_it_are_updated() -> None:
    waiting = statefulset_state(_sts(partition=2, updated=0, current="web-a"))
    assert not waiting.done and "0 of 1 pods with ordinal >= 2 are updated (partition 2)" in waiting.message
    # currentRevision never moves while ordinals 0 and 1 keep the old one: complete all the same.
    done = statefulset_state(_sts(partition=2, updated=1, current="web-a"))
    assert done.done and "partitioned rollout complete" in done.message
    assert done.scope is not None and "ordinal >= 2" in done.scope
    unready = statefulset_state(_sts(partition=2, updated=1, ready=2, current="web-a"))
    assert not unready.done
    # A partition of 0 is every pod: the plain rule.
    assert statefulset_state(_sts(partition=0, current="web-a")).done is False
    # A partition beyond the replicas updates nothing, and waits for nothing.
    assert statefulset_state(_sts(partition=5, updated=0, current="web-a")).done


def test_the_gate_reason_says_what_a_partitioned_rollout_covered() -> None:
    scope = statefulset_state(_sts(partition=2, updated=1, current="web-a")).scope
    facts = _facts(rollout=RolloutFacts(completed=True, deadline_s=60, duration_s=12.5, scope=scope))
    result = rollout_completed(_evidence([], facts), GateConfig())
    assert result.status is GateStatus.PASS
    assert "the rollout completed after 12.5s (deadline 60.0s); partition 2: complete once" in result.reason
    plain = rollout_completed(_evidence([], _facts(rollout=RolloutFacts(completed=True))), GateConfig())
    assert "partition" not in plain.reason


def test_on_delete_is_whole_when_every_replica_is_ready_and_says_which_pods_stay_old() -> None:
    stale = statefulset_state(_sts(strategy="OnDelete", updated=0, current="web-a"))
    assert stale.done and "3 pod(s) keep revision web-a until deleted (OnDelete)" in stale.message
    assert not statefulset_state(_sts(strategy="OnDelete", ready=2)).done
    assert statefulset_state(_sts(strategy="OnDelete")).message == "statefulset web: 3 of 3 pods ready"


# The steps patch and read the StatefulSet, not a Deployment


class _Apps:
    def __init__(self, sts: client.V1StatefulSet) -> None:
        self.sts = sts
        self.patches: list[dict[str, Any]] = []

    def read_namespaced_stateful_set(self, name: str, namespace: str, **_: Any) -> client.V1StatefulSet:
        return self.sts

    def patch_namespaced_stateful_set(self, name: str, namespace: str, body: dict[str, Any]) -> None:
        self.patches.append(body)

    def read_namespaced_deployment(self, *_: Any, **__: Any) -> None:
        raise AssertionError("a StatefulSet's step read a Deployment")

    patch_namespaced_deployment = read_namespaced_deployment


class _Writer:
    def __init__(self) -> None:
        self.actions: list[tuple[str, str, str, dict[str, Any]]] = []

    def action(self, step: str, phase: str, detail: str = "", **extra: Any) -> object:
        self.actions.append((step, phase, detail, extra))
        return None


class _Traffic:
    status = type("S", (), {"sent": 0})()

    def check_alive(self) -> None:
        return None


@pytest.mark.parametrize(("step", "patched"), [
    ({"action": "rollout-restart"}, ("spec", "template", "metadata", "annotations")),
    ({"action": "set-image", "image": "web:2"}, ("spec", "template", "spec", "containers")),
    ({"action": "scale", "replicas": 2}, ("spec", "replicas")),
])
def test_a_step_on_a_statefulset_patches_it_and_waits_for_its_rollout(
        monkeypatch: pytest.MonkeyPatch, step: dict[str, Any], patched: tuple[str, ...]) -> None:
    apps = _Apps(_sts(partition=2, updated=1, current="web-a"))
    monkeypatch.setattr(kubernetes.client, "AppsV1Api", lambda api=None: apps)
    scenario = parse_scenario({"name": "t", "steps": [{**step, "deadline_s": 5}]}, "mem.yaml")
    deployed = Deployed(namespace="ns", deployment="web", service="web", node_port=None, selector={"app": "web"},
                        kind="StatefulSet")
    ctx = StepContext(api=client.ApiClient(), deployed=deployed, scenario=scenario, writer=_Writer(),
                      traffic=_Traffic(), resolve_image=lambda v: (v, None))
    facts = run_step(scenario.steps[0], ctx)
    value: Any = apps.patches[0]
    for key in patched:
        value = value[key]
    assert value
    if step["action"] == "scale":
        assert facts is None
    else:
        assert facts is not None and facts.completed and facts.scope is not None and "partition 2" in facts.scope


# Old and new pods by UID


T0, M0 = 1_700_000_000.0, 1000.0
NAMES = ("web-0", "web-1")


def _pod(at: float, name: str, uid: str, *, type_: str = "MODIFIED", ready: bool = True,
         terminating: bool = False) -> TimelineEvent:
    return TimelineEvent(t=T0 + at, m=M0 + at, kind=TimelineKind.POD, type=type_, name=name,
                         data={"name": name, "uid": uid, "ready": ready, "terminating": terminating, "node": "n1"})


def _action(at: float, step: str, phase: str) -> TimelineEvent:
    return TimelineEvent(t=T0 + at, m=M0 + at, kind=TimelineKind.ACTION, type=phase, name=step,
                         data={"step": step, "phase": phase, "disruption": True})


def _facts(**extra: Any) -> RunFacts:
    data: dict[str, Any] = {"scenario": "s", "run_id": "r", "started_at": T0, "old_pods": list(NAMES)}
    return RunFacts(**{**data, **extra})


def _evidence(timeline: list[TimelineEvent], facts: RunFacts) -> Evidence:
    return Evidence(summary=summarize_requests([]), timeline=timeline, facts=facts)


def _restart(replaced: tuple[str, ...]) -> list[TimelineEvent]:
    """A restart in which each pod of ``replaced`` is deleted and a new pod of the same name gets ready."""
    events = [_pod(-5, name, f"old-{name}", type_="LIST") for name in NAMES]
    events.append(_action(1, "restart", "start"))
    for i, name in enumerate(replaced):
        at = 2 + 5 * i
        events += [_pod(at, name, f"old-{name}", ready=False, terminating=True),
                   _pod(at + 1, name, f"old-{name}", type_="DELETED", ready=False, terminating=True),
                   _pod(at + 2, name, f"new-{name}", type_="ADDED", ready=False),
                   _pod(at + 3, name, f"new-{name}")]
    # The pod that was not replaced reports itself ready after the start: still an old pod.
    events += [_pod(20, name, f"old-{name}") for name in NAMES if name not in replaced]
    return events


UIDS = {name: f"old-{name}" for name in NAMES}


def test_new_pods_under_old_names_count_as_new_by_uid() -> None:
    result = disruption_observed(_evidence(_restart(NAMES), _facts(old_pod_uids=UIDS)), GateConfig())
    assert result.status is GateStatus.PASS, result.reason
    assert (result.numbers["replaced"], result.numbers["new_ready"]) == (2, 2)


def test_by_name_alone_a_statefulset_restart_would_look_like_no_new_pod() -> None:
    # Without UIDs (timelines recorded before they were kept) the names decide, and find no new pod.
    result = disruption_observed(_evidence(_restart(NAMES), _facts()), GateConfig())
    assert result.status is GateStatus.INCONCLUSIVE and "no new pod became ready" in result.reason


def test_an_old_pod_left_in_place_is_untouched_by_uid() -> None:
    result = disruption_observed(_evidence(_restart(("web-1",)), _facts(old_pod_uids=UIDS)), GateConfig())
    assert result.status is GateStatus.INCONCLUSIVE
    assert "1 of 2 old pods were never deleted or terminating" in result.reason and "web-0" in result.reason
    assert result.numbers["new_ready"] == 1


def _write(path: Path, *events: TimelineEvent) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.writelines(event.to_json() + "\n" for event in events)


def test_the_container_watch_tells_a_new_pod_of_the_same_name_by_uid(tmp_path: Path) -> None:
    timeline = tmp_path / "timeline.jsonl"
    _write(timeline, _pod(1, "web-0", "old-web-0", type_="ADDED"),
           _pod(2, "web-0", "old-web-0", type_="DELETED", terminating=True))
    running = {"web-0", "uid:old-web-0"}
    watch = ContainerWatch(timeline, "ns", kind_nodes=True, ask=lambda node, ns: set(running))
    watch.poll()
    assert watch.pending() == ["web-0"]
    running = {"web-0", "uid:new-web-0"}  # the successor runs under the same name
    watch.poll()
    assert watch.all_gone() and watch.facts()["web-0"].how == "runtime"
    assert watch.facts()["web-0"].uid == "old-web-0"


def test_pod_data_records_a_statefulset_pods_controller_revision() -> None:
    pod = client.V1Pod(metadata=client.V1ObjectMeta(name="web-0", uid="u1", labels={
        "controller-revision-hash": "web-5d8f", "statefulset.kubernetes.io/pod-name": "web-0"}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="web")]), status=client.V1PodStatus())
    data = pod_data(pod)
    assert (data["uid"], data["revision"]) == ("u1", "web-5d8f")


def _listed(*pods: tuple[str, str]) -> client.V1PodList:
    items = [client.V1Pod(metadata=client.V1ObjectMeta(name=name, uid=uid),
                          spec=client.V1PodSpec(containers=[client.V1Container(name="web")]),
                          status=client.V1PodStatus(phase="Running")) for name, uid in pods]
    return client.V1PodList(items=items, metadata=client.V1ListMeta(resource_version="1"))


def test_a_relist_that_finds_a_name_held_by_a_new_pod_records_the_old_ones_deletion(tmp_path: Path) -> None:
    lists = [_listed(("web-0", "old"), ("web-1", "one")), _listed(("web-0", "new"), ("web-1", "one"))]
    writer = TimelineWriter(tmp_path / "timeline.jsonl")
    writer.start()
    observer = _Observer("pods", TimelineKind.POD, lambda namespace, **_: lists.pop(0), "ns", pod_data, writer,
                         threading.Event())
    observer._relist()
    observer._relist()  # as after an expired watch: web-0 was replaced meanwhile
    writer.close()
    pods = [(e.type, e.name, e.data["uid"]) for e in read_timeline(tmp_path / "timeline.jsonl")
            if e.kind is TimelineKind.POD]
    assert pods == [("LIST", "web-0", "old"), ("LIST", "web-1", "one"),
                    ("DELETED", "web-0", "old"), ("LIST", "web-0", "new")]
