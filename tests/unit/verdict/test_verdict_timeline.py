"""Reconstructing pods and endpoints at an instant, and the disruption windows, from the timeline."""

from __future__ import annotations

import random
from typing import Any

import pytest

from harness.evidence import TimelineEvent, TimelineKind
from harness.verdict import disruption_windows, first_disruption_start, state_at
from harness.verdict.timeline import OBSERVED_RESOURCES, observer_coverage


def ev(m: float, kind: TimelineKind, type_: str, obj: str, **data: Any) -> TimelineEvent:
    return TimelineEvent(t=1e9 + m, m=m, kind=kind, type=type_, name=obj, data=data)


def pod(m: float, name: str, *, type_: str = "MODIFIED", ready: bool = True, terminating: bool = False,
        phase: str = "Running", ip: str = "10.0.0.1") -> TimelineEvent:
    return ev(m, TimelineKind.POD, type_, name, name=name, phase=phase, ready=ready, terminating=terminating,
              node="n1", ip=ip, version="v1")


def eps(m: float, endpoints: list[dict[str, Any]], *, name: str = "web-1", service: str = "web",
        type_: str = "MODIFIED") -> TimelineEvent:
    return ev(m, TimelineKind.ENDPOINTS, type_, name, name=name, service=service, endpoints=endpoints)


def ep(pod_name: str, ready: bool = True, serving: bool | None = None, terminating: bool = False,
       ip: str = "10.0.0.9") -> dict[str, Any]:
    return {"pod": pod_name, "ip": ip, "ready": ready, "serving": ready if serving is None else serving,
            "terminating": terminating}


def act(m: float, step: str, phase: str, **extra: Any) -> TimelineEvent:
    return ev(m, TimelineKind.ACTION, phase, step, step=step, phase=phase, **extra)


def story() -> list[TimelineEvent]:
    return [
        pod(1.0, "a", type_="LIST"),
        pod(1.0, "b", type_="LIST", ip="10.0.0.2"),
        eps(1.0, [ep("a"), ep("b")]),
        pod(5.0, "a", ready=False, terminating=True),
        eps(5.4, [ep("a", ready=False, serving=True, terminating=True), ep("b")]),
        eps(6.0, [ep("b")]),
        pod(9.0, "a", type_="DELETED", ready=False, terminating=True),
    ]


def test_terminating_and_still_in_the_endpoints() -> None:
    s = state_at(story(), "a", 5.5)
    assert (s.known, s.exists, s.phase, s.ready, s.terminating) == (True, True, "Running", False, True)
    assert s.terminating_for_s == pytest.approx(0.5)
    assert s.in_endpoints
    assert (s.endpoint_ready, s.endpoint_serving, s.endpoint_terminating) == (False, True, True)
    assert (s.endpoints_total, s.endpoints_ready) == (2, 1)


def test_terminating_before_the_endpoint_controller_noticed() -> None:
    s = state_at(story(), "a", 5.2)
    assert s.terminating and s.in_endpoints
    assert s.endpoint_ready is True  # the race a preStop delay exists to cover
    assert s.endpoints_ready == 2


def test_removed_from_the_endpoints() -> None:
    s = state_at(story(), "a", 7.0)
    assert s.exists and s.terminating
    assert not s.in_endpoints
    assert s.endpoint_ready is None
    assert (s.endpoints_total, s.endpoints_ready) == (1, 1)


def test_deleted() -> None:
    s = state_at(story(), "a", 9.0)
    assert s.known and not s.exists
    assert "already deleted" in s.describe()


def test_an_unknown_pod_still_describes_the_endpoint_set() -> None:
    s = state_at(story(), "ghost", 5.5)
    assert not s.known and not s.exists and not s.in_endpoints
    assert s.phase is None and s.ready is None
    assert s.endpoints_total == 2
    assert "not seen by the observers" in s.describe()


def test_before_anything_was_observed() -> None:
    s = state_at(story(), "a", 0.5)
    assert not s.known
    assert s.endpoints_total == 0


