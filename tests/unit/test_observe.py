"""Observers keep watching through bookmarks, errors, drops, expiry and an absent API server, and say
in the timeline what they covered; the data recorded per pod, slice and event."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import MaxRetryError, ProtocolError

from harness import observe
from harness.evidence import ConnectionMode, RequestRecord, TimelineEvent, TimelineKind, read_timeline
from harness.verdict import Evidence, GateConfig, GateStatus, RunFacts, summarize_requests
from harness.verdict.coverage import observers_complete

WHEN = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def pod(name: str, rv: str, *, ready: bool = True, deleting: bool = False) -> client.V1Pod:
    running = client.V1ContainerState(running=client.V1ContainerStateRunning(started_at=WHEN))
    before = client.V1ContainerState(terminated=client.V1ContainerStateTerminated(
        exit_code=137, signal=9, reason="Error", started_at=WHEN, finished_at=WHEN))
    return client.V1Pod(
        metadata=client.V1ObjectMeta(
            name=name, uid=f"uid-{name}", resource_version=rv,
            labels={"app.kubernetes.io/version": "v1", "pod-template-hash": "abc"},
            deletion_timestamp=WHEN if deleting else None, deletion_grace_period_seconds=30 if deleting else None),
        spec=client.V1PodSpec(containers=[client.V1Container(name="web")], node_name="n1",
                              termination_grace_period_seconds=30),
        status=client.V1PodStatus(
            phase="Running", pod_ip="10.0.0.1",
            conditions=[client.V1PodCondition(type="Ready", status="True" if ready else "False",
                                              last_transition_time=WHEN)],
            container_statuses=[client.V1ContainerStatus(
                name="web", ready=ready, restart_count=1, image="web:v1", image_id="sha256:1",
                state=running, last_state=before)]),
    )


def pod_list(rv: str, *pods: client.V1Pod) -> client.V1PodList:
    return client.V1PodList(items=list(pods), metadata=client.V1ListMeta(resource_version=rv))


def bookmark(rv: str) -> dict[str, Any]:
    # What kubernetes.watch.Watch yields for a bookmark: the object stays a plain dict.
    obj = {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": rv}}
    return {"type": "BOOKMARK", "object": obj, "raw_object": obj}


def error_event(code: int, message: str = "too old resource version") -> dict[str, Any]:
    obj = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": "Expired",
           "message": message}
    return {"type": "ERROR", "object": obj, "raw_object": obj}


def change(type_: str, obj: client.V1Pod) -> dict[str, Any]:
    return {"type": type_, "object": obj, "raw_object": {}}


Script = BaseException | list[Any]  # a float item in a stream: the server is quiet that many seconds


class FakeApi:
    """A list function and a watch factory. ``lists``: what each list call returns or raises.
    ``watches``: per watch request, an exception (the request failed) or the items it yields, where an
    exception item ends the stream with that failure and the end of the list is the server's timeout.
    Once the scripts run out, a watch stays open and quiet until stopped, like a live one."""

    def __init__(self, lists: list[client.V1PodList | BaseException], watches: list[Script]) -> None:
        self.lists = lists
        self.watches = watches
        self.list_calls = 0
        self.watch_calls: list[dict[str, Any]] = []
        self.idle = threading.Event()

    def list_pods(self, namespace: str, **kwargs: Any) -> client.V1PodList | None:
        if kwargs.get("watch"):
            self.watch_calls.append(kwargs)
            return None
        self.list_calls += 1
        item = self.lists.pop(0) if len(self.lists) > 1 else self.lists[0]
        if isinstance(item, BaseException):
            raise item
        return item

    def watch(self) -> FakeWatch:
        return FakeWatch(self)


class FakeWatch:
    def __init__(self, api: FakeApi) -> None:
        self.api = api
        self.stopped = threading.Event()

    def stream(self, func: Any, *args: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        script = self.api.watches.pop(0) if self.api.watches else None
        if isinstance(script, BaseException):
            raise script
        func(*args, watch=True, **kwargs)
        if script is None:
            self.api.idle.set()
            self.stopped.wait(10)
            return
        for item in script:
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, float):
                time.sleep(item)
                continue
            yield item

    def stop(self) -> None:
        self.stopped.set()


def observer(api: FakeApi, writer: observe.TimelineWriter, stop: threading.Event, **kwargs: Any
             ) -> observe._Observer:
    return observe._Observer("pods", TimelineKind.POD, api.list_pods, "ns", observe.pod_data, writer, stop,
                             watch_factory=api.watch, backoff_s=(0.001, 0.01), **kwargs)


def run(tmp_path: Path, api: FakeApi, **kwargs: Any) -> tuple[list[TimelineEvent], observe._Observer]:
    """Run one observer until its scripts are used up and its watch is open and quiet, then stop it."""
    writer = observe.TimelineWriter(tmp_path / "timeline.jsonl")
    writer.start()
    stop = threading.Event()
    thread = observer(api, writer, stop, **kwargs)
    thread.start()
    assert api.idle.wait(10), "the observer never reached a quiet, live watch"
    stop.set()
    thread.interrupt()
    thread.join(2)
    assert not thread.is_alive()
    writer.close()
    return read_timeline(tmp_path / "timeline.jsonl"), thread


def notes(events: list[TimelineEvent]) -> list[str]:
    return [e.data["what"] for e in events if e.kind is TimelineKind.OBSERVER]


def note(events: list[TimelineEvent], what: str) -> TimelineEvent:
    return next(e for e in events if e.kind is TimelineKind.OBSERVER and e.data["what"] == what)


def changes(events: list[TimelineEvent]) -> list[tuple[str, str]]:
    return [(e.type, e.name) for e in events if e.kind is TimelineKind.POD]


def test_a_bookmark_moves_the_resource_version_without_an_error(tmp_path: Path) -> None:
    api = FakeApi([pod_list("3", pod("a", "3"))],
                  [[change("ADDED", pod("b", "5")), bookmark("7")], [change("MODIFIED", pod("b", "8"))]])
    events, thread = run(tmp_path, api)
    assert notes(events) == ["synced", "stopped"]
    assert changes(events) == [("LIST", "a"), ("ADDED", "b"), ("MODIFIED", "b")]
    assert [c["resource_version"] for c in api.watch_calls] == ["3", "7", "8"]
    assert all(c["allow_watch_bookmarks"] for c in api.watch_calls)
    assert note(events, "stopped").data["healthy"] is True
    assert (api.list_calls, thread.relists, thread.failures) == (1, 0, 0)


def test_an_expired_watch_relists_and_names_the_uncovered_window(tmp_path: Path) -> None:
    api = FakeApi([pod_list("3", pod("a", "3"), pod("b", "3")), pod_list("9", pod("b", "9"), pod("c", "9"))],
                  [[change("MODIFIED", pod("a", "4", deleting=True)), error_event(410)]])
    events, thread = run(tmp_path, api)
    assert notes(events) == ["synced", "expired", "relisted", "stopped"]
    assert ("DELETED", "a") in changes(events)  # vanished while the watch was lapsed
    assert ("LIST", "c") in changes(events)
    deleted = next(e for e in events if e.type == "DELETED")
    assert deleted.data["vanished"] is True
    modified = next(e for e in events if e.type == "MODIFIED")
    relisted = note(events, "relisted")
    assert relisted.data["uncovered_from_m"] == pytest.approx(modified.m, abs=0.05)
    assert relisted.data["uncovered_from_m"] <= note(events, "expired").m <= relisted.m
    assert api.watch_calls[-1]["resource_version"] == "9"
    assert (api.list_calls, thread.relists, thread.gaps) == (2, 1, 0)


@pytest.mark.parametrize("failure", [
    ProtocolError("Connection broken: IncompleteRead(0 bytes read)"),
    ApiException(status=500, reason="Internal Server Error"),
    "error-event",
], ids=["dropped-stream", "api-500", "watch-error-event"])
def test_a_broken_watch_resumes_from_its_resource_version(tmp_path: Path, failure: Any) -> None:
    end = error_event(500, "etcd unavailable") if failure == "error-event" else failure
    api = FakeApi([pod_list("3", pod("a", "3"))], [[change("MODIFIED", pod("a", "6", ready=False)), end]])
    events, thread = run(tmp_path, api)
    assert notes(events) == ["synced", "error", "resumed", "stopped"]
    assert api.list_calls == 1  # no re-list: the change stream continues where it broke
    assert [c["resource_version"] for c in api.watch_calls] == ["3", "6"]
    error, resumed = note(events, "error"), note(events, "resumed")
    assert error.data["detail"].startswith("watch: ")
    assert error.data["current_until_m"] <= error.m
    assert (resumed.data["failures"], resumed.data["resource_version"]) == (1, "6")
    assert note(events, "stopped").data["healthy"] is True
    assert (thread.resumes, thread.relists) == (1, 0)


def test_an_absent_api_server_is_retried_and_noted_at_a_bounded_rate(tmp_path: Path) -> None:
    refused: list[Script] = [MaxRetryError(None, "/api/v1/pods", "Connection refused") for _ in range(12)]
    refused += [ApiException(status=503, reason="Service Unavailable") for _ in range(3)]
    api = FakeApi([pod_list("3", pod("a", "3"))], [[ProtocolError("Connection reset by peer")], *refused,
                                                    [change("MODIFIED", pod("a", "4"))]])
    events, thread = run(tmp_path, api)
    assert notes(events) == ["synced", "error", "resumed", "stopped"]  # one note stands for 16 failures
    assert note(events, "error").data["failures"] == 1
    assert note(events, "resumed").data["failures"] == 16
    assert [c["resource_version"] for c in api.watch_calls] == ["3", "3", "4"]
    assert ("MODIFIED", "a") in changes(events)
    assert (api.list_calls, thread.failures) == (1, 16)


def test_every_failure_is_noted_when_notes_are_not_limited(tmp_path: Path) -> None:
    failures: list[Script] = [ConnectionRefusedError(111, "Connection refused") for _ in range(3)]
    api = FakeApi([pod_list("3", pod("a", "3"))], failures)
    events, _ = run(tmp_path, api, note_every_s=0.0)
    assert notes(events) == ["synced", "error", "error", "error", "resumed", "stopped"]


def test_a_resume_that_is_too_old_relists(tmp_path: Path) -> None:
    api = FakeApi([pod_list("3", pod("a", "3")), pod_list("20", pod("a", "20"))],
                  [[ProtocolError("Connection broken")], ApiException(status=410, reason="Gone")])
    events, thread = run(tmp_path, api)
    assert notes(events) == ["synced", "error", "expired", "relisted", "stopped"]
    relisted = note(events, "relisted")
    assert relisted.data["uncovered_from_m"] <= note(events, "error").m
    assert relisted.data["failures"] == 1
    assert api.watch_calls[-1]["resource_version"] == "20"
    assert thread.relists == 1


def test_a_resumed_watch_refused_at_once_is_uncovered_from_before_the_outage(tmp_path: Path) -> None:
    # After an API server restart the new watch is accepted, then its first event says the version is
    # gone: the outage was never covered, so the window starts where the old watch was last current.
    api = FakeApi([pod_list("3", pod("a", "3")), pod_list("20", pod("a", "20"))],
                  [[change("MODIFIED", pod("a", "4")), ProtocolError("Response ended prematurely")],
                   [error_event(410)]])
    events, thread = run(tmp_path, api)
    assert notes(events) == ["synced", "error", "resumed", "expired", "relisted", "stopped"]
    relisted = note(events, "relisted")
    modified = next(e for e in events if e.type == "MODIFIED")
    assert relisted.data["uncovered_from_m"] == pytest.approx(modified.m, abs=0.05)
    assert relisted.data["uncovered_from_m"] <= note(events, "error").m
    assert thread.relists == 1


def test_the_first_list_is_retried_until_the_api_answers(tmp_path: Path) -> None:
    api = FakeApi([ConnectionRefusedError(111, "Connection refused"), pod_list("3", pod("a", "3"))], [])
    events, thread = run(tmp_path, api)
    assert notes(events) == ["error", "synced", "stopped"]
    assert note(events, "error").data["detail"].startswith("list: ConnectionRefusedError")
    assert note(events, "synced").data["failures"] == 1
    assert thread.synced.is_set()


def test_a_change_that_cannot_be_read_is_a_gap_and_the_watch_goes_on(tmp_path: Path) -> None:
    broken = pod("b", "5")
    broken.status = None  # pod_data cannot read it
    api = FakeApi([pod_list("3", pod("a", "3"))], [[change("ADDED", broken), change("ADDED", pod("c", "6"))]])
    events, thread = run(tmp_path, api)
    assert notes(events) == ["synced", "gap", "stopped"]
    assert note(events, "gap").data["object"] == "b"
    assert ("ADDED", "c") in changes(events)
    assert api.watch_calls[-1]["resource_version"] == "6"
    assert thread.gaps == 1


def test_stopping_during_an_outage_says_the_watch_was_not_current(tmp_path: Path) -> None:
    writer = observe.TimelineWriter(tmp_path / "timeline.jsonl")
    writer.start()
    stop = threading.Event()
    api = FakeApi([pod_list("3", pod("a", "3"))], [ConnectionRefusedError(111, "refused")] * 1000)
    thread = observer(api, writer, stop)
    thread.start()
    deadline = time.monotonic() + 5
    while thread.failures < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    thread.interrupt()
    thread.join(2)
    writer.close()
    events = read_timeline(tmp_path / "timeline.jsonl")
    assert notes(events)[-1] == "stopped"
    assert note(events, "stopped").data["healthy"] is False
    assert "resumed" not in notes(events)


class StuckApi(FakeApi):
    def watch(self) -> FakeWatch:
        return StuckWatch(self)


class StuckWatch(FakeWatch):
    """A stream whose stop() does not reach it: the thread stays blocked in the read."""

    def stream(self, func: Any, *args: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        func(*args, watch=True, **kwargs)
        self.api.idle.set()
        time.sleep(3)
        yield change("MODIFIED", pod("a", "99"))

    def stop(self) -> None:
        pass


def test_stop_is_fast_and_each_observer_notes_stopped(tmp_path: Path) -> None:
    writer = observe.TimelineWriter(tmp_path / "timeline.jsonl")
    writer.start()
    observers = observe.Observers(client.ApiClient(), "ns", "web", writer)
    live, stuck = FakeApi([pod_list("3", pod("a", "3"))], []), StuckApi([pod_list("3", pod("a", "3"))], [])
    observers.threads = [
        observe._Observer(resource, TimelineKind.POD, api.list_pods, "ns", observe.pod_data, writer,
                          observers.stop_event, watch_factory=api.watch)
        for resource, api in (("pods", live), ("endpointslices", stuck))
    ]
    observers.start(sync_timeout_s=5)
    assert live.idle.wait(5) and stuck.idle.wait(5)
    began = time.monotonic()
    observers.stop()
    assert time.monotonic() - began < 2.0
    writer.close()
    time.sleep(0.1)
    events = read_timeline(tmp_path / "timeline.jsonl")
    stopped = {e.name: e.data["healthy"] for e in events if e.type == "stopped"}
    assert stopped == {"pods": True, "endpointslices": True}
    assert [e.type for e in events if e.kind is TimelineKind.OBSERVER][-2:] == ["stopped", "stopped"]
    assert "99" not in {e.data.get("uid") for e in events}  # the stuck stream's late change is dropped
    assert observers.pods() == {"a": observe.pod_data(pod("a", "3"))}


class FakeResponse:
    """The streaming HTTP response kubernetes.watch.Watch reads: JSON lines, as the API server sends."""

    status = 200

    def __init__(self, lines: list[dict[str, Any]]) -> None:
        self.body = "".join(json.dumps(line) + "\n" for line in lines).encode()

    def stream(self, amt: Any = None, decode_content: Any = None) -> Iterator[bytes]:
        yield self.body[:50]
        yield self.body[50:]

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


def test_the_kubernetes_client_watch_with_bookmarks_and_an_expiry(tmp_path: Path) -> None:
    """The real client Watch: BOOKMARK objects stay dicts, and an ERROR event becomes a 410 ApiException."""
    as_json = client.ApiClient().sanitize_for_serialization
    streams = [
        [{"type": "ADDED", "object": as_json(pod("b", "4"))},
         {"type": "BOOKMARK", "object": {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": "7"}}}],
        [{"type": "MODIFIED", "object": as_json(pod("b", "8", ready=False))},
         {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}}],
    ]
    lists = [pod_list("3", pod("a", "3")), pod_list("12", pod("b", "12"))]
    calls: list[str] = []
    idle = threading.Event()

    def list_namespaced_pod(namespace: str, **kwargs: Any) -> Any:
        """:rtype: V1PodList"""  # how the client's Watch learns what to deserialise into
        if not kwargs.get("watch"):
            return lists.pop(0)
        calls.append(kwargs["resource_version"])
        if not streams:
            idle.set()
            time.sleep(0.05)
            return FakeResponse([])
        return FakeResponse(streams.pop(0))

    writer = observe.TimelineWriter(tmp_path / "timeline.jsonl")
    writer.start()
    stop = threading.Event()
    thread = observe._Observer("pods", TimelineKind.POD, list_namespaced_pod, "ns", observe.pod_data, writer,
                               stop, watch_factory=watch.Watch)
    thread.start()
    assert idle.wait(10)
    stop.set()
    thread.interrupt()
    thread.join(2)
    writer.close()
    events = read_timeline(tmp_path / "timeline.jsonl")
    assert "error" not in notes(events)
    assert notes(events)[:3] == ["synced", "expired", "relisted"]
    assert calls[:3] == ["3", "7", "12"]
    added = next(e for e in events if e.type == "ADDED")
    assert (added.name, added.data["uid"], added.data["containers"][0]["state"]) == ("b", "uid-b", "running")
    assert next(e for e in events if e.type == "MODIFIED").data["ready"] is False


def test_what_is_recorded_per_pod() -> None:
    data = observe.pod_data(pod("a", "3", deleting=True))
    stamp = WHEN.isoformat()
    assert {k: data[k] for k in ("name", "uid", "phase", "ready", "ready_since", "terminating", "deletion_timestamp",
                                 "deletion_grace_period_s", "grace_period_s", "node", "ip", "version",
                                 "revision", "restarts")} == {
        "name": "a", "uid": "uid-a", "phase": "Running", "ready": True, "ready_since": stamp, "terminating": True,
        "deletion_timestamp": stamp, "deletion_grace_period_s": 30, "grace_period_s": 30, "node": "n1",
        "ip": "10.0.0.1", "version": "v1", "revision": "abc", "restarts": 1}
    assert data["containers"] == [{
        "name": "web", "ready": True, "restart_count": 1, "state": "running", "started_at": stamp,
        "finished_at": None, "exit_code": None, "signal": None, "reason": None,
        "last_state": {"exit_code": 137, "signal": 9, "reason": "Error", "finished_at": stamp}}]


def test_a_terminated_and_a_waiting_container() -> None:
    ended = client.V1ContainerStatus(
        name="web", ready=False, restart_count=0, image="i", image_id="d",
        state=client.V1ContainerState(terminated=client.V1ContainerStateTerminated(
            exit_code=0, reason="Completed", started_at=WHEN, finished_at=WHEN)))
    waiting = client.V1ContainerStatus(
        name="side", ready=False, restart_count=3, image="i", image_id="d",
        state=client.V1ContainerState(waiting=client.V1ContainerStateWaiting(reason="CrashLoopBackOff")))
    assert observe.container_data(ended) == {
        "name": "web", "ready": False, "restart_count": 0, "state": "terminated", "started_at": WHEN.isoformat(),
        "finished_at": WHEN.isoformat(), "exit_code": 0, "signal": None, "reason": "Completed"}
    assert observe.container_data(waiting)["state"] == "waiting"
    assert observe.container_data(waiting)["reason"] == "CrashLoopBackOff"


def test_what_is_recorded_per_endpoint_and_event() -> None:
    eps = client.V1EndpointSlice(
        address_type="IPv4", metadata=client.V1ObjectMeta(name="web-x", labels={"kubernetes.io/service-name": "web"}),
        endpoints=[client.V1Endpoint(addresses=["10.0.0.1"], node_name="n1",
                                     target_ref=client.V1ObjectReference(kind="Pod", name="a"),
                                     conditions=client.V1EndpointConditions(ready=False, serving=True,
                                                                            terminating=True))])
    assert observe.endpointslice_data(eps) == {"name": "web-x", "service": "web", "endpoints": [
        {"pod": "a", "ip": "10.0.0.1", "node": "n1", "ready": False, "serving": True, "terminating": True}]}
    event = client.CoreV1Event(
        metadata=client.V1ObjectMeta(name="a.1"), involved_object=client.V1ObjectReference(kind="Pod", name="a"),
        reason="Killing", message="Stopping container web", type="Normal", event_time=WHEN,
        series=client.CoreV1EventSeries(count=4, last_observed_time=WHEN), reporting_component="kubelet")
    assert observe.event_data(event) == {
        "reason": "Killing", "message": "Stopping container web", "object": "Pod/a", "type": "Normal",
        "count": 4, "first_timestamp": None, "last_timestamp": None, "event_time": WHEN.isoformat(),
        "source": "kubelet"}
    event.count, event.source = 2, client.V1EventSource(component="default-scheduler")
    assert (observe.event_data(event)["count"], observe.event_data(event)["source"]) == (2, "default-scheduler")


def test_a_resumed_outage_recorded_by_observers_passes_the_coverage_gate(tmp_path: Path) -> None:
    """From observer to verdict: the notes real observers write through an outage in mid-traffic are
    judged as full coverage, because the watch resumed from its resourceVersion."""
    apis = {"pods": FakeApi([pod_list("3", pod("a", "3"))],
                            [[0.3, ProtocolError("Connection broken")], ConnectionRefusedError(111, "refused"),
                             [change("MODIFIED", pod("a", "4"))]]),
            "endpointslices": FakeApi([pod_list("3")], []), "events": FakeApi([pod_list("3")], [])}
    writer = observe.TimelineWriter(tmp_path / "timeline.jsonl")
    writer.start()
    stop = threading.Event()
    threads = [observe._Observer(resource, TimelineKind.POD, api.list_pods, "ns", observe.pod_data, writer, stop,
                                 watch_factory=api.watch, backoff_s=(0.001, 0.01))
               for resource, api in apis.items()]
    for thread in threads:
        thread.start()
    assert all(api.idle.wait(10) for api in apis.values())
    time.sleep(0.1)
    stop.set()
    for thread in threads:
        thread.interrupt()
        thread.join(2)
    writer.close()
    timeline = read_timeline(tmp_path / "timeline.jsonl")
    start_m = max(e.m for e in timeline if e.type == "synced") + 0.001
    stop_m = min(e.m for e in timeline if e.type == "stopped") - 0.05
    assert start_m < note(timeline, "error").m < note(timeline, "resumed").m < stop_m
    records = [RequestRecord(id="r1", user="u", conn=ConnectionMode.KEEP_ALIVE, t_start=1.0, m_start=start_m,
                             t_end=1.1, m_end=start_m + 0.01, status=200)]
    facts = RunFacts(scenario="s", run_id="s-1", started_at=1.0, traffic_started_m=start_m, traffic_stopped_m=stop_m)
    result = observers_complete(Evidence(summary=summarize_requests(records), timeline=timeline, facts=facts),
                                GateConfig())
    assert result.status is GateStatus.PASS, result.reason
    assert result.numbers["resumed_errors"] == 1
