"""`harness init` on a real open-source server: build it, write its scenario, validate and run it.

The example (examples/go-httpbin) is go-httpbin fetched by module path and version, compiled static
into a FROM scratch image. The harness loads only the sample service's image into its cluster, so the
test loads the example's image itself, with the kind binary and code path the harness uses.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness.cluster.kind import ClusterRecord, ensure_kind
from harness.report.result_json import read_result_json
from harness.scenario import load_scenario
from harness.verdict import GateStatus
from harness.workload import kind_load_image

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "go-httpbin"
IMAGE = "rollout-harness-examples/go-httpbin:v2.26.0"


def harness(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The command as a user runs it, in its own process."""
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, capture_output=True, text=True,
                          check=False, timeout=600)


def test_init_writes_a_scenario_for_go_httpbin_that_runs_and_passes(cluster: ClusterRecord, tmp_path: Path,
                                                                    runs_dir: Path) -> None:
    built = subprocess.run([str(EXAMPLE / "build.sh")], capture_output=True, text=True, check=False, timeout=600)
    assert built.returncode == 0, built.stderr
    assert built.stdout.strip() == IMAGE
    kind_load_image(ensure_kind(), IMAGE, cluster.name)

    scenario = tmp_path / "go-httpbin.yaml"
    init = harness("init", "--manifests", str(EXAMPLE / "manifests"), "--out", str(scenario), cwd=tmp_path)
    assert init.returncode == 0, init.stdout + init.stderr
    assert "it validates" in init.stdout
    loaded = load_scenario(scenario)
    assert (loaded.target.image, loaded.target.service) == (IMAGE, "go-httpbin")
    assert loaded.manifests_dir() == (EXAMPLE / "manifests").resolve()

    valid = harness("validate", str(scenario), cwd=tmp_path)
    assert valid.returncode == 0 and f"{scenario}: OK" in valid.stdout, valid.stdout + valid.stderr

    out = runs_dir / "init"
    ran = harness("run", str(scenario), "--cluster", cluster.name, "--out", str(out), cwd=tmp_path)
    results = sorted(out.glob("*/result.json"))
    assert len(results) == 1, ran.stdout + ran.stderr
    verdict = read_result_json(results[0])
    gates = {g.name: (g.status, g.reason) for g in verdict.gates}
    # go-httpbin stops with http.Server.Shutdown and the manifests sleep in preStop while its endpoint
    # goes: a rolling restart of its three pods loses nothing.
    assert verdict.outcome is GateStatus.PASS, (verdict.outcome, gates, verdict.counts.outcomes)
    assert ran.returncode == 0
    assert verdict.scenario == "go-httpbin-rolling-restart"
    outcomes = verdict.counts.outcomes
    assert outcomes.ok >= 500 and outcomes.ok == sum(verdict.counts.by_status_class.values())
    for name in ("no_5xx", "no_connection_errors", "all_completed", "rollout_completed", "disruption_observed"):
        assert gates[name][0] is GateStatus.PASS, (name, gates[name])
    assert f"none of {outcomes.ok} requests failed on the connection" in gates["no_connection_errors"][1]
    assert "3 of 3 old pods replaced" in gates["disruption_observed"][1]
    # Every old pod was replaced by the restart, and each mode of traffic ran through it.
    assert len(verdict.facts.old_pods) == 3
    assert set(verdict.counts.by_conn) == {"keep-alive", "new"}
