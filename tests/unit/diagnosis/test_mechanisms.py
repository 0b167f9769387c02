"""Each mechanism decided from evidence built here the way the observers and the traffic process
write it, and the cases where the evidence is missing or points two ways (unexplained)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from harness.diagnosis.diagnose import diagnose
from harness.diagnosis.model import Diagnosis, Mechanism
from harness.evidence import ConnectionMode, ErrorKind, RequestRecord, TimelineEvent, TimelineKind
from harness.verdict.model import RunFacts

T0, M0 = 1_800_000_000.0, 5_000.0
OLD, NEW = "web-old-1", "web-new-1"


def ev(at: float, kind: TimelineKind, type_: str, obj: str, **data: Any) -> TimelineEvent:
    return TimelineEvent(t=T0 + at, m=M0 + at, kind=kind, type=type_, name=obj, data=data)


def iso(at: float) -> str:
    from datetime import UTC, datetime
    return datetime.fromtimestamp(int(T0 + at), tz=UTC).isoformat()


def pod(at: float, name: str, *, type_: str = "MODIFIED", ready: bool = True, terminating: bool = False,
        grace: int = 30, pre_stop: dict[str, Any] | None = None, exit_code: int | None = None,
        finished: float | None = None) -> TimelineEvent:
    container: dict[str, Any] = {"name": "web", "ready": ready, "restart_count": 0, "state": "running"}
    if exit_code is not None:
        container.update(state="terminated", exit_code=exit_code, reason="Error",
                         finished_at=iso(finished if finished is not None else at))
    return ev(at, TimelineKind.POD, type_, name, name=name, phase="Running", ready=ready, terminating=terminating,
              deletion_grace_period_s=grace if terminating else None, node="n1", ip=f"10.0.0.{len(name)}",
              containers=[container], spec_containers=[{"name": "web", "pre_stop": pre_stop, "readiness": None}])


def endpoints(at: float, *entries: tuple[str, bool]) -> TimelineEvent:
    return ev(at, TimelineKind.ENDPOINTS, "MODIFIED", "web-x", name="web-x", service="web",
              endpoints=[{"pod": p, "ready": r, "serving": True, "terminating": not r} for p, r in entries])


def killing(at: float, name: str) -> TimelineEvent:
    return ev(at, TimelineKind.EVENT, "ADDED", f"{name}.1", reason="Killing", object=f"Pod/{name}",
              message="Stopping container web")


def base(*, pre_stop: dict[str, Any] | None = None, grace: int = 30, exit_code: int = 143,
         exit_at: float = 10.1) -> list[TimelineEvent]:
    """An old pod deleted at +10 s (SIGTERM at once without preStop), out of the endpoints at +11 s,
    its container ended at ``exit_at``; a new pod ready from +8 s."""
    return [
        pod(-5.0, OLD, type_="LIST", pre_stop=pre_stop, grace=grace),
        endpoints(-5.0, (OLD, True)),
        pod(7.0, NEW, type_="ADDED", ready=False),
        pod(8.0, NEW),
        endpoints(8.1, (OLD, True), (NEW, True)),
        pod(10.0, OLD, terminating=True, pre_stop=pre_stop, grace=grace),
        killing(10.0, OLD),
        pod(exit_at + 0.2, OLD, terminating=True, ready=False, pre_stop=pre_stop, grace=grace, exit_code=exit_code,
            finished=exit_at),
        endpoints(11.0, (NEW, True)),
        pod(12.0, OLD, type_="DELETED", terminating=True, ready=False, exit_code=exit_code, finished=exit_at),
    ]


def fail(at: float, error: ErrorKind | None = ErrorKind.REFUSED, *, status: int | None = None, lasted: float = 0.001,
         conn: ConnectionMode = ConnectionMode.NEW, served: int | None = 0, stage: str | None = "connect",
         conn_pod: str | None = None, answered_by: str | None = None, rid: str = "r1") -> RequestRecord:
    return RequestRecord(id=rid, user="u", conn=conn, t_start=T0 + at, m_start=M0 + at, t_end=T0 + at + lasted,
                         m_end=M0 + at + lasted, status=status, error=error, pod=answered_by, conn_pod=conn_pod,
                         conn_served=served, stage=stage)  # type: ignore[arg-type]


def facts() -> RunFacts:
    return RunFacts(scenario="s", run_id="r", started_at=T0 - 10, traffic_started_m=M0, service="web",
                    old_pods=[OLD])


def run(records: list[RequestRecord], timeline: list[TimelineEvent]) -> Diagnosis:
    diagnosis, _ = diagnose(records, sorted(timeline, key=lambda e: e.m), facts(), origin_m=M0,
                            pod_answers={NEW: [100, M0 + 8.05, M0 + 20.0, M0 + 20.01, 0.01, M0 + 8.05]})
    return diagnosis


def only(diagnosis: Diagnosis) -> Mechanism:
    assert len(diagnosis.findings) == 1, diagnosis.findings
    return diagnosis.findings[0].mechanism


def test_a_new_connection_refused_by_a_pod_still_in_the_endpoints_is_an_early_shutdown() -> None:
    diagnosis = run([fail(10.5)], base())
    finding = diagnosis.findings[0]
    assert finding.mechanism is Mechanism.SHUTDOWN_BEFORE_ENDPOINT_REMOVAL
    assert finding.pods == [OLD]
    assert "still an endpoint" in finding.evidence[-1]
    rec = finding.recommendations[0]
    # Removal took 1.0 s, the request reached the pod 0.5 s after deletion: 1.0 + 1 s margin.
    assert rec.overrides["target.pre_stop_seconds"] == 2
    assert "endpoint removal took 1.00 s" in rec.text


def test_a_new_pod_is_no_sign_of_a_slow_start_when_the_server_names_no_pod() -> None:
    """A second new pod ready just before the refusal: with answers that name their pod (X-Pod), its
    having answered none yet points the other way, and the failure is unexplained; when no answer of
    the run names a pod, that says nothing, and the going pod alone explains it."""
    timeline = [*base(), pod(10.3, "web-new-2", type_="ADDED"),
                endpoints(10.35, (OLD, True), (NEW, True), ("web-new-2", True))]
    named = run([fail(10.5)], timeline)
    assert only(named) is Mechanism.UNEXPLAINED
    unnamed, _ = diagnose([fail(10.5)], sorted(timeline, key=lambda e: e.m), facts(), origin_m=M0)
    assert [f.mechanism for f in unnamed.findings] == [Mechanism.SHUTDOWN_BEFORE_ENDPOINT_REMOVAL]
    assert unnamed.findings[0].pods == [OLD]


def test_a_connection_failure_long_after_the_endpoint_left_is_not_put_down_to_that_pod() -> None:
    assert only(run([fail(14.0)], base())) is Mechanism.UNEXPLAINED


def test_a_failure_while_the_pod_sleeps_in_pre_stop_is_not_an_early_shutdown() -> None:
    # preStop 5 s: SIGTERM at +15 s; a refusal at +10.5 s cannot be the process stopping.
    assert only(run([fail(10.5)], base(pre_stop={"sleep_s": 5}, exit_at=15.1))) is Mechanism.UNEXPLAINED


def test_a_kept_alive_connection_reset_by_the_terminating_pod() -> None:
    record = fail(10.05, ErrorKind.RESET, conn=ConnectionMode.KEEP_ALIVE, served=3, stage="send", conn_pod=OLD)
    diagnosis = run([record], base())
    assert only(diagnosis) is Mechanism.KEEPALIVE_CLOSED_AT_SHUTDOWN
    assert diagnosis.retry_hidden == 1  # reused, broke before any byte of the answer
    settings = [r.setting for r in diagnosis.findings[0].recommendations]
    assert "SIGTERM handling" in settings  # exit 143 within a second of SIGTERM


def test_a_kept_alive_connection_of_unknown_pod_goes_to_the_one_pod_stopping_when_it_broke() -> None:
    # No X-Pod: the reset at SIGTERM (+10 s) can only be the old pod's, the one stopping then.
    record = fail(10.05, ErrorKind.RESET, conn=ConnectionMode.KEEP_ALIVE, served=3, stage="wait")
    diagnosis = run([record], base())
    assert only(diagnosis) is Mechanism.KEEPALIVE_CLOSED_AT_SHUTDOWN
    assert diagnosis.findings[0].pods == [OLD] and diagnosis.retry_hidden == 1
    assert "1 by timing" in diagnosis.attribution and "(1 of them to exactly one pod)" in diagnosis.attribution


def test_a_kept_alive_connection_of_unknown_pod_with_two_pods_stopping_is_unexplained() -> None:
    other = "web-old-2"
    twin = [replace(e, name=other, data={**e.data, "name": other})
            for e in base() if e.kind is TimelineKind.POD and e.name == OLD]
    slices = [endpoints(-5.0, (OLD, True), (other, True)), endpoints(11.0, (NEW, True))]
    timeline = [e for e in base() if e.kind is not TimelineKind.ENDPOINTS] + twin + slices + [killing(10.0, other)]
    record = fail(10.05, ErrorKind.RESET, conn=ConnectionMode.KEEP_ALIVE, served=3, stage="wait")
    diagnosis = run([record], timeline)
    assert only(diagnosis) is Mechanism.UNEXPLAINED
    assert set(diagnosis.findings[0].pods) >= {OLD, other}


def test_a_kept_alive_connection_of_unknown_pod_broken_while_no_pod_stops_is_not_put_down_to_one() -> None:
    record = fail(5.0, ErrorKind.RESET, conn=ConnectionMode.KEEP_ALIVE, served=3, stage="wait")
    assert only(run([record], base())) is Mechanism.UNEXPLAINED


def test_a_pod_name_two_pods_held_in_turn_is_read_as_two_pods_told_apart_by_uid() -> None:
    """A StatefulSet's pod comes back under its name: the old pod (its UID) ends at +12 s, the new
    one (another UID) is ready from +14 s. A reset on the old one's connection goes to the old pod;
    a 503 the new one answers under the same name goes to the new one, ready before it could serve."""
    first = [replace(e, data={**e.data, "uid": "uid-1"}) for e in base() if e.kind is TimelineKind.POD]
    again = [replace(event, data={**event.data, "uid": "uid-2"})
             for event in (pod(13.0, OLD, type_="ADDED", ready=False), pod(14.0, OLD))]
    slices = [endpoints(14.1, (NEW, True), (OLD, True))]
    timeline = [e for e in base() if e.kind is not TimelineKind.POD] + first + again + slices
    reset = fail(10.05, ErrorKind.RESET, conn=ConnectionMode.KEEP_ALIVE, served=3, stage="send", conn_pod=OLD)
    busy = fail(14.3, None, status=503, stage=None, answered_by=OLD, rid="r2")
    diagnosis = run([reset, busy], timeline)
    found = {f.mechanism: f.pods for f in diagnosis.findings}
    assert found == {Mechanism.KEEPALIVE_CLOSED_AT_SHUTDOWN: [OLD], Mechanism.READY_BEFORE_SERVING: [f"{OLD}#2"]}
    assert {p.pod for p in diagnosis.pods} >= {OLD, f"{OLD}#2"}
    assert any("held by more than one pod in turn" in note for note in diagnosis.notes)


def test_a_reset_in_flight_after_the_answer_began_is_not_hidden_by_a_retrying_client() -> None:
    record = fail(10.05, ErrorKind.RESET, conn=ConnectionMode.KEEP_ALIVE, served=3, stage="read", conn_pod=OLD)
    assert run([record], base()).retry_hidden == 0


def test_a_kept_alive_connection_to_a_pod_that_was_not_going_away_is_unexplained() -> None:
    record = fail(10.05, ErrorKind.RESET, conn=ConnectionMode.KEEP_ALIVE, served=3, stage="wait", conn_pod=NEW)
    assert only(run([record], base())) is Mechanism.UNEXPLAINED


def test_in_flight_when_sigkill_came_at_grace_end() -> None:
    # Grace 3 s from +10 s, preStop 2 s: the kubelet still allows 2 s after the hook, so SIGKILL at
    # +14 s; the request was sent at +13.8 s on a reused connection.
    timeline = base(grace=3, exit_code=137, exit_at=14.0, pre_stop={"sleep_s": 2})
    record = fail(13.8, ErrorKind.RESET, conn=ConnectionMode.KEEP_ALIVE, served=5, stage="wait", conn_pod=OLD,
                  lasted=0.21)
    finding = run([record], timeline).findings[0]
    assert finding.mechanism is Mechanism.KILLED_AT_GRACE_END
    grace = finding.recommendations[0]
    assert grace.setting == "terminationGracePeriodSeconds"
    assert int(grace.overrides["target.termination_grace_period_seconds"]) >= 5  # preStop 2 + 0.2 + margin 2


def test_an_exit_137_far_from_the_request_is_not_a_grace_end_kill() -> None:
    timeline = base(grace=3, exit_code=137, exit_at=13.0)
    record = fail(20.0, ErrorKind.RESET, conn=ConnectionMode.KEEP_ALIVE, served=5, stage="wait", conn_pod=OLD)
    assert only(run([record], timeline)) is not Mechanism.KILLED_AT_GRACE_END


def test_5xx_from_a_new_pod_before_its_first_success_is_ready_before_serving() -> None:
    timeline = base()
    record = fail(8.02, None, status=503, answered_by=NEW, stage=None)
    assert only(run([record], timeline)) is Mechanism.READY_BEFORE_SERVING


def test_5xx_from_a_pod_neither_new_nor_going_is_an_application_error() -> None:
    timeline = [pod(-5.0, OLD, type_="LIST"), endpoints(-5.0, (OLD, True))]
    record = fail(3.0, None, status=500, answered_by=OLD, stage=None)
    assert only(run([record], timeline)) is Mechanism.APPLICATION_ERROR


def test_refused_with_no_ready_endpoint() -> None:
    timeline = [pod(-5.0, OLD, type_="LIST"), endpoints(-5.0, (OLD, True)), endpoints(2.0, (OLD, False))]
    finding = run([fail(3.0)], timeline).findings[0]
    assert finding.mechanism is Mechanism.NO_READY_ENDPOINT
    assert finding.recommendations[0].overrides == {"target.max_unavailable": 0, "target.max_surge": 1}


def test_requests_never_sent_are_the_test_beds_own() -> None:
    record = fail(3.0, ErrorKind.NOT_SENT, stage=None, served=None)
    assert only(run([record], base())) is Mechanism.TEST_BED


def test_a_failure_that_points_at_a_going_and_a_starting_pod_is_unexplained() -> None:
    # The new pod has not answered successfully yet at +10.5 s, and the old one is going away.
    timeline = base()
    diagnosis, _ = diagnose([fail(10.5)], sorted(timeline, key=lambda e: e.m), facts(), origin_m=M0,
                            pod_answers={NEW: [1, M0 + 12.0, M0 + 12.0, M0 + 12.01, 0.01, M0 + 12.0]})
    assert only(diagnosis) is Mechanism.UNEXPLAINED
    assert "points two ways" in diagnosis.findings[0].evidence[0]


def test_without_a_timeline_everything_is_unexplained() -> None:
    diagnosis = run([fail(10.5), fail(10.6, ErrorKind.RESET, rid="r2")], [])
    assert only(diagnosis) is Mechanism.UNEXPLAINED
    assert diagnosis.explained == 0
    assert any("EndpointSlice" in note for note in diagnosis.notes)


@pytest.mark.parametrize("missing", ["killing", "endpoints"])
def test_partial_evidence_gives_no_wrong_mechanism(missing: str) -> None:
    # preStop 5 s: SIGTERM at +15 s whether read from the Killing event or from the deletion.
    timeline = [e for e in base(pre_stop={"sleep_s": 5}, exit_at=15.1)
                if not (missing == "killing" and e.kind is TimelineKind.EVENT)
                and not (missing == "endpoints" and e.kind is TimelineKind.ENDPOINTS)]
    assert only(run([fail(10.5)], timeline)) is Mechanism.UNEXPLAINED


def test_every_request_gets_exactly_one_mechanism() -> None:
    records = [fail(10.5, rid="a"), fail(14.0, rid="b"),
               fail(10.05, ErrorKind.RESET, conn=ConnectionMode.KEEP_ALIVE, served=2, stage="send", conn_pod=OLD,
                    rid="c")]
    diagnosis, per_request = diagnose(records, sorted(base(), key=lambda e: e.m), facts(), origin_m=M0)
    assert sum(f.count for f in diagnosis.findings) == diagnosis.diagnosed == 3
    assert set(per_request) == {"a", "b", "c"}
    assert diagnosis.findings[-1].mechanism is Mechanism.UNEXPLAINED  # unexplained last
