"""records_accounted and the strict defaults: the records must be exactly what the traffic process
reported sending and writing, and only 2xx/3xx count as answers."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from test_verdict import evidence, facts, rec, steady, write_run_dir
from traffic_reports import accounted, label

from harness.evidence import REQUESTS_FILE, LinesDigest, TrafficReport, file_digest, request_seq
from harness.traffic.protocol import TrafficStatus, done_line, parse_line, status_line
from harness.verdict import (
    DEFAULT_GATES,
    DisruptedPod,
    Evidence,
    GateConfig,
    GateStatus,
    RunFacts,
    judge,
    judge_run_dir,
    records_accounted,
    summarize_requests,
)


def accounted_evidence(report_changes: dict[str, Any] | None = None, n: int = 300) -> Evidence:
    built = evidence(steady(n))
    assert built.facts.traffic is not None
    report = built.facts.traffic.model_copy(update=report_changes or {})
    built.facts = built.facts.model_copy(update={"traffic": report})
    return built


def test_the_gate_is_a_default_gate() -> None:
    assert records_accounted in DEFAULT_GATES


def test_records_matching_the_report_pass() -> None:
    result = records_accounted(accounted_evidence(), GateConfig())
    assert result.status is GateStatus.PASS, result.reason
    assert result.numbers["records"] == result.numbers["sent"] == 300
    assert result.numbers["digest_matches"] is True
    assert "ids 1..300 each recorded once" in result.reason


def test_no_report_is_an_error() -> None:
    built = accounted_evidence()
    built.facts = built.facts.model_copy(update={"traffic": None})
    result = records_accounted(built, GateConfig())
    assert result.status is GateStatus.ERROR
    assert result.reason == ("the traffic process's own counts are missing, so the records cannot be proven "
                             "complete")
    assert judge(built).outcome is GateStatus.ERROR


@pytest.mark.parametrize(("changes", "phrase"), [
    ({"sent": 301}, "300 records for 301 requests sent (-1)"),
    ({"by_user": {"KeepAliveUser": 299, "NewConnectionUser": 1}}, "user class NewConnectionUser: 0 records, 1 sent"),
    ({"by_conn": {"keep-alive": 300, "new": 4}}, "connection mode new: 0 records, 4 sent"),
    ({"lines": 299}, "requests.jsonl has 300 lines, the traffic process wrote 299 (+1)"),
    ({"max_seq": 302}, "2 of the ids 1..302 have no record (r0-00000301, r0-00000302)"),
    ({"max_seq": 298}, "2 ids lie beyond the last one sent (298): r0-00000299, r0-00000300"),
    ({"digest": "sha256:" + "1" * 64}, "the digest of requests.jsonl (sha256:"),
    ({"ended": "max_duration"}, "stopped sending on its own (max_duration)"),
])
def test_every_difference_is_an_error_named_with_its_numbers(changes: dict[str, Any], phrase: str) -> None:
    result = records_accounted(accounted_evidence(changes), GateConfig())
    assert result.status is GateStatus.ERROR
    assert result.reason.startswith("evidence incomplete or altered: ")
    assert phrase in result.reason, result.reason


def test_missing_and_duplicated_ids_are_counted_and_the_first_named() -> None:
    numbered, report = accounted(steady(300))
    records = [r for r in numbered if label(r.id) not in ("r10", "r11", "r12")]
    records += [numbered[40], numbered[40], numbered[41]]
    built = Evidence(summary=summarize_requests(records), timeline=[], facts=facts(traffic=report))
    result = records_accounted(built, GateConfig())
    assert result.status is GateStatus.ERROR
    assert "3 of the ids 1..300 have no record (r0-00000011, r0-00000012, r0-00000013)" in result.reason
    assert "2 ids are recorded more than once, 3 extra records" in result.reason
    assert (result.numbers["missing_ids"], result.numbers["duplicate_records"]) == (3, 3)


def test_ids_that_are_not_numbered_are_named() -> None:
    numbered, report = accounted(steady(20))
    numbered[5].id = "what-is-this"
    built = Evidence(summary=summarize_requests(numbered), timeline=[], facts=facts(traffic=report))
    result = records_accounted(built, GateConfig())
    assert "1 records have an id that is not <run>-<seq> with a possible seq ('what-is-this')" in result.reason
    assert "1 of the ids 1..20 have no record (r0-00000006)" in result.reason


def test_a_file_written_twice_doubles_every_count_and_is_caught(tmp_path: Path) -> None:
    write_run_dir(tmp_path, steady())
    path = tmp_path / REQUESTS_FILE
    path.write_bytes(path.read_bytes() * 2)
    gate = judge_run_dir(tmp_path).gate("records_accounted")
    assert gate.status is GateStatus.ERROR
    assert "600 records for 300 requests sent (+300)" in gate.reason
    assert "300 ids are recorded more than once, 300 extra records" in gate.reason
    assert "digest" in gate.reason


def test_a_saved_run_with_its_report_passes_and_crlf_changes_nothing(tmp_path: Path) -> None:
    write_run_dir(tmp_path, steady())
    assert judge_run_dir(tmp_path).gate("records_accounted").status is GateStatus.PASS
    path = tmp_path / REQUESTS_FILE
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n") + b"\r\n")
    assert judge_run_dir(tmp_path, workers=2).gate("records_accounted").status is GateStatus.PASS


# --- strict classification --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [0, 100, 101, 199, 600, 999])
def test_a_status_that_is_no_http_answer_fails_its_own_gate(status: int) -> None:
    verdict = judge(evidence([*steady(), rec(900, 13.0, status=status)]))
    gate = verdict.gate("no_bad_status")
    assert gate.status is GateStatus.FAIL
    assert f"1x {status}" in gate.reason
    assert verdict.counts.outcomes.bad_status == 1
    assert verdict.counts.outcomes.failed() == 1
    assert verdict.outcome is GateStatus.FAIL
    [first] = verdict.first_failures
    assert (first.outcome, first.status) == ("bad_status", status)
    for other in ("no_5xx", "no_4xx", "no_connection_errors", "all_completed"):
        assert verdict.gate(other).status is GateStatus.PASS


def test_a_status_recorded_as_text_fails_as_a_bad_status(tmp_path: Path) -> None:
    write_run_dir(tmp_path, steady())
    path = tmp_path / REQUESTS_FILE
    lines = path.read_text().splitlines()
    lines[5] = lines[5].replace('"status":200', '"status":"200"')
    path.write_text("\n".join(lines) + "\n")
    verdict = judge_run_dir(tmp_path)
    assert verdict.gate("no_bad_status").status is GateStatus.FAIL
    assert '1x "200"' in verdict.gate("no_bad_status").reason
    [first] = verdict.first_failures
    assert first.outcome == "bad_status" and first.status is None
    assert first.detail is not None and 'status "200", not an integer' in first.detail
    assert "bad status" in first.describe()
    assert verdict.gate("records_accounted").status is GateStatus.ERROR  # and the file was altered


def test_the_rollout_gate_is_skipped_without_a_rollout() -> None:
    verdict = judge(evidence(steady(), run=facts(rollout=None)))
    assert verdict.gate("rollout_completed").status is GateStatus.SKIPPED
    assert verdict.outcome is GateStatus.PASS


# --- the models refuse what cannot be judged -------------------------------------------------------------


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_facts_and_gate_settings_refuse_nan_and_infinity(value: float) -> None:
    with pytest.raises(ValidationError):
        facts(traffic_started_m=value)
    with pytest.raises(ValidationError):
        GateConfig(min_rate_rps=value)
    with pytest.raises(ValidationError):
        DisruptedPod(containers_gone_m=value)
    with pytest.raises(ValidationError):
        RunFacts(scenario="s", run_id="r", started_at=1.0, mode_rates={"new": value})


@pytest.mark.parametrize("settings", [{"max_failed_ratio": 1.0}, {"min_flow_share": 0.0}, {"min_flow_share": 1.5}])
def test_gate_settings_out_of_range_are_refused(settings: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        GateConfig(**settings)


def test_gate_defaults_are_strict() -> None:
    config = GateConfig()
    assert (config.allow_4xx, config.min_flow_share, config.max_failed_ratio) == (False, 0.8, None)
    assert GateConfig(min_flow_share=1.0, max_failed_ratio=0.99).min_flow_share == 1.0


def test_run_facts_hold_the_traffic_and_disruption_facts() -> None:
    run = facts(connection_modes=["keep-alive", "new"], rate_rps=200.0, mode_rates={"keep-alive": 100.0, "new": 100.0},
                disrupted_pods={"web-1": DisruptedPod(deleted_m=1.0, containers_gone_m=3.5, how="runtime")})
    again = RunFacts.model_validate_json(run.model_dump_json())
    assert again == run
    assert again.disrupted_pods["web-1"].how == "runtime"
    assert facts().traffic is None and facts().disrupted_pods == {}


def test_the_traffic_report_is_strict() -> None:
    _, report = accounted(steady(3))
    with pytest.raises(ValidationError):
        report.model_copy(update={}).__class__(**{**report.model_dump(), "extra": 1})
    with pytest.raises(ValidationError):
        TrafficReport(**{**report.model_dump(), "digest": "md5:abc"})
    with pytest.raises(ValidationError):
        TrafficReport(**{**report.model_dump(), "ended": "crashed"})
    with pytest.raises(ValidationError):
        report.sent = 4  # type: ignore[misc]  # frozen


# --- digests and the traffic process's messages ------------------------------------------------------


def test_the_digest_is_the_same_whatever_the_pieces(tmp_path: Path) -> None:
    data = b"".join(r.to_json().encode() + b"\n" for r in steady(50))
    whole = LinesDigest()
    whole.update(data)
    pieces = LinesDigest()
    for i in range(0, len(data), 7):
        pieces.update(data[i:i + 7])
    assert whole.hexdigest() == pieces.hexdigest()
    path = tmp_path / "x.jsonl"
    path.write_bytes(data.replace(b"\n", b"\r\n"))
    assert file_digest(path, block_size=13) == (whole.hexdigest(), 50)


@pytest.mark.parametrize(("request_id", "seq"), [("abc-00000042", 42), ("a-b-7", 7), ("noseq", None),
                                                 ("x-4a", None), ("x-", None), ("x-\u0663", None)])
def test_request_seq(request_id: str, seq: int | None) -> None:
    assert request_seq(request_id) == seq


def test_status_and_final_lines_round_trip() -> None:
    status = TrafficStatus(sent=10, ok=9, failed=1, inflight=2, rps=99.5, m=12.5, by_conn={"new": 10})
    assert parse_line(status_line(status)) == status
    _, report = accounted(steady(3))
    assert parse_line(done_line(report).encode()) == report
    assert parse_line(b"some library printed this") is None
    assert parse_line(b'{"other": 1}') is None
    with pytest.raises(ValueError, match="sent"):
        parse_line(b'{"status": {"sent": -1}}')
    with pytest.raises(ValueError, match="digest"):
        parse_line(b'{"done": {"sent": 1, "ok": 1, "failed": 0, "lines": 1, "digest": "x", "max_seq": 1, '
                   b'"ended": "stopped"}}')
