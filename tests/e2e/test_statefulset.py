"""A StatefulSet under test: the shipped rolling restart passes with every pod replaced, told apart by
UID because each new pod takes its predecessor's name; the same StatefulSet without its drain and
preStop fails, with nothing wrong but the requests lost."""

from __future__ import annotations

from pathlib import Path

from harness.cluster.kind import ClusterRecord
from harness.evidence import TimelineKind, read_timeline
from harness.verdict import GateStatus
from tests.e2e.conftest import run_in, scenario_file


def test_statefulset_rolling_restart_replaces_every_pod_by_uid(cluster: ClusterRecord, runs_dir: Path) -> None:
    result = run_in(cluster, scenario_file("statefulset-rolling-restart"), runs_dir / "statefulset")
    verdict = result.verdict
    summary = "; ".join(f"{g.name}={g.status.value}: {g.reason}" for g in verdict.gates)
    assert verdict.outcome is GateStatus.PASS, summary
    gates = {g.name: g for g in verdict.gates}
    assert gates["rollout_completed"].status is GateStatus.PASS, summary
    observed = gates["disruption_observed"]
    assert observed.numbers["replaced"] == observed.numbers["old_pods"] == 3, observed.reason
    assert observed.numbers["new_ready"] == 3, observed.reason

    facts = verdict.facts
    assert sorted(facts.old_pods) == [f"sample-service-{i}" for i in range(3)]
    old_uids = facts.old_pod_uids
    assert sorted(old_uids) == facts.old_pods and len(set(old_uids.values())) == 3

    timeline = read_timeline(result.run_dir / "timeline.jsonl")
    pods = [e for e in timeline if e.kind is TimelineKind.POD]
    deleted = {str(e.data.get("uid")) for e in pods if e.type == "DELETED"}
    assert set(old_uids.values()) <= deleted, "an old pod was never deleted"
    for name, old_uid in old_uids.items():
        gone_m = min(e.m for e in pods if e.type == "DELETED" and e.data.get("uid") == old_uid)
        successors = {str(e.data.get("uid")) for e in pods
                      if e.name == name and e.m > gone_m and e.data.get("ready") is True
                      and e.data.get("uid") != old_uid}
        # The name is reused; the pod is not.
        assert len(successors) == 1, f"{name}: successors {successors}"
        revisions = {e.data.get("revision") for e in pods if e.data.get("uid") in successors}
        assert revisions and None not in revisions, f"{name}: no controller revision recorded"


def test_statefulset_without_drain_or_pre_stop_fails_on_lost_requests_alone(cluster: ClusterRecord,
                                                                          runs_dir: Path) -> None:
    graceful = scenario_file("statefulset-rolling-restart")
    target = graceful.target.model_copy(update={"env": {"DRAIN_DELAY": "0s"}, "pre_stop_seconds": 0})
    naive = graceful.model_copy(update={"name": "statefulset-no-drain", "expect": "fail", "target": target})
    result = run_in(cluster, naive, runs_dir / "statefulset-no-drain")
    verdict = result.verdict
    gates = {g.name: g for g in verdict.gates}
    summary = "; ".join(f"{g.name}={g.status.value}: {g.reason}" for g in verdict.gates)
    assert verdict.outcome is GateStatus.FAIL and verdict.expected == "fail", summary
    # The pod stops at SIGTERM while the proxies still send it connections: reset, or never answered.
    assert gates["no_connection_errors"].status is GateStatus.FAIL, summary
    assert verdict.counts.outcomes.connection_errors > 0, verdict.counts.outcomes
    diagnosis = verdict.diagnosis
    assert diagnosis is not None
    top = diagnosis.findings[0]
    assert top.mechanism.value == "shutdown-before-endpoint-removal", [(f.mechanism, f.count)
                                                                       for f in diagnosis.findings]
    assert top.count >= 0.9 * diagnosis.diagnosed and set(top.pods) <= set(verdict.facts.old_pods)
    for name in ("rollout_completed", "records_accounted", "observers_complete"):
        assert gates[name].status is GateStatus.PASS, summary
    assert gates["disruption_observed"].numbers["replaced"] == 3, gates["disruption_observed"].reason
    assert not verdict.harness_errors
