"""Failures from a new pod soon after it was declared ready, before its first successful answer:
its readiness says ready before the service can serve."""

from __future__ import annotations

from collections.abc import Sequence

from harness.diagnosis.context import SEEN_LATE_S, STARTUP_WINDOW_S, Context, Failure, Match
from harness.diagnosis.mechanisms._base import Advice, ceil_s, numbers_of
from harness.diagnosis.model import Mechanism, Recommendation


class ReadyEarlyRule:
    mechanism = Mechanism.READY_BEFORE_SERVING
    title = "a new pod was declared ready before it could serve"

    def decide(self, failure: Failure, ctx: Context) -> Match | None:
        sent, rec = failure.sent_m, failure.record
        if failure.answered:
            life = ctx.life(rec.pod, sent)
            if life is None or rec.status is None or rec.status < 500 or not ctx.is_new(life):
                return None
            ready = life.endpoint_ready_m if life.endpoint_ready_m is not None else life.ready_m
            if ready is None or ready > sent + SEEN_LATE_S or sent - ready > STARTUP_WINDOW_S \
                    or life.terminating_at(sent) or (life.first_ok_m is not None and life.first_ok_m <= sent):
                return None
            lives = [life]
        elif failure.connection_error and failure.reused is not True:
            lives = ctx.starting_candidates(sent)
            if not lives or ctx.going_candidates(sent):
                return None
        else:
            return None
        life = lives[0]
        ready = life.endpoint_ready_m if life.endpoint_ready_m is not None else life.ready_m
        assert ready is not None
        first_ok = "it had not answered successfully yet" if life.first_ok_m is None \
            else f"its first success came {life.first_ok_m - ready:.2f} s after it was ready"
        text = (f"{failure.what} at {ctx.at(sent)} from new pod {life.name}, ready since {ctx.at(ready)} "
                f"({sent - ready:.2f} s): {first_ok}")
        return Match(self.mechanism, tuple(sorted(x.name for x in lives)), (text,), (("after_ready_s", sent - ready),))

    def advise(self, matched: Sequence[tuple[Failure, Match]], ctx: Context) -> Advice:
        pods = sorted({pod for _, match in matched for pod in match.pods})
        lives = [ctx.lives[p] for p in pods if p in ctx.lives]
        gaps = [life.first_ok_m - (life.endpoint_ready_m or life.ready_m or life.first_ok_m) for life in lives
                if life.first_ok_m is not None]
        after = numbers_of(matched, "after_ready_s")
        gap = max([*gaps, *after], default=0.0)
        probe = next((life.readiness for life in lives if life.readiness), None)
        probe_text = f" (now: {probe.get('probe')}, every {probe.get('period_s')} s)" if probe else ""
        return Advice(
            measurements={"ready_to_first_success_s": round(gap, 3), "pods": len(pods)},
            recommendations=[Recommendation(
                setting="readinessProbe",
                text=f"make the readiness probe{probe_text} succeed only once the service can answer real requests: "
                     f"here pods failed for up to {gap:.2f} s after they were ready; or hold them back with "
                     f"initialDelaySeconds / minReadySeconds >= {ceil_s(gap)} s")],
        )


RULE = ReadyEarlyRule()
