"""Accounted throughput: requests/s with a full record per request, against the same Locust users
without records, both on one core, measured in one run.

The sample service runs on the other core (127.0.0.1 only). Each variant runs for DURATION seconds
with an unreachable target rate, so the users send as fast as one core allows.

    .venv/bin/python benchmarks/traffic_bench.py [--duration 20] [--users 20]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_service(tmp: Path) -> Path:
    binary = tmp / "sample-service"
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=ROOT / "sample-service", check=True,
                   env={**os.environ, "CGO_ENABLED": "0"})
    return binary


def run_variant(tmp: Path, url: str, record: bool, users: int, duration: float, cpu: int) -> dict[str, float]:
    out = tmp / f"requests-{record}.jsonl"
    cfg = {"url": url, "out": str(out), "run_id": "bench", "rate": 1_000_000, "users": users,
           "keepalive_share": 1.0, "max_duration_s": duration, "record": record}
    cfg_path = tmp / f"cfg-{record}.json"
    cfg_path.write_text(json.dumps(cfg))
    started = time.monotonic()
    proc = subprocess.run(["taskset", "-c", str(cpu), sys.executable, "-m", "harness.traffic.worker", str(cfg_path)],
                          capture_output=True, check=True, cwd=ROOT)
    elapsed = time.monotonic() - started
    done = json.loads(proc.stdout.decode().strip().splitlines()[-1])["done"]
    lines = sum(1 for _ in out.open()) if out.exists() else 0
    return {"sent": done["sent"], "ok": done["ok"], "failed": done["failed"], "seconds": elapsed,
            "rps": done["sent"] / duration, "records": lines}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--users", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        binary = build_service(tmp)
        port = free_port()
        env = {**os.environ, "PORT": str(port), "LISTEN_HOST": "127.0.0.1", "POD_NAME": "bench"}
        server = subprocess.Popen(["taskset", "-c", "1", str(binary)], env=env, stdout=subprocess.DEVNULL)
        try:
            time.sleep(1.0)
            url = f"http://127.0.0.1:{port}"
            bare = run_variant(tmp, url, record=False, users=args.users, duration=args.duration, cpu=0)
            accounted = run_variant(tmp, url, record=True, users=args.users, duration=args.duration, cpu=0)
        finally:
            server.send_signal(signal.SIGKILL)
            server.wait()
    ratio = accounted["rps"] / bare["rps"] if bare["rps"] else 0.0
    print(json.dumps({"without_records": bare, "with_records": accounted, "ratio": round(ratio, 3)}, indent=2))
    print(f"accounted: {accounted['rps']:.0f} req/s ({accounted['records']} records); "
          f"without records: {bare['rps']:.0f} req/s; ratio {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
