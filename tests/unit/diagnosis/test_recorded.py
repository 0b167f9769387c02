"""The diagnosis on evidence recorded from real runs (tests/unit/data/recorded, re-recorded with
scripts/record-fixtures): each naive shutdown gets its mechanism for at least 95 % of its failed
requests, the graceful run carries none, and damaging the evidence never gives a wrong mechanism."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from harness.diagnosis import Mechanism
from harness.diagnosis.diagnose import diagnose
from harness.verdict import judge_run_dir
from harness.verdict.judge import load_evidence

RECORDED = Path(__file__).resolve().parents[1] / "data" / "recorded"

CASES = [
    ("naive-rolling-restart", Mechanism.SHUTDOWN_BEFORE_ENDPOINT_REMOVAL),
    ("naive-no-drain", Mechanism.SHUTDOWN_BEFORE_ENDPOINT_REMOVAL),
    ("naive-ignore-sigterm", Mechanism.KILLED_AT_GRACE_END),
    ("naive-abrupt-close", Mechanism.KEEPALIVE_CLOSED_AT_SHUTDOWN),
    ("slow-start", Mechanism.READY_BEFORE_SERVING),
    ("go-httpbin-race", Mechanism.KEEPALIVE_CLOSED_AT_SHUTDOWN),
]


def run_dir(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(RECORDED / name, target)
    for gz in target.glob("*.gz"):
        gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
    return target


@pytest.mark.parametrize(("name", "mechanism"), CASES, ids=[name for name, _ in CASES])
def test_each_naive_shutdown_gets_its_mechanism(tmp_path: Path, name: str, mechanism: Mechanism) -> None:
    verdict = judge_run_dir(run_dir(name, tmp_path))
    diagnosis = verdict.diagnosis
    assert diagnosis is not None
    assert diagnosis.failed == verdict.counts.outcomes.failed()
    right = sum(f.count for f in diagnosis.findings if f.mechanism is mechanism)
    assert right >= 0.95 * diagnosis.diagnosed, {f.mechanism.value: f.count for f in diagnosis.findings}
    top = diagnosis.findings[0]
    assert top.mechanism is mechanism
    assert top.pods and top.evidence
    assert all(f.mechanism is not None for f in verdict.first_failures)


def test_a_graceful_run_carries_no_diagnosis(tmp_path: Path) -> None:
    assert judge_run_dir(run_dir("rolling-restart", tmp_path)).diagnosis is None


def test_no_pre_stop_recommends_one_longer_than_the_endpoint_removal(tmp_path: Path) -> None:
    verdict = judge_run_dir(run_dir("naive-no-drain", tmp_path))
    assert verdict.diagnosis is not None
    finding = verdict.diagnosis.findings[0]
    rec = finding.recommendations[0]
    measured = finding.measurements
    need = max(float(measured["endpoint_removal_s"] or 0), float(measured["last_reach_after_deletion_s"] or 0))
    assert int(rec.overrides["target.pre_stop_seconds"]) >= need + 1
    assert f"{measured['endpoint_removal_s']:.2f} s" in rec.text


@pytest.mark.parametrize("drop", ["pod", "endpoints", "event"])
def test_evidence_with_a_kind_of_event_missing_gives_no_wrong_mechanism(tmp_path: Path, drop: str) -> None:
    """Without a whole kind of timeline event, a request is either still given its run's mechanism
    (other evidence decides it) or unexplained; never another mechanism."""
    for name, mechanism in CASES:
        evidence, _ = load_evidence(run_dir(name, tmp_path / drop))
        timeline = [e for e in evidence.timeline if e.kind.value != drop]
        origin = evidence.origin_m
        assert origin is not None
        diagnosis, _ = diagnose(evidence.summary.failed_records, timeline, evidence.facts, origin_m=origin,
                                pod_logs=evidence.pod_logs, pod_answers=evidence.summary.pod_answers)
        allowed = {mechanism, Mechanism.UNEXPLAINED}
        if drop == "event":  # SIGTERM is then read from the deletion, which moves by milliseconds
            allowed |= {Mechanism.SHUTDOWN_BEFORE_ENDPOINT_REMOVAL, Mechanism.KEEPALIVE_CLOSED_AT_SHUTDOWN}
        wrong = {f.mechanism.value: f.count for f in diagnosis.findings if f.mechanism not in allowed}
        assert sum(wrong.values()) <= 0.05 * diagnosis.diagnosed, (name, drop, wrong)


def test_a_kept_alive_connection_of_a_server_without_x_pod_is_tied_to_its_pod_by_timing(tmp_path: Path) -> None:
    """go-httpbin names no pod in its answers: each reset, on a reused connection as its pod's
    Shutdown closed the idle connections, goes to the only pod stopping at that moment; the advice
    does not ask a server that drained behind a preStop to handle SIGTERM."""
    verdict = judge_run_dir(run_dir("go-httpbin-race", tmp_path))
    diagnosis = verdict.diagnosis
    assert diagnosis is not None and diagnosis.failed >= 1
    assert diagnosis.failed == diagnosis.explained == diagnosis.retry_hidden
    finding = diagnosis.findings[0]
    timelines = {p.pod: p for p in diagnosis.pods}
    sigterms = []
    for pod in finding.pods:
        timeline = timelines[pod]
        assert timeline.sigterm_s is not None and timeline.deleted_s is not None
        assert timeline.sigterm_s - timeline.deleted_s >= 4.5  # the manifests' preStop sleep of 5 s
        sigterms.append(timeline.sigterm_s)
    assert finding.first_offset_s is not None
    assert min(abs(finding.first_offset_s - at) for at in sigterms) < 1.0
    assert any("by timing, the only pod stopping then" in text for text in finding.evidence)
    assert "0 by the pod named in the answer (X-Pod)" in diagnosis.attribution
    assert [r.setting for r in finding.recommendations] == ["Connection: close at shutdown"]

