"""Time-to-verdict on a warm cluster against the rollout's own duration.

Runs the default scenario RUNS times on an existing harness cluster and reports, per run:
- total: wall time of `harness run` from start to verdict (reports written);
- rollout: the rollout's own duration, from the restart to the moment the last old pod is gone
  (the time any tool must wait to see the whole disruption);
- overhead = total - rollout (deploy, observers, warm-up, settle, traffic drain, judging).

    .venv/bin/python benchmarks/verdict_overhead.py --cluster rh-bench [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rollout_own_duration(run_dir: Path) -> float:
    run = json.loads((run_dir / "run.json").read_text())
    old = set(run["facts"]["old_pods"])
    start = None
    gone: dict[str, float] = {}
    for line in (run_dir / "timeline.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["kind"] == "action" and event["data"].get("disruption") and event["data"].get("phase") == "start":
            start = event["m"] if start is None else min(start, event["m"])
        if event["kind"] == "pod" and event["type"] == "DELETED" and event["name"] in old:
            gone[event["name"]] = event["m"]
    if start is None or not gone:
        raise SystemExit(f"{run_dir}: no disruption or no old pod deleted")
    return max(gone.values()) - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cluster", required=True)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(args.runs):
            out = Path(tmp) / str(index)
            started = time.monotonic()
            subprocess.run([sys.executable, "-m", "harness", "run", "scenarios/rolling-restart.yaml",
                            "--context", f"kind-{args.cluster}", "--out", str(out)], cwd=ROOT, check=True)
            total = time.monotonic() - started
            run_dir = next(out.iterdir())
            rollout = rollout_own_duration(run_dir)
            rows.append({"total_s": round(total, 1), "rollout_s": round(rollout, 1),
                         "overhead_s": round(total - rollout, 1)})
    print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
