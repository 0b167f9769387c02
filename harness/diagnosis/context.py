"""What every mechanism rule reads: the pods' lives, the endpoint history, and the facts of one
failed request (where it broke, on which connection, which pods it can have reached).

The windows below are the only tolerances the rules use; each is documented with why."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.diagnosis.lifecycle import EndpointHistory, PodLife, life_at
from harness.diagnosis.model import Mechanism
from harness.evidence import ErrorKind, RequestRecord

__all__ = [
    "PROPAGATION_S",
    "SEEN_LATE_S",
    "STARTUP_WINDOW_S",
    "Context",
    "Failure",
    "Match",
]

# The watches see a deletion, an exit or a slice change shortly after it happened; a request may
# fail that much before the evidence of its cause arrives.
SEEN_LATE_S = 0.5
# How long after a pod left every EndpointSlice the proxies may still send new connections to it
# (kube-proxy's sync of the rules on each node). A connection failure later than this is not put
# down to that pod.
PROPAGATION_S = 2.0
# How long after a new pod was declared ready its failures count as "ready before it could serve",
# when it has not answered successfully yet.
STARTUP_WINDOW_S = 30.0

_CONNECTION_ERRORS = frozenset({ErrorKind.REFUSED, ErrorKind.RESET, ErrorKind.TIMEOUT, ErrorKind.OTHER,
                                ErrorKind.INCOMPLETE})


@dataclass(frozen=True)
class Failure:
    """One failed request, as the rules ask about it."""

    record: RequestRecord

    @property
    def sent_m(self) -> float:
        return self.record.m_start

    @property
    def failed_m(self) -> float:
        """When it failed: the end of the attempt, else its start."""
        return self.record.m_end if self.record.m_end is not None else self.record.m_start

    @property
    def answered(self) -> bool:
        """It got an HTTP answer (a 5xx, a 4xx, a bad status)."""
        return self.record.error is None and (self.record.status is not None or self.record.status_text is not None)

    @property
    def connection_error(self) -> bool:
        return self.record.error in _CONNECTION_ERRORS

    @property
    def reused(self) -> bool | None:
        """On a kept-alive connection that had answered before; None when that is not recorded."""
        served = self.record.conn_served
        if served is not None:
            return served > 0
        return True if self.record.conn_pod is not None else None

    @property
    def in_flight(self) -> bool | None:
        """The request was sent and was waiting for (or reading) its answer when it broke."""
        stage = self.record.stage
        if stage is not None:
            return stage in ("wait", "read")
        if self.record.error is ErrorKind.REFUSED:
            return False
        return None

    @property
    def no_answer_byte(self) -> bool:
        """It broke before any byte of the answer arrived (a retrying client may resend it)."""
        return self.record.stage in ("send", "wait")

    @property
    def what(self) -> str:
        rec = self.record
        if rec.error is not None:
            return rec.error.value
        if rec.status is not None:
            return f"HTTP {rec.status}"
        return "bad status"


@dataclass(frozen=True)
class Match:
    """A rule's finding for one request: the pods it blames and the sentences that show it."""

    mechanism: Mechanism
    pods: tuple[str, ...]
    evidence: tuple[str, ...] = ()
    # Per-request numbers the rule's advice aggregates (e.g. seconds after deletion).
    numbers: tuple[tuple[str, float], ...] = ()


@dataclass
class Context:
    lives: dict[str, PodLife]
    endpoints: EndpointHistory
    origin_m: float
    old_pods: frozenset[str] = field(default_factory=frozenset)
    # The longest answered request of the run, in seconds.
    longest_s: float = 0.0
    # Each pod name's pods in the order they held it (more than one: a StatefulSet's pod came back).
    held: dict[str, list[PodLife]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        for life in self.lives.values():
            self.held.setdefault(life.pod, []).append(life)

    @property
    def answers_named(self) -> bool:
        """Some answer of the run named its pod (X-Pod): the pods' answer times are evidence."""
        return any(life.answers for life in self.lives.values())

    def at(self, m: float | None) -> str:
        """An instant as an offset from the run's origin."""
        return "?" if m is None else f"+{m - self.origin_m:.2f}s"

    def since(self, m: float, ref: float | None, what: str) -> str:
        if ref is None:
            return f"{what} not seen"
        delta = m - ref
        return f"{abs(delta):.2f} s {'after' if delta >= 0 else 'before'} {what}"

    def life(self, pod: str | None, at: float) -> PodLife | None:
        """The pod a request names (X-Pod, or its connection's) as it was at ``at``: of the pods that
        held that name in turn, the one that held it then."""
        return None if pod is None else life_at(self.held.get(pod, ()), at)

    def is_new(self, life: PodLife) -> bool:
        return not life.listed and life.name not in self.old_pods

    def going_candidates(self, m: float) -> list[PodLife]:
        """Pods a new connection made at ``m`` may have reached while they were going away: deleted by
        then, and not yet out of the endpoints for longer than the proxies take to follow."""
        found: list[PodLife] = []
        for life in self.lives.values():
            if life.deleted_m is None or life.deleted_m > m + SEEN_LATE_S:
                continue
            removed = life.endpoint_removed_m
            if removed is not None and m > removed + PROPAGATION_S:
                continue
            if removed is None and life.gone_m is not None and m > life.gone_m + PROPAGATION_S:
                continue
            found.append(life)
        return found

    def starting_candidates(self, m: float) -> list[PodLife]:
        """New pods declared ready by ``m`` that had not yet answered successfully, and show they could
        not: they answered with failures first, or their first success came later than the proxies
        take to send them traffic (or never)."""
        if not self.answers_named:
            # Which pod answered is unknown (the server names none): that a new pod was not serving
            # yet has no evidence either way, and is no candidate.
            return []
        found: list[PodLife] = []
        for life in self.lives.values():
            ready = life.endpoint_ready_m if life.endpoint_ready_m is not None else life.ready_m
            if not self.is_new(life) or ready is None or ready > m + SEEN_LATE_S:
                continue
            if life.deleted_m is not None and life.deleted_m <= m:
                continue
            if m - ready > STARTUP_WINDOW_S or (life.first_ok_m is not None and life.first_ok_m <= m):
                continue
            failed_first = life.first_answer_m is not None and (life.first_ok_m is None
                                                                or life.first_answer_m < life.first_ok_m)
            late = life.first_ok_m is None or life.first_ok_m - ready > PROPAGATION_S
            if failed_first or late:
                found.append(life)
        return found

    def cut_candidates(self, failure: Failure) -> list[PodLife]:
        """Pods whose process ended while this request was in flight."""
        found: list[PodLife] = []
        for life in self.lives.values():
            ended = life.kill_due_m if life.killed else None
            if ended is None:
                continue
            if failure.sent_m - SEEN_LATE_S <= ended <= failure.failed_m + SEEN_LATE_S:
                found.append(life)
        return found
