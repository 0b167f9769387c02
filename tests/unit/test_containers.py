"""ContainerWatch: when a disrupted pod's containers were gone, from the runtime or bounded by grace."""

from __future__ import annotations

from pathlib import Path

from harness.containers import ContainerWatch
from harness.evidence import TimelineEvent, TimelineKind


def _write(path: Path, *events: TimelineEvent) -> None:
    with path.open("a", encoding="utf-8") as fh:
        for event in events:
            fh.write(event.to_json() + "\n")


def _pod(m: float, name: str, type_: str = "MODIFIED", **data: object) -> TimelineEvent:
    return TimelineEvent(t=1000.0 + m, m=m, kind=TimelineKind.POD, type=type_, name=name,
                         data={"name": name, **data})


def test_force_killed_pod_is_gone_only_when_the_runtime_stops_running_it(tmp_path: Path) -> None:
    timeline = tmp_path / "timeline.jsonl"
    _write(timeline, _pod(1.0, "web-a", "ADDED", node="n1", terminating=False),
           _pod(2.0, "web-a", "DELETED", node="n1", terminating=True, deletion_grace_period_s=0))
    running = {"n1": {"web-a", "web-b"}}
    asked: list[tuple[str, str]] = []

    def ask(node: str, namespace: str) -> set[str] | None:
        asked.append((node, namespace))
        return running[node]

    watch = ContainerWatch(timeline, "rh-x", kind_nodes=True, ask=ask)
    watch.poll()
    assert watch.pending() == ["web-a"], "the pod object is gone but its container still runs"
    assert not watch.all_gone()
    running["n1"] = {"web-b"}
    watch.poll()
    fact = watch.facts()["web-a"]
    assert fact.how == "runtime"
    assert fact.containers_gone_m is not None and fact.containers_gone_m > fact.deleted_m
    assert fact.deleted_m == 2.0 and fact.node == "n1"
    assert watch.all_gone()
    assert asked == [("n1", "rh-x"), ("n1", "rh-x")]


def test_an_unanswered_runtime_concludes_nothing(tmp_path: Path) -> None:
    timeline = tmp_path / "timeline.jsonl"
    _write(timeline, _pod(1.0, "web-a", node="n1", terminating=True))
    watch = ContainerWatch(timeline, "rh-x", kind_nodes=True, ask=lambda node, ns: None)
    watch.poll()
    assert watch.pending() == ["web-a"]


def test_outside_kind_the_grace_period_bounds_the_end(tmp_path: Path) -> None:
    timeline = tmp_path / "timeline.jsonl"
    _write(timeline, _pod(1.0, "web-a", node="n1", terminating=False, grace_period_s=30),
           _pod(4.0, "web-a", node="n1", terminating=True, deletion_grace_period_s=0, grace_period_s=30))
    watch = ContainerWatch(timeline, "rh-x", kind_nodes=False, ask=lambda node, ns: set())
    watch.poll()
    fact = watch.facts()["web-a"]
    assert (fact.how, fact.containers_gone_m) == ("grace-bound", 34.0)


def test_lines_are_read_once_and_a_torn_tail_waits_for_its_end(tmp_path: Path) -> None:
    timeline = tmp_path / "timeline.jsonl"
    _write(timeline, _pod(1.0, "web-a", node="n1", terminating=False))
    with timeline.open("a", encoding="utf-8") as fh:
        fh.write(_pod(2.0, "web-a", node="n1", terminating=True).to_json()[:20])
    watch = ContainerWatch(timeline, "rh-x", kind_nodes=True, ask=lambda node, ns: {"web-a"})
    watch.poll()
    assert watch.pending() == []
    with timeline.open("a", encoding="utf-8") as fh:
        fh.write(_pod(2.0, "web-a", node="n1", terminating=True).to_json()[20:] + "\n")
    watch.poll()
    assert watch.pending() == ["web-a"]
    assert watch.facts()["web-a"].deleted_m == 2.0