def test_events_out_of_order_in_the_file_give_the_same_state() -> None:
    shuffled = story()
    random.Random(1).shuffle(shuffled)
    for m in (0.5, 1.0, 5.0, 5.2, 5.5, 6.0, 7.0, 9.0, 10.0):
        assert state_at(shuffled, "a", m) == state_at(story(), "a", m), m


def test_an_event_at_exactly_the_instant_has_happened() -> None:
    assert state_at(story(), "a", 5.0).terminating is True
    assert state_at(story(), "a", 4.999999).terminating is False
    assert state_at(story(), "a", 6.0).in_endpoints is False
    assert state_at(story(), "a", 5.999999).in_endpoints is True


def test_slices_are_combined_and_a_deleted_slice_drops_its_endpoints() -> None:
    timeline = [eps(1.0, [ep("a")], name="s1"), eps(1.0, [ep("b"), ep("c", ready=False)], name="s2"),
                eps(2.0, [], name="s2", type_="DELETED")]
    assert (state_at(timeline, "b", 1.5).endpoints_total, state_at(timeline, "b", 1.5).endpoints_ready) == (3, 2)
    assert state_at(timeline, "b", 1.5).in_endpoints
    assert not state_at(timeline, "b", 2.0).in_endpoints
    assert state_at(timeline, "b", 2.0).endpoints_total == 1


def test_only_the_target_services_slices_count() -> None:
    timeline = [eps(1.0, [ep("a")], name="web-1", service="web"),
                eps(1.0, [ep("x"), ep("y")], name="db-1", service="db")]
    assert state_at(timeline, "a", 2.0, service="web").endpoints_total == 1
    assert state_at(timeline, "a", 2.0).endpoints_total == 3


def test_absent_conditions_follow_kubernetes_defaults() -> None:
    timeline = [eps(1.0, [{"pod": "a", "ip": "10.0.0.1"}])]
    s = state_at(timeline, "a", 2.0)
    assert (s.endpoint_ready, s.endpoint_serving, s.endpoint_terminating) == (True, True, False)


def test_an_endpoint_without_a_pod_name_is_matched_by_ip() -> None:
    timeline = [pod(1.0, "a", ip="10.0.0.7"), eps(1.0, [{"ip": "10.0.0.7", "ready": True}])]
    assert state_at(timeline, "a", 2.0).in_endpoints


def test_a_reused_pod_name_starts_a_new_termination_clock() -> None:
    timeline = [pod(1.0, "a", terminating=True), pod(2.0, "a", type_="DELETED", terminating=True),
                pod(3.0, "a", type_="ADDED"), pod(4.0, "a", terminating=True)]
    assert state_at(timeline, "a", 4.5).terminating_for_s == pytest.approx(0.5)


# --- disruption windows --------------------------------------------------------------------------------


def test_windows_run_from_step_start_to_the_end_of_settling() -> None:
    timeline = [
        act(0.0, "traffic", "start", disruption=False),
        act(10.0, "restart", "start"), act(10.2, "restart", "end"),
        act(10.2, "settle", "start"), act(25.0, "settle", "end"),
        act(40.0, "kill", "start"), act(40.1, "kill", "end"),
        act(60.0, "traffic", "stop", disruption=False),
    ]
    random.Random(2).shuffle(timeline)
    assert disruption_windows(timeline) == [(10.0, 25.0), (40.0, 40.1)]
    assert first_disruption_start(timeline) == 10.0


def test_an_explicit_flag_beats_the_step_name() -> None:
    timeline = [act(1.0, "wait", "start", disruption=False), act(2.0, "wait", "end", disruption=False),
                act(3.0, "traffic", "start", disruption=True), act(4.0, "traffic", "end", disruption=True)]
    assert disruption_windows(timeline) == [(3.0, 4.0)]
    assert first_disruption_start(timeline) == 3.0


def test_a_step_that_never_ended_runs_to_the_end_of_traffic() -> None:
    timeline = [act(5.0, "drain", "start"), pod(8.0, "a")]
    assert disruption_windows(timeline, until=30.0) == [(5.0, 30.0)]
    assert disruption_windows(timeline) == [(5.0, 8.0)]


def test_a_failed_step_closes_its_window() -> None:
    assert disruption_windows([act(5.0, "drain", "start"), act(6.0, "drain", "error")]) == [(5.0, 6.0)]


