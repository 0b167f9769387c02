"""Requests in flight when the kubelet killed the container at the end of the grace period (exit
137, SIGKILL at deletion + grace): the grace period is shorter than preStop + drain + the longest
request, or the process does not end on SIGTERM at all."""

from __future__ import annotations

from collections.abc import Sequence

from harness.diagnosis.context import SEEN_LATE_S, Context, Failure, Match
from harness.diagnosis.lifecycle import PodLife
from harness.diagnosis.mechanisms._base import Advice, ceil_s, numbers_of
from harness.diagnosis.model import Mechanism, Recommendation

# Added to preStop + the longest request: the kubelet's own delay and the process's exit.
MARGIN_S = 2.0


def _cut(failure: Failure, life: PodLife) -> bool:
    kill = life.kill_due_m
    return (life.killed and kill is not None
            and failure.sent_m - SEEN_LATE_S <= kill <= failure.failed_m + SEEN_LATE_S)


class GraceKillRule:
    mechanism = Mechanism.KILLED_AT_GRACE_END
    title = "in flight when the container was killed at the end of its grace period"

    def decide(self, failure: Failure, ctx: Context) -> Match | None:
        if not failure.connection_error or failure.in_flight is False:
            return None
        own = ctx.life(failure.record.conn_pod, failure.sent_m) if failure.reused else None
        lives = ctx.cut_candidates(failure) if own is None else [own] if _cut(failure, own) else []
        if not lives:
            return None
        life = lives[0]
        kill = life.kill_due_m
        assert kill is not None and life.deleted_m is not None
        sigterm = "" if life.sigterm_m is None else f", SIGTERM at {ctx.at(life.sigterm_m)} ({life.sigterm_source})"
        text = (f"{life.name} deleted at {ctx.at(life.deleted_m)} with a {life.grace_s:g} s grace period{sigterm}: "
                f"SIGKILL due at {ctx.at(kill)}, its container ended with exit {life.exit_code}; this request was "
                f"sent {kill - failure.sent_m:.2f} s before the kill and broke at {ctx.at(failure.failed_m)}")
        return Match(self.mechanism, tuple(sorted(x.name for x in lives)), (text,),
                     (("age_at_kill_s", kill - failure.sent_m),))

    def advise(self, matched: Sequence[tuple[Failure, Match]], ctx: Context) -> Advice:
        pods = sorted({pod for _, match in matched for pod in match.pods})
        lives = [ctx.lives[p] for p in pods if p in ctx.lives]
        grace = max((life.grace_s or 0.0) for life in lives) if lives else 0.0
        pre_stops = [life.pre_stop_sleep_s for life in lives]
        pre_stop = max((p for p in pre_stops if p is not None), default=0.0)
        ages = numbers_of(matched, "age_at_kill_s")
        longest = max([ctx.longest_s, *ages])
        ran_s = [(life.kill_due_m or 0.0) - life.sigterm_m for life in lives if life.sigterm_m is not None]
        ran = min(ran_s) if ran_s else None
        # Still running after more time than its longest request needs: either it ignores SIGTERM or it
        # drains on purpose for longer than it was given. Its drain time is not in the evidence, only that
        # it exceeds `ran`; twice that is the next grace period worth checking.
        outlived = ran is not None and ran > longest + 1.0
        drain = 2 * ran if outlived and ran is not None else 0.0
        needed = max(ceil_s(pre_stop + drain + longest + MARGIN_S), ceil_s(grace + 1))
        advice = Advice(measurements={
            "grace_s": grace, "pre_stop_s": pre_stop, "longest_request_s": round(longest, 3),
            "requests_cut": len(matched), "sigterm_to_kill_s": round(ran, 3) if ran is not None else None,
            "recommended_grace_s": needed,
        })
        if outlived and ran is not None:
            advice.evidence.append(
                f"the process was still running {ran:.2f} s after SIGTERM although its longest request took "
                f"{longest:.2f} s: it does not end on SIGTERM, or drains for longer than the grace period allows")
            advice.recommendations.append(Recommendation(
                setting="SIGTERM handling",
                text="end the process once its in-flight requests are answered after SIGTERM (Go: "
                     "`srv.Shutdown(ctx)` and return), so the kubelet never has to kill it"))
            drain_text = (f" + drain (unknown: more than the {ran:.1f} s it had after SIGTERM; {drain:.1f} s is "
                          f"assumed here, twice that)")
        else:
            drain_text = " + drain"
        advice.recommendations.insert(0, Recommendation(
            setting="terminationGracePeriodSeconds",
            text=f"terminationGracePeriodSeconds >= preStop {pre_stop:g} s{drain_text} + longest request "
                 f"{longest:.1f} s (+{MARGIN_S:g} s margin): at least {needed} s here (it was {grace:g} s; SIGKILL "
                 f"cut {len(matched)} request(s) in flight); if the process ignores SIGTERM, no grace period helps",
            overrides={"target.termination_grace_period_seconds": needed}))
        return advice


RULE = GraceKillRule()
