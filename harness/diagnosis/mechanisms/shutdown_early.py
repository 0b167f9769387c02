"""The process stopped accepting (or answered 5xx) while its pod was still an endpoint, or before the
endpoint's removal had reached every proxy: the shutdown began before the traffic had moved away.

A new connection that got no answer names no pod; it is put down to the pods that were going away
then (deleted, and not out of the endpoints for longer than the proxies take to follow) and had
already had their SIGTERM. When a new pod that had not yet served was an endpoint too, the evidence
points two ways and the rule does not decide."""

from __future__ import annotations

from collections.abc import Sequence

from harness.diagnosis.context import SEEN_LATE_S, Context, Failure, Match
from harness.diagnosis.lifecycle import PodLife
from harness.diagnosis.mechanisms._base import Advice, ceil_s, numbers_of
from harness.diagnosis.model import Mechanism, Recommendation

# Added to the measured delay: the proxies' lag varies from one rollout to the next.
MARGIN_S = 1.0


def _stopping(life: PodLife, m: float) -> bool:
    """Whether the process may have stopped accepting by ``m``: SIGTERM sent (or a hook of unknown
    length, so unknown), or the process ended."""
    ended = life.ended_after()
    if ended is not None and ended <= m + SEEN_LATE_S:
        return True
    if life.sigterm_m is None:
        return True  # a preStop hook of unknown length: stopping cannot be ruled out
    return life.sigterm_m <= m + SEEN_LATE_S


class ShutdownEarlyRule:
    mechanism = Mechanism.SHUTDOWN_BEFORE_ENDPOINT_REMOVAL
    title = "the process stopped accepting while its pod was still an endpoint (before the removal reached the proxies)"

    def decide(self, failure: Failure, ctx: Context) -> Match | None:
        sent = failure.sent_m
        rec = failure.record
        if failure.answered:
            life = ctx.life(rec.pod, sent)
            if rec.status is None or not 500 <= rec.status < 600 or life is None \
                    or not life.terminating_at(sent, SEEN_LATE_S):
                return None
            lives = [life]
        elif failure.connection_error and failure.reused is not True:
            lives = [life for life in ctx.going_candidates(sent) if _stopping(life, sent)]
            if not lives or ctx.starting_candidates(sent):
                return None
        else:
            return None
        texts, numbers = [], []
        for life in lives:
            assert life.deleted_m is not None
            state = (ctx.endpoints.at(sent) or {}).get(life.name)
            if state is not None:
                where = f"still an endpoint (ready={state[0]}, serving={state[1]}, terminating={state[2]})"
            elif life.endpoint_removed_m is not None:
                where = f"out of the endpoints {sent - life.endpoint_removed_m:.2f} s before, not yet at every proxy"
            else:
                where = "endpoint state not seen"
            sig = ctx.since(sent, life.sigterm_m, f"SIGTERM ({life.sigterm_source})") if life.sigterm_m is not None \
                else "SIGTERM not seen"
            texts.append(f"{failure.what} on a new connection at {ctx.at(sent)}: {life.name} "
                         f"{ctx.since(sent, life.deleted_m, 'deletion')}, {sig}, {where}")
        if len(lives) == 1:
            numbers.append(("after_deletion_s", sent - (lives[0].deleted_m or sent)))
        return Match(self.mechanism, tuple(sorted(life.name for life in lives)), tuple(texts[:1]), tuple(numbers))

    def advise(self, matched: Sequence[tuple[Failure, Match]], ctx: Context) -> Advice:
        pods = sorted({pod for _, match in matched for pod in match.pods})
        lives = [ctx.lives[p] for p in pods if p in ctx.lives]
        removal = [life.endpoint_removed_m - life.deleted_m for life in lives
                   if life.endpoint_removed_m is not None and life.deleted_m is not None]
        reached = numbers_of(matched, "after_deletion_s")
        reached += [life.last_answer_m - life.deleted_m for life in lives
                    if life.last_answer_m is not None and life.deleted_m is not None
                    and life.last_answer_m >= life.deleted_m]
        removal_s = max(removal, default=0.0)
        reach_s = max(reached, default=0.0)
        pre_stop = max((p for p in (life.pre_stop_sleep_s for life in lives) if p is not None), default=0.0)
        grace = max((life.grace_s or 0.0) for life in lives) if lives else 0.0
        needed = ceil_s(max(removal_s, reach_s) + MARGIN_S)
        overrides: dict[str, int | str] = {"target.pre_stop_seconds": max(needed, ceil_s(pre_stop + 1))}
        grown = int(overrides["target.pre_stop_seconds"]) - pre_stop
        if grace and grown > 0:
            overrides["target.termination_grace_period_seconds"] = ceil_s(grace + grown)
        return Advice(
            evidence=[f"endpoint removal took up to {removal_s:.2f} s after deletion; the last request reached a "
                      f"going pod {reach_s:.2f} s after its deletion"],
            measurements={"endpoint_removal_s": round(removal_s, 3), "last_reach_after_deletion_s": round(reach_s, 3),
                          "pre_stop_s": pre_stop, "recommended_pre_stop_s": needed},
            recommendations=[Recommendation(
                setting="preStop",
                text=f"set preStop >= {needed} s (endpoint removal took {removal_s:.2f} s here, the last request "
                     f"reached the pod {reach_s:.2f} s after deletion; preStop was {pre_stop:g} s), or keep serving "
                     f"that long after SIGTERM before closing the listener; keep terminationGracePeriodSeconds above "
                     f"preStop + drain + the longest request",
                overrides=overrides)],
        )


RULE = ShutdownEarlyRule()
