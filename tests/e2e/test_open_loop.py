"""Open-loop traffic counts the loss a steady stream of clients sees: through a naive rollout the
new-connection mode keeps sending at its rate, and its failure rate agrees with an independent
open-loop client run beside it at the same NodePort; on the graceful service both see nothing."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness.cluster.kind import ClusterRecord
from harness.evidence import is_ok_status
from harness.verdict import GateStatus
from tests.e2e.conftest import run_in, scenario_file, wait_for_action
from tests.e2e.prober import Prober

PROBE_RATE = 50.0


def _harness_new_mode(run_dir: Path, start: float, end: float) -> tuple[int, int]:
    failed = sent = 0
    with (run_dir / "requests.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if rec["conn"] != "new" or not start <= rec["m_sched"] < end:
                continue
            sent += 1
            failed += not (rec.get("error") is None and is_ok_status(rec.get("status")))
    return failed, sent


@pytest.mark.parametrize("name", ["naive-rolling-restart", "rolling-restart"])
def test_loss_agrees_with_an_independent_open_loop_client(cluster: ClusterRecord, runs_dir: Path, name: str) -> None:
    out = runs_dir / f"open-loop-{name}"
    out.mkdir(parents=True, exist_ok=True)
    prober = Prober(cluster.host_port, rate=PROBE_RATE)
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(run_in, cluster, scenario_file(name), out)
        wait_for_action(out, "traffic", "start", future)
        prober.start()
        wait_for_action(out, "traffic", "stop", future)
        probe = prober.stop()
        result = future.result(timeout=600)

    verdict = result.verdict
    gates = {g.name: g for g in verdict.gates}
    assert gates["traffic_flow"].status is GateStatus.PASS, gates["traffic_flow"].reason
    assert gates["traffic_on_schedule"].status is GateStatus.PASS, gates["traffic_on_schedule"].reason
    start, end = probe.sent[0], probe.sent[-1]
    probe_failed, probe_sent = probe.failed_between(start, end)
    ours_failed, ours_sent = _harness_new_mode(result.run_dir, start, end)
    assert probe_sent > 0.8 * PROBE_RATE * (end - start) and ours_sent > 0
    shown = f"harness {ours_failed}/{ours_sent}, prober {probe_failed}/{probe_sent}"
    if name == "rolling-restart":
        assert verdict.outcome is GateStatus.PASS, shown
        assert (ours_failed, probe_failed) == (0, 0), shown
        return
    assert verdict.outcome is GateStatus.FAIL
    assert ours_failed > 0 and probe_failed > 0, shown
    ratio = (ours_failed / ours_sent) / (probe_failed / probe_sent)
    assert 1 / 1.5 <= ratio <= 1.5, f"failure rates differ by {ratio:.2f}x: {shown}"
