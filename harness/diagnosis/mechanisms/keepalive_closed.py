"""A connection closed or reset by a terminating pod: a kept-alive connection the process closed
without telling the client first (``Connection: close``), or a request in flight that the process cut
when it exited or closed its connections without a graceful shutdown.

A kept-alive connection names its pod (the one that answered the previous request on it) when the
server says who it is (X-Pod). When it does not, the connection is tied to a pod by timing alone, and
only when exactly one pod fits: it had been serving, had begun to stop (its SIGTERM, or its deletion
plus its preStop sleep) by the moment the connection broke, and its process had not ended before.
A request on a connection opened for it is tied to a pod only when exactly the evidence allows: the
pod was an endpoint when the request was sent, got its SIGTERM after that, and its process ended
around the moment the request broke."""

from __future__ import annotations

from collections.abc import Sequence

from harness.diagnosis.context import PROPAGATION_S, SEEN_LATE_S, Context, Failure, Match
from harness.diagnosis.lifecycle import PodLife
from harness.diagnosis.mechanisms._base import Advice, numbers_of
from harness.diagnosis.model import Mechanism, Recommendation

# A process that is gone within this long of SIGTERM did not drain anything.
ABRUPT_EXIT_S = 1.0


def _cut_by_shutdown(failure: Failure, ctx: Context) -> list[PodLife]:
    sent, broke = failure.sent_m, failure.failed_m
    endpoints = ctx.endpoints.at(sent) or {}
    found: list[PodLife] = []
    for life in ctx.lives.values():
        if life.name not in endpoints or not life.terminating_at(broke, SEEN_LATE_S):
            continue
        stop = life.sigterm_m if life.sigterm_m is not None else life.deleted_m
        if stop is None or stop <= sent:
            continue  # sent after the stop began: the shutdown-before-endpoint-removal rule's case
        ended_after, ended_by = life.ended_after(), life.ended_by()
        if ended_by is None or ended_by < broke - SEEN_LATE_S:
            continue
        if ended_after is not None and ended_after > broke + 1.0:  # finishedAt is whole seconds
            continue
        found.append(life)
    return found


def _stop_began(life: PodLife) -> float | None:
    """When the process was asked to stop: its SIGTERM, else deletion plus a known preStop sleep."""
    if life.sigterm_m is not None:
        return life.sigterm_m
    sleep = life.pre_stop_sleep_s
    return None if life.deleted_m is None or sleep is None else life.deleted_m + sleep


def _stopping_when_broken(failure: Failure, ctx: Context) -> list[PodLife]:
    """The pods a kept-alive connection of unknown pod can have been closed by: serving before the
    request, stopping by the time it broke, not yet ended then."""
    broke = failure.failed_m
    found: list[PodLife] = []
    for life in ctx.lives.values():
        served = life.endpoint_ready_m if life.endpoint_ready_m is not None else life.ready_m
        if not life.listed and (served is None or served > failure.sent_m):
            continue
        stop = _stop_began(life)
        if stop is None or stop > broke + SEEN_LATE_S:
            continue
        ended_by = life.ended_by()
        if ended_by is not None and ended_by < broke - SEEN_LATE_S:
            continue
        found.append(life)
    return found


class KeepAliveClosedRule:
    mechanism = Mechanism.KEEPALIVE_CLOSED_AT_SHUTDOWN
    title = "connections closed or reset by a terminating pod (kept-alive, or with a request in flight)"

    def decide(self, failure: Failure, ctx: Context) -> Match | None:
        if not failure.connection_error:
            return None
        timed = False
        if failure.reused is True and failure.record.conn_pod is None:
            lives = _stopping_when_broken(failure, ctx)
            if len(lives) != 1:
                return None
            life, timed = lives[0], True
        elif failure.reused is True:
            named = ctx.life(failure.record.conn_pod, failure.sent_m)
            if named is None or not named.terminating_at(failure.failed_m, SEEN_LATE_S):
                return None
            life = named
        else:
            if failure.in_flight is False:
                return None
            lives = _cut_by_shutdown(failure, ctx)
            if len(lives) != 1:
                return None
            life = lives[0]
        assert life.deleted_m is not None
        sigterm = life.sigterm_m
        broke = failure.failed_m
        rel = ctx.since(broke, sigterm, f"SIGTERM ({life.sigterm_source})")
        exit_text = f"; its container exited with code {life.exit_code}" if life.exit_code is not None else ""
        if timed:
            who = f"a kept-alive connection to {life.name} (no pod named: by timing, the only pod stopping then)"
        elif failure.reused:
            who = f"the connection last answered by {life.name}"
        else:
            who = f"a request in flight (sent before SIGTERM) to {life.name}"
        text = (f"{who}, deleted at {ctx.at(life.deleted_m)}, broke "
                f"({failure.what}) at {ctx.at(broke)}: {ctx.since(broke, life.deleted_m, 'deletion')}, "
                f"{rel}{exit_text}")
        numbers = [("after_deletion_s", broke - life.deleted_m)]
        if sigterm is not None:
            numbers.append(("after_sigterm_s", broke - sigterm))
        return Match(self.mechanism, (life.name,), (text,), tuple(numbers))

    def advise(self, matched: Sequence[tuple[Failure, Match]], ctx: Context) -> Advice:
        pods = sorted({pod for _, match in matched for pod in match.pods})
        lives = [ctx.lives[p] for p in pods if p in ctx.lives]
        after = numbers_of(matched, "after_sigterm_s")
        exits = sorted({life.exit_code for life in lives if life.exit_code is not None})
        # A quick exit is a fault only when SIGTERM came before the endpoint removal could reach the
        # proxies: after a preStop that covered it, a server with nothing in flight may well exit at once.
        quick = [life for life in lives if life.sigterm_m is not None and life.ended_by() is not None
                 and (life.ended_by() or 0.0) - life.sigterm_m < ABRUPT_EXIT_S
                 and (life.deleted_m is None or life.sigterm_m - life.deleted_m < PROPAGATION_S)]
        advice = Advice(measurements={
            "connections_broken": len(matched), "pods": len(pods),
            "after_sigterm_s_max": round(max(after), 3) if after else None,
            "exit_codes": ", ".join(str(c) for c in exits) or None,
        })
        advice.recommendations.append(Recommendation(
            setting="Connection: close at shutdown",
            text="at shutdown, move clients off their connections before closing any: from SIGTERM on, keep "
                 "serving for a few seconds and answer every request with `Connection: close`, so each client "
                 "leaves its connection after an answer; only then stop (Go: a handler setting the header, then "
                 "`srv.Shutdown(ctx)`, which closes the connections nobody used meanwhile). Closing an idle "
                 "kept-alive connection at once (`Shutdown` or `SetKeepAlivesEnabled(false)` on SIGTERM) races "
                 "with a request the client is sending on it; a client that retries such a request (RFC 9112 "
                 "section 9.3.1) hides it"))
        if quick or any(code not in (0,) for code in exits):
            names = ", ".join(life.name for life in quick) or ", ".join(pods)
            advice.evidence.append(f"{names}: exited with code {', '.join(map(str, exits)) or '?'}"
                                   + (f", within {ABRUPT_EXIT_S:g} s of SIGTERM" if quick else ""))
            advice.recommendations.append(Recommendation(
                setting="SIGTERM handling",
                text="handle SIGTERM: keep serving while the endpoint removal propagates, then stop accepting and "
                     "let in-flight requests finish before exiting (Go: `http.Server.Shutdown`)"))
        return advice


RULE = KeepAliveClosedRule()
