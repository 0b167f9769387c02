"""How long judging a large saved run takes, and how much memory it needs.

Generates a run directory with N realistic request records (default 1,000,000: two user classes,
keep-alive and new connections, a rolling restart of three pods with a few resets, refusals and 5xx
during it, and requests still in flight at the stop), then judges it with ``judge_run_dir`` in a
fresh child process. Peak memory is ``ru_maxrss`` from resource.getrusage: RUSAGE_SELF for the judging
process and RUSAGE_CHILDREN for its worker processes (the largest one), whole processes with the
interpreter and imports, not just Python allocations. The total counts the largest worker once per
worker, an upper bound.

    .venv/bin/python benchmarks/judge_bench.py [--records N] [--workers N] [--keep DIR] [--json-only]

``--json-only`` reads every line with json and takes the digest line by line, as judging did before
its fast paths, for a comparison on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from harness.evidence import REQUESTS_FILE, TIMELINE_FILE, TimelineEvent, TimelineKind  # noqa: E402
from harness.verdict import (  # noqa: E402
    GateConfig,
    RolloutFacts,
    RunFacts,
    RunRecord,
    judge_run_dir,
    write_run_record,
)
from harness.verdict.summary import JSON_ONLY_ENV, default_workers  # noqa: E402

TARGET_SECONDS = 10.0
TARGET_MB = 300.0

M0 = 10_000.0  # monotonic clock at traffic start
T0 = 1_760_000_000.0  # wall clock at traffic start
ROLL_START, ROLL_END = 60.0, 95.0  # seconds after traffic start
OLD = ["web-7c9d8f-a1b2c", "web-7c9d8f-d3e4f", "web-7c9d8f-g5h6i"]
NEW = ["web-5f6a7b-j7k8l", "web-5f6a7b-m9n0p", "web-5f6a7b-q1r2s"]
# Each old pod is replaced by a new one at these offsets: new ready, then old terminating.
SWAPS = [(65.0, 66.0), (75.0, 76.0), (85.0, 86.0)]


def _pods_at(offset: float) -> list[tuple[str, str]]:
    pods = []
    for i, (ready_at, term_at) in enumerate(SWAPS):
        pods.append((NEW[i], "v2") if offset >= term_at else (OLD[i], "v1"))
        if ready_at <= offset < term_at:
            pods.append((NEW[i], "v2"))
    return pods


def write_requests(path: Path, n: int, rng: random.Random) -> dict[str, int]:
    duration = 200.0
    step = duration / n
    made = {"failures": 0, "incomplete": 0}
    users = (("KeepAliveUser", "keep-alive"), ("NewConnectionUser", "new"))
    with path.open("w", encoding="utf-8") as fh:
        buf: list[str] = []
        for i in range(n):
            offset = i * step
            user, conn = users[i & 1]
            m_start = M0 + offset
            pod, version = rng.choice(_pods_at(offset))
            in_roll = ROLL_START <= offset <= ROLL_END
            latency = rng.lognormvariate(1.2 if not in_roll else 1.6, 0.4) / 1000.0
            rec: dict[str, object] = {
                "id": f"{user[:2]}-{i}", "user": user, "conn": conn,
                "t_start": T0 + offset, "m_start": m_start,
                # Open-loop traffic: each request was due a fraction of a millisecond before it left.
                "t_sched": T0 + offset - 0.0003, "m_sched": m_start - 0.0003,
            }
            if i >= n - 12:
                made["incomplete"] += 1  # still in flight when traffic stopped
            elif in_roll and rng.random() < 0.0008:
                made["failures"] += 1
                kind = rng.choice(("reset", "refused", "503", "502"))
                rec.update({"t_end": T0 + offset + latency, "m_end": m_start + latency})
                if kind in ("reset", "refused"):
                    rec.update({"error": kind, "detail": f"connection {kind}"})
                    if conn == "keep-alive":
                        rec["conn_pod"] = pod
                else:
                    rec.update({"status": int(kind), "bytes": 0, "detail": "upstream unavailable"})
            else:
                rec.update({"t_end": T0 + offset + latency, "m_end": m_start + latency, "status": 200,
                            "bytes": 187, "pod": pod, "version": version})
                if conn == "keep-alive":
                    rec["conn_pod"] = pod
            buf.append(json.dumps(rec, separators=(",", ":")))
            if len(buf) >= 10_000:
                fh.write("\n".join(buf) + "\n")
                buf.clear()
        if buf:
            fh.write("\n".join(buf) + "\n")
    return made


def _ev(offset: float, kind: TimelineKind, type_: str, name: str, data: dict[str, object]) -> TimelineEvent:
    return TimelineEvent(t=T0 + offset, m=M0 + offset, kind=kind, type=type_, name=name, data=data)


def _pod(offset: float, type_: str, name: str, version: str, *, ready: bool, terminating: bool = False
         ) -> TimelineEvent:
    return _ev(offset, TimelineKind.POD, type_, name, {
        "name": name, "phase": "Running", "ready": ready, "terminating": terminating,
        "node": "kind-worker", "ip": f"10.244.1.{sum(map(ord, name)) % 250 + 2}", "version": version,
    })


def _slice(offset: float, pods: list[tuple[str, bool, bool]]) -> TimelineEvent:
    endpoints = [{"pod": p, "ip": "10.244.1.9", "ready": ready, "serving": ready or term, "terminating": term}
                 for p, ready, term in pods]
    return _ev(offset, TimelineKind.ENDPOINTS, "MODIFIED", "web-abcde",
               {"name": "web-abcde", "service": "web", "endpoints": endpoints})


def timeline_events() -> list[TimelineEvent]:
    events = [_ev(-5.0, TimelineKind.OBSERVER, "synced", "pods", {"resource": "pods", "what": "synced"})]
    events += [_pod(-5.0, "LIST", p, "v1", ready=True) for p in OLD]
    events.append(_slice(-5.0, [(p, True, False) for p in OLD]))
    events.append(_ev(0.0, TimelineKind.ACTION, "start", "traffic", {"step": "traffic", "phase": "start"}))
    events.append(_ev(ROLL_START, TimelineKind.ACTION, "start", "restart",
                      {"step": "restart", "phase": "start", "detail": "kubectl rollout restart"}))
    events.append(_ev(ROLL_START + 0.2, TimelineKind.ACTION, "end", "restart",
                      {"step": "restart", "phase": "end"}))
    for i, (ready_at, term_at) in enumerate(SWAPS):
        events.append(_pod(ready_at - 3.0, "ADDED", NEW[i], "v2", ready=False))
        events.append(_pod(ready_at, "MODIFIED", NEW[i], "v2", ready=True))
        events.append(_pod(term_at, "MODIFIED", OLD[i], "v1", ready=False, terminating=True))
        events.append(_pod(term_at + 5.0, "DELETED", OLD[i], "v1", ready=False, terminating=True))
        members = [(NEW[j], True, False) for j in range(i + 1)] + [(OLD[j], True, False) for j in range(i + 1, 3)]
        events.append(_slice(ready_at + 0.1, [*members, (OLD[i], True, False)]))
        events.append(_slice(term_at + 0.3, [*members, (OLD[i], False, True)]))
        events.append(_slice(term_at + 5.0, members))
    events.append(_ev(ROLL_END, TimelineKind.ACTION, "end", "settle", {"step": "settle", "phase": "end"}))
    events.append(_ev(200.0, TimelineKind.ACTION, "end", "traffic", {"step": "traffic", "phase": "end"}))
    # Observers append as watches deliver: the file is not in clock order.
    random.Random(7).shuffle(events)
    return events


def make_run(directory: Path, n: int) -> dict[str, int]:
    made = write_requests(directory / REQUESTS_FILE, n, random.Random(42))
    with (directory / TIMELINE_FILE).open("w", encoding="utf-8") as fh:
        for event in timeline_events():
            fh.write(event.to_json() + "\n")
    facts = RunFacts(
        scenario="bench-rolling-restart", run_id="bench", started_at=T0 - 30.0, ended_at=T0 + 210.0,
        traffic_started_m=M0, traffic_stopped_m=M0 + 200.0,
        rollout=RolloutFacts(completed=True, deadline_s=120.0, duration_s=ROLL_END - ROLL_START),
        old_pods=list(OLD), service="web",
    )
    write_run_record(directory, RunRecord(facts=facts, gates=GateConfig(latency_p99_ms_during_disruption=50.0)))
    return made


def child(directory: Path, workers: int | None) -> None:
    started = time.perf_counter()
    cpu = time.process_time()
    verdict = judge_run_dir(directory, workers=workers)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    n = workers or default_workers((directory / REQUESTS_FILE).stat().st_size)
    print(json.dumps({
        "seconds": seconds, "cpu_s": cpu + kids.ru_utime + kids.ru_stime, "workers": n,
        "peak_mb": own.ru_maxrss / 1024.0, "worker_peak_mb": kids.ru_maxrss / 1024.0,
        # ru_maxrss of children is the largest one, not their sum: count it once per extra worker.
        "total_mb": (own.ru_maxrss + (n - 1) * kids.ru_maxrss) / 1024.0,
        "outcome": verdict.outcome.value,
        "total": verdict.counts.total, "failed": verdict.counts.outcomes.failed(),
        "first_failures": len(verdict.first_failures),
        "p99_during_ms": verdict.latency_during_disruption.p99_ms,
        "gates": {g.name: g.status.value for g in verdict.gates},
    }))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="write the run here and keep it")
    parser.add_argument("--workers", type=int, help="processes reading requests.jsonl (default: automatic)")
    parser.add_argument("--json-only", action="store_true", help="judge without the fast paths, as before them")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.workers)
        return 0

    with tempfile.TemporaryDirectory(prefix="judge-bench-") as tmp:
        directory = args.keep or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        made = make_run(directory, args.records)
        size_mb = (directory / REQUESTS_FILE).stat().st_size / 1e6
        print(f"generated {args.records} records ({size_mb:.0f} MB, {made['failures']} failures, "
              f"{made['incomplete']} in flight) in {time.perf_counter() - started:.1f}s")
        wall = time.perf_counter()
        command = [sys.executable, __file__, "--child", str(directory)]
        if args.workers:
            command += ["--workers", str(args.workers)]
        env = {**os.environ, JSON_ONLY_ENV: "1"} if args.json_only else None
        proc = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
        wall = time.perf_counter() - wall
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return proc.returncode
        result = json.loads(proc.stdout.strip().splitlines()[-1])

    print(f"python {platform.python_version()} on {platform.machine()}, {_cpu_model()}, {os.cpu_count()} CPUs")
    mode = " (json only)" if args.json_only else ""
    print(f"judge_run_dir{mode}: {result['seconds']:.2f}s wall with {result['workers']} process(es), "
          f"{result['cpu_s']:.2f}s CPU in all of them (judging process wall {wall:.2f}s incl. start-up)")
    print(f"peak RSS: judging process {result['peak_mb']:.0f} MB, largest worker {result['worker_peak_mb']:.0f} MB, "
          f"total at most {result['total_mb']:.0f} MB")
    print(f"outcome {result['outcome']}: {result['total']} requests, {result['failed']} failed, "
          f"{result['first_failures']} first failures annotated, p99 during disruption "
          f"{result['p99_during_ms']:.2f} ms")
    print("gates: " + ", ".join(f"{k}={v}" for k, v in result["gates"].items()))
    ok = result["seconds"] <= TARGET_SECONDS and result["total_mb"] <= TARGET_MB
    print(f"targets <= {TARGET_SECONDS:.0f}s and <= {TARGET_MB:.0f} MB: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
