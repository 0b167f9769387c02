"""The traffic process on one core, against the sample service on another (127.0.0.1 only).

Four measurements, in one run:

1. Lateness of open-loop traffic: the default open model (both connection modes, uniform schedule)
   at each of ``--lateness-rates``; per mode, lateness p50/p99/max (send time minus due time), the
   rate sent, and what the ``traffic_on_schedule`` gate says.
2. Bare Locust: the closed-loop FastHttpUser users with nothing recorded at an unreachable rate (the
   ``record=False`` baseline), and the closed model with records, for comparison.
3. Cost per request, side by side: requests per CPU-second of the traffic process (user + system
   time, from getrusage) for bare Locust, and for the open model, keep-alive only, at
   ``--cpu-rate`` with and without records. The CPU time of the same process sending 1 request/s
   for as long (start-up, imports, the idle loop) is taken off first. CPU time is what the other
   jobs on a shared machine cannot take away, so this ratio is the steady one.
4. Accounted open-loop throughput: the highest rate (bisected) at which the open model, keep-alive
   only, with a full record per request, still keeps its schedule (the gate passes and every request
   due was sent). A stall caused by another job fails a step, so this number is the noisy one.

    .venv/bin/python benchmarks/traffic_bench.py [--duration 20] [--users 20] [--lateness-rates 1000,2000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.verdict import Evidence, GateConfig, RunFacts  # noqa: E402
from harness.verdict.lateness import traffic_on_schedule  # noqa: E402
from harness.verdict.summary import summarize_requests_file  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_service(tmp: Path) -> Path:
    binary = tmp / "sample-service"
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=ROOT / "sample-service", check=True,
                   env={**os.environ, "CGO_ENABLED": "0"})
    return binary


def run_worker(tmp: Path, name: str, cfg: dict[str, Any], cpu: int) -> tuple[dict[str, Any], Path, float]:
    """Run the traffic process until its max_duration_s: its final report, its records file and the
    CPU seconds it used (taskset execs the worker, so the child is the worker itself)."""
    out = tmp / f"requests-{name}.jsonl"
    out.unlink(missing_ok=True)
    cfg_path = tmp / f"cfg-{name}.json"
    cfg_path.write_text(json.dumps({**cfg, "out": str(out), "run_id": name}))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(["taskset", "-c", str(cpu), sys.executable, "-m", "harness.traffic.worker", str(cfg_path)],
                          capture_output=True, check=True, cwd=ROOT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    done = json.loads(proc.stdout.decode().strip().splitlines()[-1])["done"]
    return done, out, cpu_s


def idle_cpu(tmp: Path, url: str, model: str, users: int, duration: float, cpu: int) -> float:
    """CPU seconds of a traffic process that sends 1 request/s for ``duration``: its fixed cost."""
    cfg = {"url": url, "rate": 1.0, "users": users, "keepalive_share": 1.0, "max_duration_s": duration,
           "model": model}
    return run_worker(tmp, f"idle-{model}", cfg, cpu)[2]


def closed_variant(tmp: Path, url: str, record: bool, users: int, duration: float, cpu: int,
                   idle_s: float, rate: float = 1_000_000) -> dict[str, float]:
    """Closed-loop users at ``rate`` (by default one no core reaches, so they send flat out)."""
    cfg = {"url": url, "rate": rate, "users": users, "keepalive_share": 1.0, "max_duration_s": duration,
           "record": record, "model": "closed"}
    done, _, cpu_s = run_worker(tmp, f"closed-{record}-{rate:g}", cfg, cpu)
    return {"sent": done["sent"], "ok": done["ok"], "failed": done["failed"], "rps": done["sent"] / duration,
            "cpu_s": round(cpu_s, 2), "per_cpu_s": round(done["sent"] / max(cpu_s - idle_s, 1e-3))}


def open_cost(tmp: Path, url: str, rate: float, record: bool, users: int, duration: float, cpu: int,
              idle_s: float) -> dict[str, float]:
    cfg = {"url": url, "rate": rate, "users": users, "keepalive_share": 1.0, "max_duration_s": duration,
           "record": record}
    done, _, cpu_s = run_worker(tmp, f"open-cost-{record}", cfg, cpu)
    return {"sent": done["sent"], "failed": done["failed"], "cpu_s": round(cpu_s, 2),
            "per_cpu_s": round(done["sent"] / max(cpu_s - idle_s, 1e-3))}


def open_run(tmp: Path, url: str, rate: float, users: int, duration: float, cpu: int,
             keepalive_share: float = 0.5) -> dict[str, Any]:
    cfg = {"url": url, "rate": rate, "users": users, "keepalive_share": keepalive_share,
           "max_duration_s": duration}
    done, out, _ = run_worker(tmp, f"open-{rate:g}-{keepalive_share:g}", cfg, cpu)
    summary = summarize_requests_file(out)
    facts = RunFacts(scenario="bench", run_id="bench", started_at=time.time())
    gate = traffic_on_schedule(Evidence(summary=summary, timeline=[], facts=facts), GateConfig())
    modes: dict[str, Any] = {}
    for mode, stats in summary.lateness.items():
        seconds = sorted(stats.seconds)
        # The rate really sent, over the whole seconds of the schedule (the first and last are partial).
        inner = seconds[1:-1]
        sent_inner = sum(sum(stats.seconds[s]) - stats.seconds[s][-1] for s in inner)
        modes[mode] = {
            "scheduled": stats.scheduled, "not_sent": stats.not_sent,
            "sent_rps": round(sent_inner / len(inner), 1) if inner else None,
            "lateness_p50_ms": round(stats.percentile(50) or 0.0, 3),
            "lateness_p99_ms": round(stats.percentile(99) or 0.0, 3),
            "lateness_max_ms": round(stats.max_ms, 3),
        }
    outcomes = summary.counts.outcomes
    return {"rate": rate, "ok": outcomes.ok, "failed": outcomes.failed(), "records": outcomes.total,
            "sent": done["sent"], "gate": gate.status.value, "gate_reason": gate.reason, "modes": modes}


def keeps_up(result: dict[str, Any]) -> bool:
    return bool(result["gate"] == "PASS" and result["failed"] == 0
                and all(m["not_sent"] == 0 for m in result["modes"].values()))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--lateness-rates", default="1000,2000")
    parser.add_argument("--sweep-duration", type=float, default=12.0)
    parser.add_argument("--sweep-steps", type=int, default=6)
    parser.add_argument("--cpu-rate", type=float, default=5000.0)
    parser.add_argument("--traffic-cpu", type=int, default=1)
    parser.add_argument("--service-cpu", type=int, default=0)
    args = parser.parse_args()
    cpu = args.traffic_cpu
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        binary = build_service(tmp)
        port = free_port()
        env = {**os.environ, "PORT": str(port), "LISTEN_HOST": "127.0.0.1", "POD_NAME": "bench"}
        server = subprocess.Popen(["taskset", "-c", str(args.service_cpu), str(binary)], env=env,
                                  stdout=subprocess.DEVNULL)
        try:
            time.sleep(1.0)
            url = f"http://127.0.0.1:{port}"
            results["lateness"] = [open_run(tmp, url, float(r), args.users, args.duration, cpu)
                                   for r in args.lateness_rates.split(",")]
            idle_closed = idle_cpu(tmp, url, "closed", args.users, args.duration, cpu)
            idle_open = idle_cpu(tmp, url, "open", args.users, args.duration, cpu)
            results["idle_cpu_s"] = {"closed": round(idle_closed, 2), "open": round(idle_open, 2)}
            bare = closed_variant(tmp, url, False, args.users, args.duration, cpu, idle_closed)
            closed = closed_variant(tmp, url, True, args.users, args.duration, cpu, idle_closed)
            results["bare_locust"], results["closed_accounted"] = bare, closed
            results["bare_locust_at_cpu_rate"] = closed_variant(tmp, url, False, args.users, args.duration, cpu,
                                                                idle_closed, args.cpu_rate)
            results["open_cost_accounted"] = open_cost(tmp, url, args.cpu_rate, True, args.users, args.duration, cpu,
                                                       idle_open)
            results["open_cost_bare"] = open_cost(tmp, url, args.cpu_rate, False, args.users, args.duration, cpu,
                                                  idle_open)
            results["ratio_per_cpu_open_to_bare"] = round(
                results["open_cost_accounted"]["per_cpu_s"] / bare["per_cpu_s"], 3)
            results["ratio_per_cpu_closed_to_bare"] = round(closed["per_cpu_s"] / bare["per_cpu_s"], 3)
            results["ratio_per_cpu_open_to_bare_same_rate"] = round(
                results["open_cost_accounted"]["per_cpu_s"] / results["bare_locust_at_cpu_rate"]["per_cpu_s"], 3)
            # Bisect the open model's sustainable keep-alive rate between a rate it keeps and bare Locust's.
            low, high = bare["rps"] * 0.3, bare["rps"] * 1.1
            sweep = []
            for _ in range(args.sweep_steps):
                rate = round((low + high) / 2)
                result = open_run(tmp, url, rate, args.users, args.sweep_duration, cpu, keepalive_share=1.0)
                sweep.append({k: result[k] for k in ("rate", "gate", "failed", "modes")})
                if keeps_up(result):
                    low = rate
                else:
                    high = rate
            results["open_sweep"] = sweep
            results["open_accounted_rps"] = low
            results["ratio_open_to_bare"] = round(low / bare["rps"], 3) if bare["rps"] else None
            results["ratio_closed_to_bare"] = round(closed["rps"] / bare["rps"], 3) if bare["rps"] else None
        finally:
            server.send_signal(signal.SIGKILL)
            server.wait()
    print(json.dumps(results, indent=2))
    for run in results["lateness"]:
        shown = "; ".join(f"{m}: p99 {s['lateness_p99_ms']} ms, max {s['lateness_max_ms']} ms, "
                          f"{s['sent_rps']} req/s sent" for m, s in run["modes"].items())
        print(f"open {run['rate']:g} req/s: {shown}; gate {run['gate']}")
    print(f"per CPU-second: bare Locust {results['bare_locust']['per_cpu_s']}, closed accounted "
          f"{results['closed_accounted']['per_cpu_s']}, open accounted {results['open_cost_accounted']['per_cpu_s']}, "
          f"open without records {results['open_cost_bare']['per_cpu_s']}; open/bare "
          f"{results['ratio_per_cpu_open_to_bare']}; at {args.cpu_rate:g} req/s bare Locust "
          f"{results['bare_locust_at_cpu_rate']['per_cpu_s']} "
          f"({results['bare_locust_at_cpu_rate']['rps']:.0f} req/s reached), open/bare "
          f"{results['ratio_per_cpu_open_to_bare_same_rate']}")
    print(f"bare Locust {results['bare_locust']['rps']:.0f} req/s; closed accounted "
          f"{results['closed_accounted']['rps']:.0f} req/s; open accounted (keeps schedule) "
          f"{results['open_accounted_rps']:.0f} req/s; ratio {results['ratio_open_to_bare']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
