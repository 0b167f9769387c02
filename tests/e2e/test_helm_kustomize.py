"""A run of go-httpbin deployed from its Helm chart and from its kustomize overlay.

Each scenario is written as a user would, next to its own values file; the run renders the source
with the real tool (the pinned helm, `kubectl kustomize`), applies the harness's overrides to what it
rendered, and deploys that. The evidence shows the chart's values and the overlay's patch took: the
number of pods replaced, the version label the timeline records for every pod, and the run's own
copy of what it applied. Traffic uses new connections only, so a PASS is what a sound service earns.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cluster.helm import HELM_VERSION
from harness.cluster.kind import ClusterRecord
from harness.evidence import TimelineKind, read_timeline
from harness.manifests import find_workload
from harness.manifests.sources import APPLIED_FILE, RENDERED_FILE
from harness.report.result_json import read_result_json
from harness.verdict import GateStatus

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "go-httpbin"
IMAGE = "rollout-harness-examples/go-httpbin:v2.26.0"
OVERLAY_LABEL = "rollout-harness.example/overlay"


@pytest.fixture(scope="module")
def built() -> str:
    done = subprocess.run([str(EXAMPLE / "build.sh")], capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == IMAGE
    return IMAGE


def scenario(directory: Path, name: str, target: dict[str, Any]) -> Path:
    """The example's scenario, shortened, with its objects from ``target``."""
    data = yaml.safe_load((EXAMPLE / "scenario.yaml").read_text())
    data["name"] = name
    data["target"] = {**{k: v for k, v in data["target"].items() if k != "manifests"}, **target}
    # New connections only: go-httpbin's Shutdown may reset a request just sent on a kept-alive one.
    # A request mix as a user's: reads, and a POST with a JSON body go-httpbin echoes.
    del data["target"]["paths"]
    data["traffic"].update({"connection_modes": ["new"], "rate": 50, "warmup_s": 3, "settle_s": 3, "requests": [
        {"path": "/get", "weight": 2},
        {"method": "POST", "path": "/post", "headers": {"Content-Type": "application/json"},
         "body": '{"order": 7}', "expect_status": [200]},
    ]})
    data["gates"] = {"min_requests": 200}
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run(path: Path, cluster: ClusterRecord, out: Path) -> Path:
    ran = subprocess.run([sys.executable, "-m", "harness", "run", str(path), "--cluster", cluster.name,
                          "--out", str(out)], cwd=path.parent, capture_output=True, text=True, check=False,
                         timeout=600)
    results = sorted(out.glob("*/result.json"))
    assert len(results) == 1, ran.stdout + ran.stderr
    run_dir = results[0].parent
    verdict = read_result_json(run_dir)
    gates = {g.name: (g.status, g.reason) for g in verdict.gates}
    assert verdict.outcome is GateStatus.PASS, (verdict.outcome, gates, ran.stdout[-2000:])
    assert ran.returncode == 0
    assert gates["rollout_completed"][0] is GateStatus.PASS
    by_req = verdict.counts.by_req
    assert set(by_req) == {"GET /get", "POST /post"} and by_req["POST /post"].ok > 0, by_req
    return run_dir


def pod_versions(run_dir: Path) -> dict[str, str | None]:
    """Each pod of the run and the version label the timeline saw on it."""
    return {e.name: e.data.get("version") for e in read_timeline(run_dir / "timeline.jsonl")
            if e.kind is TimelineKind.POD}


def applied_deployment(run_dir: Path) -> dict[str, Any]:
    deployment, _ = find_workload(list(yaml.safe_load_all((run_dir / APPLIED_FILE).read_text())))
    return deployment


def test_a_run_deploys_the_chart_rendered_with_its_values(cluster: ClusterRecord, built: str, tmp_path: Path,
                                                         runs_dir: Path) -> None:
    (tmp_path / "values-e2e.yaml").write_text(yaml.safe_dump({
        "replicaCount": 2, "podLabels": {"app.kubernetes.io/version": "from-values"}}))
    shutil.copytree(EXAMPLE / "chart", tmp_path / "chart")  # named relative to the scenario file
    path = scenario(tmp_path, "httpbin-helm", {"helm": {
        "chart": "chart", "values": ["values-e2e.yaml"], "set": {"preStopSeconds": 4}}, "pre_stop_seconds": 3})
    run_dir = run(path, cluster, runs_dir / "helm")

    versions = json.loads((run_dir / "versions.json").read_text())
    manifests = versions["manifests"]
    assert (manifests["source"], manifests["tool"], manifests["version"], manifests["pinned"]) == (
        "helm", "helm", HELM_VERSION, True)
    assert "--values" in manifests["command"] and "preStopSeconds=4" in manifests["command"]
    assert "# Source: go-httpbin/templates/deployment.yaml" in (run_dir / RENDERED_FILE).read_text()
    deployment = applied_deployment(run_dir)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    # The values file's replicas; the scenario's pre_stop_seconds over the chart's --set value.
    assert deployment["spec"]["replicas"] == 2 and container["lifecycle"]["preStop"]["sleep"]["seconds"] == 3
    verdict = read_result_json(run_dir)
    assert len(verdict.facts.old_pods) == 2
    seen = pod_versions(run_dir)
    assert set(verdict.facts.old_pods) < set(seen) and set(seen.values()) == {"from-values"}, seen


def test_a_run_deploys_the_kustomize_overlay(cluster: ClusterRecord, built: str, tmp_path: Path,
                                             runs_dir: Path) -> None:
    path = scenario(tmp_path, "httpbin-kustomize", {"manifests": str(EXAMPLE / "kustomize")})
    run_dir = run(path, cluster, runs_dir / "kustomize")

    manifests = json.loads((run_dir / "versions.json").read_text())["manifests"]
    assert (manifests["source"], manifests["tool"]) == ("kustomize", "kubectl") and manifests["version"]
    deployment = applied_deployment(run_dir)
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["template"]["metadata"]["labels"][OVERLAY_LABEL] == "kustomize"
    verdict = read_result_json(run_dir)
    assert len(verdict.facts.old_pods) == 2
    seen = pod_versions(run_dir)
    # Both the overlay's pods and those the restart made carry its label.
    assert set(verdict.facts.old_pods) < set(seen) and set(seen.values()) == {"v2.26.0"}, seen
