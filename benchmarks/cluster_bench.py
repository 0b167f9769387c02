"""Cluster benchmarks: cold node-image build, warm `cluster up` for 1 and 3 nodes, idle memory.

    .venv/bin/python benchmarks/cluster_bench.py --cold      # cold build in empty Go and harness caches
    .venv/bin/python benchmarks/cluster_bench.py             # warm cluster up (1 and 3 nodes) and idle memory

A cold build downloads every module again into a temporary GOMODCACHE, compiles with an empty
GOCACHE, and runs debootstrap again; its result replaces the cached node image with an identical
one. Clusters made here are named rh-bench-* and removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HARNESS = [sys.executable, "-m", "harness"]


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    started = time.monotonic()
    subprocess.run(cmd, check=True, cwd=ROOT, env={**os.environ, **(env or {})})
    return time.monotonic() - started


def cold_build() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="rh-cold-") as tmp:
        env = {"GOCACHE": f"{tmp}/gocache", "GOMODCACHE": f"{tmp}/gomod", "RH_CACHE_DIR": f"{tmp}/rh"}
        for repo in ("rollout-harness/node-base", "rollout-harness/proxy-base"):
            tags = subprocess.run(["docker", "images", repo, "--format", "{{.Repository}}:{{.Tag}}"],
                                  capture_output=True, check=True).stdout.decode().split()
            for tag in tags:
                subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, check=False)
        seconds = timed([*HARNESS, "cluster", "image", "--force"], env)
        subprocess.run(["chmod", "-R", "u+w", tmp], check=False)
    return {"cold_build_s": round(seconds, 1)}


def _mem_mib(text: str) -> float:
    match = re.match(r"([\d.]+)\s*([KMG]i?B)", text)
    if not match:
        return 0.0
    value, unit = float(match.group(1)), match.group(2)
    return value * {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024, "kB": 1 / 1000, "MB": 1, "GB": 1000}.get(unit, 1)


def idle_memory(name: str, settle_s: float) -> float:
    time.sleep(settle_s)
    out = subprocess.run(["docker", "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}"],
                         capture_output=True, check=True).stdout.decode()
    return round(sum(_mem_mib(line.split(" ", 1)[1]) for line in out.splitlines() if line.startswith(name)), 1)


def warm_up(workers: int, port: int) -> dict[str, float]:
    name = f"rh-bench-{workers + 1}n"
    try:
        seconds = timed([*HARNESS, "cluster", "up", "--name", name, "--workers", str(workers),
                         "--host-port", str(port)])
        memory = idle_memory(name, 60)
    finally:
        subprocess.run([*HARNESS, "cluster", "down", "--name", name], cwd=ROOT, check=False)
    return {f"warm_up_{workers + 1}_node_s": round(seconds, 1), f"idle_memory_{workers + 1}_node_mib": memory}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cold", action="store_true", help="measure the cold node-image build")
    args = parser.parse_args()
    results: dict[str, float] = {}
    if args.cold:
        results.update(cold_build())
    else:
        timed([*HARNESS, "cluster", "image"])  # make sure the image is cached: a warm start
        results.update(warm_up(0, 30190))
        results.update(warm_up(2, 30191))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
