"""The API server goes away in the middle of a run: the data plane keeps serving, the traffic keeps
running, the observers record the outage, and the run still ends with a verdict, every report and
no namespace left behind."""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kubernetes import client

from harness.cluster.kind import ClusterRecord
from harness.evidence import TimelineKind, read_timeline
from harness.k8s import api_client
from harness.verdict import GateStatus
from harness.workload import RUN_LABEL
from tests.e2e.conftest import run_in, scenario_from, wait_for_action


def _stop_api_server(node: str) -> None:
    ids = subprocess.run(["docker", "exec", node, "crictl", "ps", "-q", "--name", "kube-apiserver"],
                         capture_output=True, check=True).stdout.decode().split()
    assert ids, "no kube-apiserver container on the control-plane node"
    subprocess.run(["docker", "exec", node, "crictl", "stop", *ids], capture_output=True, check=True)


def test_api_server_restart_mid_run_still_gives_a_verdict(cluster: ClusterRecord, runs_dir: Path) -> None:
    scenario = scenario_from({"steps": [{"action": "wait", "seconds": 40}, {"action": "rollout-restart"}],
                              "traffic": {"rate": 60, "users": 6, "warmup_s": 2, "settle_s": 2},
                              "gates": {"min_requests": 200}}, "api-outage")
    out = runs_dir / "api-outage"
    out.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(run_in, cluster, scenario, out)
        wait_for_action(out, "traffic", "start", future)
        time.sleep(3)
        stopped_at = time.time()
        _stop_api_server(f"{cluster.name}-control-plane")
        result = future.result(timeout=900)

    verdict = result.verdict
    reasons = [(g.name, g.status.value, g.reason) for g in verdict.gates]
    # The loss gates judge the traffic; whether coverage survived decides PASS or ERROR. Never a
    # crash, never a FAIL of the service for the harness's own outage.
    assert verdict.outcome in (GateStatus.PASS, GateStatus.ERROR), reasons
    if verdict.outcome is GateStatus.ERROR:
        assert any(g.status is GateStatus.ERROR and g.name == "observers_complete" for g in verdict.gates), reasons
    for name in ("result.json", "junit.xml", "report.html", "report.md", "run.json", "requests.jsonl"):
        assert (result.run_dir / name).is_file(), name
    timeline = read_timeline(result.run_dir / "timeline.jsonl")
    outage = [e for e in timeline if e.kind is TimelineKind.OBSERVER and e.data.get("what") == "error"
              and e.t >= stopped_at - 1]
    assert outage, "the observers did not record the API server's outage"
    assert verdict.counts.outcomes.failed() == 0, "the data plane should have kept serving"

    core = client.CoreV1Api(api_client(Path(cluster.kubeconfig), cluster.context))
    left = [ns for ns in core.list_namespace(label_selector=RUN_LABEL).items
            if ns.metadata.deletion_timestamp is None]
    assert not left, [ns.metadata.name for ns in left]
