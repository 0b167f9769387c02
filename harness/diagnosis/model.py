"""The diagnosis's data: for a failed run, which mechanism lost each failed request, the evidence for
it, and the setting that removes it, with numbers measured in the run. Everything serialises into
``result.json`` (``Verdict.diagnosis``) and back, so reports render it without a cluster."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Diagnosis",
    "Finding",
    "Mechanism",
    "PodTimeline",
    "Recommendation",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Mechanism(StrEnum):
    """How a request was lost. Each value is decided by one rule in ``harness.diagnosis.rules``."""

    # A new connection refused, reset or unanswered by a pod that was terminating while it was still
    # an endpoint, or before its removal had reached every proxy.
    SHUTDOWN_BEFORE_ENDPOINT_REMOVAL = "shutdown-before-endpoint-removal"
    # A kept-alive connection closed or reset by a terminating pod.
    KEEPALIVE_CLOSED_AT_SHUTDOWN = "keepalive-closed-at-shutdown"
    # In flight when the kubelet killed the container at the end of the grace period.
    KILLED_AT_GRACE_END = "killed-at-grace-end"
    # Failed by a new pod soon after it was declared ready.
    READY_BEFORE_SERVING = "ready-before-serving"
    # Refused while no endpoint of the Service was ready.
    NO_READY_ENDPOINT = "no-ready-endpoint"
    # A 5xx from a pod that was neither terminating nor new.
    APPLICATION_ERROR = "application-error"
    # The harness's own side failed (the traffic machine, not the service).
    TEST_BED = "test-bed"
    # The evidence does not decide: stated as such, with what was seen.
    UNEXPLAINED = "unexplained"


class Recommendation(_Model):
    """One change, in words with this run's numbers, and the scenario overrides that make it (empty
    when no override of the scenario can, e.g. a change to the service's code)."""

    setting: str  # e.g. "preStop", "terminationGracePeriodSeconds", "Connection: close at shutdown"
    text: str
    overrides: dict[str, int | str] = Field(default_factory=dict)  # e.g. {"target.pre_stop_seconds": 3}


class Finding(_Model):
    """One mechanism in this run: how many failed requests it lost, where, and what to change."""

    mechanism: Mechanism
    title: str  # one line: what happened
    count: int = Field(ge=1)
    # Of ``count``: failed on a reused keep-alive connection before any byte of the answer arrived,
    # which a standard retrying client (Go net/http, urllib3 for idempotent methods) resends.
    retry_hidden: int = Field(default=0, ge=0)
    pods: list[str] = Field(default_factory=list)
    by_conn: dict[str, int] = Field(default_factory=dict)
    by_error: dict[str, int] = Field(default_factory=dict)  # "reset", "refused", "HTTP 503", ...
    first_offset_s: float | None = None  # from the origin of the run's offsets
    last_offset_s: float | None = None
    evidence: list[str] = Field(default_factory=list)  # sentences, times relative to deletion/SIGTERM
    measurements: dict[str, float | int | str | None] = Field(default_factory=dict)
    recommendations: list[Recommendation] = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list)  # a few request ids


class PodTimeline(_Model):
    """A pod's way out (or in) as the evidence shows it, in seconds from the run's origin."""

    pod: str
    node: str | None = None
    new: bool = False  # created during the run
    ready_s: float | None = None
    deleted_s: float | None = None
    grace_s: float | None = None
    pre_stop_s: float | None = None  # the preStop sleep; None when the pod has no sleep preStop
    killing_s: float | None = None  # the kubelet's "Killing" event
    sigterm_s: float | None = None
    sigterm_source: str | None = None  # "log", "preStop sleep", "no preStop"
    endpoint_not_ready_s: float | None = None
    endpoint_removed_s: float | None = None
    exit_code: int | None = None
    exit_reason: str | None = None
    exited_s: float | None = None  # when the container was seen terminated (or gone)
    last_answer_s: float | None = None
    failures: int = 0


class Diagnosis(_Model):
    """Why the failed requests failed. ``failed`` counts every failed request; the findings' counts
    add up to ``diagnosed``; ``failed - diagnosed`` were past the cap and are not diagnosed."""

    failed: int = Field(ge=0)
    diagnosed: int = Field(ge=0)
    explained: int = Field(ge=0)  # diagnosed with a mechanism other than unexplained
    retry_hidden: int = Field(ge=0)
    findings: list[Finding] = Field(default_factory=list)  # most requests first, unexplained last
    pods: list[PodTimeline] = Field(default_factory=list)
    attribution: str = ""  # how failed requests were tied to pods
    notes: list[str] = Field(default_factory=list)  # evidence that was missing or partial

    @property
    def retry_visible(self) -> int:
        """Failures a retrying client would still have seen."""
        return self.diagnosed - self.retry_hidden

    def headline(self) -> str:
        """One line for a JUnit message or a terminal: the top mechanisms and their counts."""
        parts = [f"{f.mechanism.value} x{f.count}" for f in self.findings[:3]]
        more = len(self.findings) - 3
        return "; ".join(parts) + (f"; +{more} more" if more > 0 else "")
