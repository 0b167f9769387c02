"""The service's own requests on a real server: go-httpbin under `traffic.requests`.

A POST with a JSON body from a file and a header of its own, and a GET of /status/418 that expects
418, in proportion 3:1: the records say which request each was, as the seed decides; the verdict
counts them per request. A second, short run expects 200 of /status/418 and must FAIL naming it.
Traffic opens a new connection per request: go-httpbin's keep-alive close at shutdown is not what
these runs are about.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cluster.kind import ClusterRecord
from harness.evidence import REQUESTS_FILE, ErrorKind, read_requests, request_seq
from harness.report.result_json import read_result_json
from harness.traffic.choice import RequestChooser
from harness.traffic.config import PlannedRequest
from harness.verdict import GateStatus

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "go-httpbin"
IMAGE = "rollout-harness-examples/go-httpbin:v2.26.0"
POST, TEAPOT = "POST /post", "GET /status/418"
HEADER = "x" * 300  # go-httpbin echoes the headers it got: the answer holds this value


@pytest.fixture(scope="module")
def built() -> None:
    listed = subprocess.run(["docker", "images", "-q", IMAGE], capture_output=True, text=True, check=True,
                            timeout=60)
    if not listed.stdout.strip():
        done = subprocess.run([str(EXAMPLE / "build.sh")], capture_output=True, text=True, check=False,
                              timeout=600)
        assert done.returncode == 0, done.stderr


def scenario(here: Path, name: str, *, teapot_expects: list[int], steps: list[dict[str, Any]]) -> Path:
    data = yaml.safe_load((EXAMPLE / "scenario.yaml").read_text())
    data["name"] = name
    data["target"]["manifests"] = str(EXAMPLE / "manifests")
    data["target"]["replicas"] = 2
    del data["target"]["paths"]
    (here / "body.json").write_text('{"order": 42, "items": ["a", "b", "c"]}')
    data["traffic"].update({
        "rate": 60, "users": 6, "connection_modes": ["new"], "warmup_s": 3, "settle_s": 3, "max_duration_s": 300,
        "requests": [
            {"method": "POST", "path": "/post", "body_file": "body.json", "weight": 3,
             "headers": {"Content-Type": "application/json", "X-Harness-Test": HEADER}},
            {"path": "/status/418", "expect_status": teapot_expects, "weight": 1},
        ],
    })
    data["steps"] = steps
    data["gates"] = {"min_requests": 100}
    path = here / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run(path: Path, cluster: ClusterRecord, out: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    ran = subprocess.run([sys.executable, "-m", "harness", "run", str(path), "--cluster", cluster.name,
                          "--out", str(out)], cwd=path.parent, capture_output=True, text=True, check=False,
                         timeout=400)
    results = sorted(out.glob("*/result.json"))
    assert len(results) == 1, ran.stdout + ran.stderr
    return ran, results[0].parent


def test_own_requests_are_sent_in_proportion_and_judged_by_their_expectations(
        cluster: ClusterRecord, built: None, tmp_path: Path, runs_dir: Path) -> None:
    path = scenario(tmp_path, "own-requests", teapot_expects=[418],
                    steps=[{"action": "rollout-restart", "deadline_s": 120}])
    ran, run_dir = run(path, cluster, runs_dir / "own-requests")
    verdict = read_result_json(run_dir)
    gates = {g.name: (g.status, g.reason) for g in verdict.gates}
    assert verdict.outcome is GateStatus.PASS, (gates, ran.stdout[-2000:])
    assert ran.returncode == 0

    records = [r for r in read_requests(run_dir / REQUESTS_FILE) if r.error is not ErrorKind.NOT_SENT]
    assert len(records) >= 100
    # Each id sent the request the seed gives its number, whichever user took it.
    chooser = RequestChooser([PlannedRequest(name=POST, path="/post", weight=3),
                              PlannedRequest(name=TEAPOT, path="/status/418", weight=1)], seed=1, weighted=True)
    for rec in records:
        seq = request_seq(rec.id)
        assert seq is not None and rec.req == chooser.for_seq(seq).name, rec
    posts = [r for r in records if r.req == POST]
    teapots = [r for r in records if r.req == TEAPOT]
    assert 0.18 < len(teapots) / len(records) < 0.32, (len(teapots), len(records))
    # /post answers only a POST (405 to a GET), and echoes the body and the headers it got.
    assert {r.status for r in posts} == {200}
    assert all(r.bytes > len(HEADER) + 40 for r in posts), min(r.bytes for r in posts)
    assert all(r.expect is None for r in posts)
    assert {r.status for r in teapots} == {418} and all(r.expect == [418] for r in teapots)

    by_req = verdict.counts.by_req
    assert set(by_req) == {POST, TEAPOT}
    assert by_req[TEAPOT].ok == len(teapots) and by_req[POST].ok == len(posts)
    assert verdict.counts.outcomes.unexpected_status == 0 and verdict.counts.outcomes.http_4xx == 0
    assert verdict.counts.by_status["418"] == len(teapots)
    assert gates["expected_status"][0] is GateStatus.PASS and gates["no_4xx"][0] is GateStatus.PASS


def test_a_status_outside_expect_status_fails_the_run_naming_the_request(
        cluster: ClusterRecord, built: None, tmp_path: Path, runs_dir: Path) -> None:
    path = scenario(tmp_path, "own-requests-wrong", teapot_expects=[200],
                    steps=[{"action": "rollout-restart", "deadline_s": 120}])
    ran, run_dir = run(path, cluster, runs_dir / "own-requests-wrong")
    verdict = read_result_json(run_dir)
    gates = {g.name: (g.status, g.reason) for g in verdict.gates}
    assert verdict.outcome is GateStatus.FAIL and ran.returncode == 1, (gates, verdict.harness_errors)
    assert not verdict.harness_errors
    failing = [name for name, (status, _) in gates.items() if status is GateStatus.FAIL]
    assert failing == ["expected_status"], gates
    reason = gates["expected_status"][1]
    teapots = verdict.counts.by_req[TEAPOT]
    assert f"{TEAPOT}: {teapots.unexpected_status} got 418 expecting 200" in reason, reason
    assert teapots.unexpected_status == teapots.total > 0 and teapots.ok == 0
    assert verdict.counts.by_req[POST].unexpected_status == 0
    assert any(f.req == TEAPOT and f.outcome == "unexpected_status" for f in verdict.first_failures)


def test_a_locustfiles_users_run_through_the_restart_with_every_request_accounted(
        cluster: ClusterRecord, built: None, tmp_path: Path, runs_dir: Path) -> None:
    """examples/go-httpbin/locustfile.py: two RecordedUser classes, 3:1, three named requests. Every
    request they made is in requests.jsonl, accounted per class, and the verdict counts each."""
    data = yaml.safe_load((EXAMPLE / "scenario.yaml").read_text())
    data["name"] = "own-locust-users"
    data["target"]["manifests"] = str(EXAMPLE / "manifests")
    data["target"]["replicas"] = 2
    data["traffic"].update({"rate": 60, "users": 8, "connection_modes": ["new"], "warmup_s": 3, "settle_s": 3,
                            "max_duration_s": 300, "locustfile": str(EXAMPLE / "locustfile.py")})
    data["steps"] = [{"action": "rollout-restart", "deadline_s": 120}]
    data["gates"] = {"min_requests": 100}
    path = tmp_path / "own-locust-users.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    ran, run_dir = run(path, cluster, runs_dir / "own-locust-users")
    verdict = read_result_json(run_dir)
    gates = {g.name: (g.status, g.reason) for g in verdict.gates}
    assert verdict.outcome is GateStatus.PASS, (gates, ran.stdout[-2000:])
    assert gates["records_accounted"][0] is GateStatus.PASS, gates["records_accounted"]
    records = list(read_requests(run_dir / REQUESTS_FILE))
    assert {r.user for r in records} == {"Reader", "Writer"}
    assert set(verdict.counts.by_user) == {"Reader", "Writer"}
    assert verdict.counts.by_user["Reader"].total > verdict.counts.by_user["Writer"].total
    names = {r.req for r in records}
    assert names == {"read echo", "read 256 bytes", "post order"}, names
    assert {r.bytes for r in records if r.req == "read 256 bytes"} == {256}
    assert set(verdict.counts.by_req) == names and sum(c.total for c in verdict.counts.by_req.values()) == len(records)