def test_overlapping_windows_merge() -> None:
    timeline = [act(1.0, "a", "start"), act(2.0, "b", "start"), act(3.0, "a", "end"), act(4.0, "b", "end"),
                act(9.0, "c", "start"), act(9.5, "c", "end")]
    assert disruption_windows(timeline) == [(1.0, 4.0), (9.0, 9.5)]


def test_no_actions_no_windows() -> None:
    assert disruption_windows(story()) == []
    assert disruption_windows([]) == []
    assert first_disruption_start(story()) is None


def test_going_pods_at_names_terminating_and_recently_deleted_pods() -> None:
    from harness.evidence import TimelineEvent, TimelineKind
    from harness.verdict.judge import going_pods_at

    def pod(m: float, name: str, type_: str, terminating: bool) -> TimelineEvent:
        return TimelineEvent(t=m, m=m, kind=TimelineKind.POD, type=type_, name=name,
                             data={"name": name, "terminating": terminating})

    timeline = [
        pod(1.0, "a", "LIST", False), pod(1.0, "b", "LIST", False), pod(1.0, "c", "LIST", False),
        pod(2.0, "a", "MODIFIED", True),
        pod(3.0, "b", "MODIFIED", True), pod(4.0, "b", "DELETED", True),
    ]
    assert going_pods_at(timeline, 1.5) == []
    assert going_pods_at(timeline, 2.5) == ["a"]
    assert going_pods_at(timeline, 4.5) == ["a", "b"]
    assert going_pods_at(timeline, 20.0) == ["a"]  # b was deleted too long before


# --- what each observer covered ------------------------------------------------------------------


def note(m: float, what: str, resource: str = "pods", **data: Any) -> TimelineEvent:
    return ev(m, TimelineKind.OBSERVER, what, resource, **{"resource": resource, "what": what, "detail": "", **data})


def test_observer_coverage_folds_each_resources_notes() -> None:
    timeline = [
        note(1.0, "synced"), note(1.0, "synced", "events"),
        note(4.0, "error", current_until_m=3.5), note(4.5, "error"), note(6.0, "resumed", outage_s=2.5),
        note(8.0, "expired", "events", current_until_m=7.0), note(9.0, "relisted", "events", uncovered_from_m=7.0),
        note(10.0, "gap", detail="ADDED web-b: TypeError"),
        note(12.0, "error", detail="watch: refused", current_until_m=11.0),
        note(20.0, "stopped", healthy=False), note(21.0, "error"),  # after the stop: ignored
        note(20.0, "stopped", "events", healthy=True),
    ]
    random.Random(3).shuffle(timeline)  # the file is not in clock order
    cover = observer_coverage(timeline)
    assert set(cover) == set(OBSERVED_RESOURCES)
    pods, events, slices = cover["pods"], cover["events"], cover["endpointslices"]
    assert (pods.synced_m, pods.stopped_m, pods.stopped_healthy) == (1.0, 20.0, False)
    assert (pods.resumed_errors, pods.longest_resumed_outage_s) == (1, 2.5)
    assert [(w.cause, w.start_m, w.end_m, w.detail) for w in pods.windows] == [
        ("gap", 10.0, 10.0, "ADDED web-b: TypeError"), ("error", 11.0, 20.0, "watch: refused")]
    assert [(w.cause, w.start_m, w.end_m) for w in events.windows] == [("relisted", 7.0, 9.0)]
    assert (events.relists, events.stopped_healthy) == (1, True)
    assert (slices.synced_m, slices.stopped_m, slices.windows) == (None, None, [])


def test_an_outage_with_no_stop_stays_open() -> None:
    cover = observer_coverage([note(1.0, "synced"), note(5.0, "expired")])["pods"]
    assert [(w.cause, w.start_m, w.end_m) for w in cover.windows] == [("error", 5.0, None)]


def test_failures_of_the_first_list_are_not_an_outage() -> None:
    cover = observer_coverage([note(0.5, "error", detail="list: refused"), note(1.0, "synced", failures=1),
                               note(9.0, "stopped", healthy=True)])["pods"]
    assert (cover.synced_m, cover.windows, cover.resumed_errors) == (1.0, [], 0)
