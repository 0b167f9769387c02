"""expect_status judged from the records alone: each record of a traffic.requests entry carries its
request's name and expectation, and the judging pass (in memory, from a file by either parser)
classifies it by them; the expected_status gate counts and names what fell outside."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.evidence import ConnectionMode, ErrorKind, RequestRecord
from harness.traffic.recorder import Recorder
from harness.verdict import Evidence, GateConfig, GateStatus, RunFacts, judge, summarize_requests
from harness.verdict.summary import JSON_ONLY_ENV, classify, summarize_requests_file

M0, T0 = 500.0, 1_700_000_000.0
TEAPOT, POST = "GET /status/418", "POST /post"


def record(seq: int, status: int | None, *, req: str | None = TEAPOT, expect: list[int] | None = None,
           error: ErrorKind | None = None) -> RequestRecord:
    at = seq * 0.01
    return RequestRecord(id=f"t-{seq:08d}", user="NewConnectionUser", conn=ConnectionMode.NEW, t_start=T0 + at,
                         m_start=M0 + at, t_end=T0 + at + 0.002, m_end=M0 + at + 0.002, status=status,
                         error=error, bytes=0 if status is None else 10, req=req, expect=expect)


def mixed() -> list[RequestRecord]:
    """POSTs judged by the default, teapots expecting 418: some answered 418, some not."""
    sent = [(POST, 200), (TEAPOT, 418), (TEAPOT, 418), (TEAPOT, 200), (POST, 503), (TEAPOT, 404), (TEAPOT, 418),
            (TEAPOT, 102), (POST, 201), (POST, 999)]
    out = [record(seq, status, req=req, expect=[418] if req == TEAPOT else None)
           for seq, (req, status) in enumerate(sent, start=1)]
    out.append(record(11, None, expect=[418], error=ErrorKind.RESET))
    out.append(record(12, 200, req=None))  # the simple form: no name, no expectation
    return out


def test_a_record_is_ok_only_with_a_status_its_request_expects() -> None:
    assert record(1, 418, expect=[418]).ok
    assert not record(1, 200, expect=[418]).ok
    assert not record(1, 503, expect=[418]).ok
    assert record(1, 503, expect=[503]).ok  # a 5xx it names is its answer
    assert not record(1, None, expect=[418], error=ErrorKind.TIMEOUT).ok
    assert record(1, 200).ok and not record(1, 418).ok  # without one: the default, 2xx/3xx


@pytest.mark.parametrize(("status", "expect", "outcome"), [
    (418, [418], "ok"), (200, [418], "unexpected_status"), (302, [200], "unexpected_status"),
    (404, [200], "unexpected_status"), (503, [418], "http_5xx"), (503, [503], "ok"), (102, [418], "bad_status"),
    (102, [102], "ok"), (999, [418], "bad_status"), (404, None, "http_4xx"), (200, None, "ok"),
])
def test_classify_by_the_records_expectation(status: int, expect: list[int] | None, outcome: str) -> None:
    assert classify(status, None, M0, expect) == outcome


def test_the_line_carries_name_and_expectation_and_reads_back() -> None:
    rec = record(3, 418, expect=[418, 200])
    line = rec.to_json()
    assert line.endswith(',"req":"GET /status/418","expect":[418,200]}')
    assert line == json.dumps(json.loads(line), separators=(",", ":"))  # the fast path's text is json's
    assert RequestRecord.from_dict(json.loads(line)) == rec
    with pytest.raises(ValueError, match="expect is not a list of statuses"):
        RequestRecord.from_dict({**json.loads(line), "expect": [True]})
    with pytest.raises(TypeError, match="req is not a string"):
        RequestRecord.from_dict({**json.loads(line), "req": 7})


def _evidence(records: list[RequestRecord]) -> Evidence:
    summary = summarize_requests(records)
    facts = RunFacts(scenario="own", run_id="own-1", started_at=T0, traffic_started_m=M0,
                     traffic_stopped_m=M0 + 1.0)
    return Evidence(summary=summary, timeline=[], facts=facts)


def test_counts_per_request_and_the_gate_names_the_one_that_got_what_it_did_not_expect() -> None:
    evidence = _evidence(mixed())
    counts = evidence.summary.counts
    assert set(counts.by_req) == {POST, TEAPOT}  # the simple-form record has no name
    teapot, post = counts.by_req[TEAPOT], counts.by_req[POST]
    # Teapots: three 418 are answers, the 200 and the 404 unexpected, the 102 no final answer, one reset.
    assert (teapot.ok, teapot.unexpected_status, teapot.bad_status, teapot.reset, teapot.total) == (3, 2, 1, 1, 7)
    assert (post.ok, post.http_5xx, post.bad_status, post.unexpected_status, post.total) == (2, 1, 1, 0, 4)
    assert counts.outcomes.unexpected_status == 2 and counts.outcomes.http_4xx == 0
    verdict = judge(evidence, GateConfig(min_requests=1))
    gate = verdict.gate("expected_status")
    assert gate.status is GateStatus.FAIL
    assert gate.reason.startswith("2 of 12 requests (16.67%) got a status outside their request's expect_status "
                                  "(GET /status/418: 2 got 200, 404 expecting 418)"), gate.reason
    assert gate.numbers["req GET /status/418"] == 2
    failures = {f.id: f for f in verdict.first_failures}
    assert failures["t-00000004"].outcome == "unexpected_status" and failures["t-00000004"].req == TEAPOT
    assert verdict.gate("no_5xx").status is GateStatus.FAIL  # the POST's 503 stays a 5xx


def test_the_gate_holds_when_every_request_got_what_it_expects() -> None:
    records = [record(seq, 418, expect=[418]) for seq in range(1, 6)] + [record(6, 200, req=POST)]
    verdict = judge(_evidence(records), GateConfig(min_requests=1))
    gate = verdict.gate("expected_status")
    assert gate.status is GateStatus.PASS and gate.reason == "none of 6 requests got a status outside their " \
        "request's expect_status"
    assert verdict.gate("no_4xx").status is GateStatus.PASS  # an expected 418 is an answer, not a 4xx
    assert verdict.counts.outcomes.ok == 6


def test_an_error_budget_covers_unexpected_statuses_like_any_loss() -> None:
    records = [record(seq, 418 if seq > 1 else 200, expect=[418]) for seq in range(1, 101)]
    verdict = judge(_evidence(records), GateConfig(min_requests=1, max_failed_requests=1))
    assert verdict.gate("expected_status").status is GateStatus.PASS
    assert "within the error budget" in verdict.gate("expected_status").reason


@pytest.mark.parametrize("json_only", [False, True])
def test_a_file_is_judged_as_the_records_are(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             json_only: bool) -> None:
    records = mixed()
    path = tmp_path / "requests.jsonl"
    path.write_text("".join(r.to_json() + "\n" for r in records))
    if json_only:
        monkeypatch.setenv(JSON_ONLY_ENV, "1")
    from_file = summarize_requests_file(path)
    in_memory = summarize_requests(records)
    assert from_file.counts == in_memory.counts
    assert from_file.digest == in_memory.digest
    assert [r.req for r in from_file.first_failures] == [r.req for r in in_memory.first_failures]


def test_a_line_with_a_malformed_expectation_is_not_judged(tmp_path: Path) -> None:
    good = record(1, 418, expect=[418]).to_json()
    bad = good.replace('"expect":[418]', '"expect":"418"')
    path = tmp_path / "requests.jsonl"
    path.write_text(good + "\n" + bad + "\n")
    summary = summarize_requests_file(path)
    assert summary.counts.malformed_lines == 1 and summary.counts.outcomes.ok == 1


def test_the_traffic_process_counts_unexpected_answers_apart() -> None:
    recorder = Recorder("t")
    for status, expect in ((418, [418]), (200, [418]), (503, [418]), (404, None)):
        rec = recorder.begin("NewConnectionUser", ConnectionMode.NEW, t_start=T0, m_start=M0)
        rec.status, rec.m_end, rec.t_end, rec.expect, rec.req = status, M0 + 0.01, T0 + 0.01, expect, TEAPOT
        recorder.finish(rec)
    tally = recorder.tally
    # The 200 is unexpected; the 503 is a 5xx whatever was expected; the 404 has no expectation.
    assert (tally.ok, tally.failed, tally.unexpected) == (1, 3, 1)
