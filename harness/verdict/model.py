"""The verdict's data: what the orchestrator tells the judge about a run, the thresholds it judges
against, and the results it hands to the reports. Everything here serialises to JSON and back, so a
saved run can be re-judged and a saved verdict re-rendered without a cluster."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.diagnosis.model import Diagnosis
from harness.errors import ConfigError
from harness.evidence import TrafficReport
from harness.files import write_atomic
from harness.verdict.outage import OutageRun

__all__ = [
    "RUN_FILE",
    "Bucket",
    "Counts",
    "DisruptedPod",
    "FailedRequest",
    "GateConfig",
    "GateResult",
    "GateStatus",
    "LatencyStats",
    "OutcomeCounts",
    "PodState",
    "RolloutFacts",
    "RunFacts",
    "RunRecord",
    "Verdict",
    "read_run_record",
    "write_run_record",
]

RUN_FILE = "run.json"

Expectation = Literal["pass", "fail"]


class _Model(BaseModel):
    # A typo in run.json or a scenario's gate settings must not be silently ignored.
    model_config = ConfigDict(extra="forbid")


class _Facts(_Model):
    # What a run is judged by: a NaN or an infinity in it would make every comparison meaningless.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class GateStatus(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"
    ERROR = "ERROR"
    SKIPPED = "SKIPPED"


class RolloutFacts(_Facts):
    completed: bool
    deadline_s: float | None = None
    duration_s: float | None = None
    error: str | None = None  # e.g. "ProgressDeadlineExceeded"
    scope: str | None = None  # what "completed" covered when less than every pod (a StatefulSet's partition)


class DisruptedPod(_Facts):
    """When a pod the disruption took away was gone: deleted, and its containers no longer running."""

    deleted_m: float | None = None  # time.monotonic() when its deletion was seen
    containers_gone_m: float | None = None  # time.monotonic() when no container of it ran any more
    how: Literal["runtime", "grace-bound", "unknown"] = "unknown"  # what containers_gone_m rests on


class RunFacts(_Facts):
    """What only the orchestrator knows about a run."""

    scenario: str
    run_id: str
    started_at: float  # wall clock, epoch seconds
    ended_at: float | None = None
    traffic_started_m: float | None = None  # time.monotonic()
    traffic_stopped_m: float | None = None
    # None when the scenario has no rollout to wait for.
    rollout: RolloutFacts | None = None
    # Traffic process died, observer gap not closed, API lost: any entry makes the verdict ERROR.
    harness_errors: list[str] = Field(default_factory=list)
    # Pods of the target that existed before the first disruption.
    old_pods: list[str] = Field(default_factory=list)
    # Their UIDs (name -> UID): a StatefulSet's new pod reuses the old one's name, never its UID.
    old_pod_uids: dict[str, str] = Field(default_factory=dict)
    expect: Expectation = "pass"
    # The target Service; when set, only its EndpointSlices count as "the endpoint set".
    service: str | None = None
    # Monotonic [start, end] intervals of the disruption. When None they are derived from the
    # timeline's action events (see ``harness.verdict.timeline.disruption_windows``).
    disruption_windows: list[tuple[float, float]] | None = None
    # The traffic process's own final counts; None when it sent none (judging is then ERROR).
    traffic: TrafficReport | None = None
    # The configured connection modes (e.g. ["keep-alive", "new"]), total rate and rate per mode.
    connection_modes: list[str] = Field(default_factory=list)
    rate_rps: float | None = Field(default=None, gt=0)
    mode_rates: dict[str, float] = Field(default_factory=dict)
    # Pod name -> when it was gone, for every pod the disruption took away.
    disrupted_pods: dict[str, DisruptedPod] = Field(default_factory=dict)
    # The scenario file the run came from (for `harness fix-check`); None when it had none.
    scenario_file: str | None = None


class GateConfig(_Facts):
    min_requests: int = Field(default=100, ge=0)
    min_rate_rps: float | None = Field(default=None, ge=0)
    latency_p99_ms_during_disruption: float | None = Field(default=None, gt=0)
    # Error budget: when either is set, the loss gates pass while the total loss stays within it.
    max_failed_requests: int | None = Field(default=None, ge=0)
    # Below 1: a "budget" of every request would be no gate at all.
    max_failed_ratio: float | None = Field(default=None, ge=0, lt=1)
    # Only 2xx and 3xx are answers unless a scenario says 4xx are expected too.
    allow_4xx: bool = False
    # Traffic through a disruption must reach this share of its configured rate, per mode.
    min_flow_share: float = Field(default=0.8, gt=0, le=1)
    # Which old pods the disruption must have replaced: a rollout replaces all, a pod kill one,
    # a scale-up none.
    disruption_replaces: Literal["all", "any", "none"] = "all"
    # Whether a pod that was not there before must have become ready (false for a scale-down).
    disruption_new_ready: bool = True
    # Open-loop traffic: how late (send time minus due time) requests may leave at p99 before the
    # traffic generator counts as saturated and the verdict as INCONCLUSIVE.
    max_lateness_p99_ms: float = Field(default=50.0, gt=0)

    @property
    def has_error_budget(self) -> bool:
        return self.max_failed_requests is not None or self.max_failed_ratio is not None


class RunRecord(_Facts):
    """``run.json``: everything besides the two evidence files that judging a run needs."""

    schema_version: Literal[1] = 1
    facts: RunFacts
    gates: GateConfig = Field(default_factory=GateConfig)


def write_run_record(path: Path, record: RunRecord) -> None:
    """Write ``run.json`` into the run directory ``path`` (or to ``path`` if it names a file)."""
    target = path / RUN_FILE if path.is_dir() else path
    write_atomic(target, record.model_dump_json(indent=2) + "\n")


def read_run_record(path: Path) -> RunRecord:
    target = path / RUN_FILE if path.is_dir() else path
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(
            f"{target} does not exist, so the run cannot be judged",
            "point at a run directory written by `harness run` (it holds run.json, requests.jsonl "
            "and timeline.jsonl)",
        ) from exc
    try:
        return RunRecord.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        got = json.dumps(first.get("input"), default=str)[:80]
        raise ConfigError(
            f"{target}: field {where}: {first['msg']} (got {got})",
            "fix or regenerate run.json; its schema is harness.verdict.RunRecord",
        ) from exc


class OutcomeCounts(_Model):
    """Requests by what happened to them. Every request lands in exactly one field."""

    ok: int = 0  # a 2xx or 3xx response
    http_4xx: int = 0
    http_5xx: int = 0
    refused: int = 0
    reset: int = 0
    timeout: int = 0
    incomplete: int = 0  # sent, never answered: error "incomplete", or no end/status recorded
    other: int = 0
    bad_status: int = 0  # a status that is no final HTTP answer: 0, 1xx, 600 and above, not an integer
    not_sent: int = 0  # due on the schedule, never sent: the generator's in-flight cap was reached
    # An HTTP answer below 500 that its request's expect_status (traffic.requests) does not name.
    unexpected_status: int = 0

    @property
    def total(self) -> int:
        return (self.ok + self.http_4xx + self.http_5xx + self.refused + self.reset + self.timeout
                + self.incomplete + self.other + self.bad_status + self.not_sent + self.unexpected_status)

    @property
    def connection_errors(self) -> int:
        return self.refused + self.reset + self.timeout + self.other

    def failed(self, *, allow_4xx: bool = False) -> int:
        return (self.http_5xx + self.connection_errors + self.incomplete + self.bad_status + self.not_sent
                + self.unexpected_status + (0 if allow_4xx else self.http_4xx))


class Bucket(_Model):
    """Requests started in ``[m, m + bucket_s)``, by outcome, for charts."""

    m: float
    offset_s: float  # from the start of traffic (or the first request)
    counts: OutcomeCounts


class LatencyStats(_Model):
    """Latency of requests that got a response. ``exact`` is false once samples were folded into a
    histogram whose percentiles are within 0.5 % of the true value."""

    count: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    exact: bool = True


class Counts(_Model):
    outcomes: OutcomeCounts = Field(default_factory=OutcomeCounts)
    # "200": n; a status that is not an integer under its JSON text ('"200"': n, class "not an integer").
    by_status: dict[str, int] = Field(default_factory=dict)
    by_status_class: dict[str, int] = Field(default_factory=dict)  # "2xx": n
    by_error_kind: dict[str, int] = Field(default_factory=dict)  # "reset": n
    by_conn: dict[str, OutcomeCounts] = Field(default_factory=dict)
    by_user: dict[str, OutcomeCounts] = Field(default_factory=dict)
    by_req: dict[str, OutcomeCounts] = Field(default_factory=dict)  # per traffic.requests entry, by name
    by_pod: dict[str, int] = Field(default_factory=dict)  # answers per pod
    by_version: dict[str, int] = Field(default_factory=dict)
    malformed_lines: int = 0
    first_m: float | None = None  # monotonic start of the first request
    last_m: float | None = None  # monotonic start of the last request
    last_end_m: float | None = None
    # Per failing outcome, the monotonic start of its first and last request.
    failure_spans: dict[str, tuple[float, float]] = Field(default_factory=dict)
    # Per connection mode with a failure: its longest run of consecutive failed requests by due time.
    outages: dict[str, OutageRun] = Field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.outcomes.total


class PodState(_Model):
    """A pod as the timeline saw it at one instant."""

    pod: str
    m: float
    known: bool = False  # any pod event at or before the instant
    exists: bool = False  # known and not yet deleted
    phase: str | None = None
    ready: bool | None = None
    terminating: bool | None = None
    terminating_for_s: float | None = None  # since the deletionTimestamp was first seen
    node: str | None = None
    version: str | None = None
    # The pod in the target's EndpointSlices at that instant.
    in_endpoints: bool = False
    endpoint_ready: bool | None = None
    endpoint_serving: bool | None = None
    endpoint_terminating: bool | None = None
    # The whole endpoint set at that instant.
    endpoints_total: int = 0
    endpoints_ready: int = 0

    def describe(self) -> str:
        if not self.known:
            state = "not seen by the observers yet"
        elif not self.exists:
            state = "already deleted"
        else:
            bits = [self.phase or "phase unknown", "ready" if self.ready else "not ready"]
            if self.terminating:
                since = "" if self.terminating_for_s is None else f" for {self.terminating_for_s:.2f}s"
                bits.append(f"terminating{since}")
            state = ", ".join(bits)
        if self.in_endpoints:
            flags = [name for name, on in (("ready", self.endpoint_ready), ("serving", self.endpoint_serving),
                                           ("terminating", self.endpoint_terminating)) if on]
            ep = f"in endpoints ({', '.join(flags) or 'no flags'})"
        else:
            ep = "not in endpoints"
        return f"{state}; {ep}; {self.endpoints_ready}/{self.endpoints_total} endpoints ready"


class FailedRequest(_Model):
    """A failing request and where it most likely went."""

    id: str
    user: str
    conn: str
    m_start: float
    offset_s: float
    t_start: float
    m_end: float | None = None
    outcome: str  # a field name of OutcomeCounts
    status: int | None = None
    error: str | None = None
    detail: str | None = None
    req: str | None = None  # which of traffic.requests it was
    pod: str  # record.pod, else record.conn_pod, else "unknown"
    pod_source: Literal["pod", "conn_pod", "unknown"]
    pod_state: PodState
    # When the pod is unknown (a new connection that got no answer): the pods that were going away
    # at that instant (terminating, or deleted within the last few seconds), the likely culprits.
    going_pods: list[str] = Field(default_factory=list)
    # The diagnosis's mechanism for this request (harness.diagnosis.Mechanism's value).
    mechanism: str | None = None

    def describe(self) -> str:
        what = self.error or (f"HTTP {self.status}" if self.status is not None else "bad status")
        if self.detail:
            what = f"{what} ({self.detail})"
        via = {"pod": "answered by", "conn_pod": "connection last answered by", "unknown": "pod"}
        if self.pod_source == "unknown":
            going = ", ".join(self.going_pods) if self.going_pods else "none"
            return (f"+{self.offset_s:.3f}s {self.id} [{self.conn}] {what}; pod unknown (no answer); "
                    f"pods going away then: {going}; {self.pod_state.endpoints_ready}/"
                    f"{self.pod_state.endpoints_total} endpoints ready")
        return (f"+{self.offset_s:.3f}s {self.id} [{self.conn}] {what}; "
                f"{via[self.pod_source]} {self.pod}: {self.pod_state.describe()}")


class GateResult(_Model):
    name: str
    status: GateStatus
    reason: str
    numbers: dict[str, float | int | str | bool | None] = Field(default_factory=dict)


class Verdict(_Model):
    schema_version: Literal[1] = 1
    scenario: str
    run_id: str
    outcome: GateStatus
    expected: Expectation
    matches_expectation: bool
    gates: list[GateResult]
    counts: Counts
    latency: LatencyStats
    latency_during_disruption: LatencyStats
    disruption_windows: list[tuple[float, float]]
    first_failures: list[FailedRequest]
    harness_errors: list[str]
    origin_m: float | None  # monotonic instant that offsets count from
    bucket_s: float
    buckets: list[Bucket]
    facts: RunFacts
    config: GateConfig
    # Why the failed requests failed; None when nothing failed.
    diagnosis: Diagnosis | None = None

    @model_validator(mode="after")
    def _outcome_is_decided(self) -> Verdict:
        if self.outcome is GateStatus.SKIPPED:
            raise ValueError("a verdict's outcome cannot be SKIPPED")
        return self

    def gate(self, name: str) -> GateResult:
        for result in self.gates:
            if result.name == name:
                return result
        raise KeyError(name)

    @property
    def passed(self) -> bool:
        return self.outcome is GateStatus.PASS
