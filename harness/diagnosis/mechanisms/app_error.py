"""An error of the application itself during the rollout: a 5xx (or a 4xx the scenario does not
allow) from a pod that was neither going away nor new, or a container that crashed while it was not
being stopped."""

from __future__ import annotations

from collections.abc import Sequence

from harness.diagnosis.context import SEEN_LATE_S, Context, Failure, Match
from harness.diagnosis.mechanisms._base import Advice
from harness.diagnosis.model import Mechanism, Recommendation

# A crash is put down to a broken connection when the restart was seen within this long after it.
RESTART_SEEN_S = 5.0


class AppErrorRule:
    mechanism = Mechanism.APPLICATION_ERROR
    title = "the application failed while it was not being stopped"

    def decide(self, failure: Failure, ctx: Context) -> Match | None:
        sent, rec = failure.sent_m, failure.record
        if failure.answered:
            if rec.pod is not None:
                life = ctx.life(rec.pod, failure.sent_m)
                if life is None or life.terminating_at(sent, SEEN_LATE_S):
                    return None
                return Match(self.mechanism, (life.name,),
                             (f"{failure.what} at {ctx.at(sent)} from {life.name}, which was not terminating",))
            if ctx.going_candidates(sent) or ctx.starting_candidates(sent):
                return None
            return Match(self.mechanism, (), (f"{failure.what} at {ctx.at(sent)} (no pod named in the answer) while "
                                              "no pod was going away or starting",))
        if failure.connection_error and failure.reused is True:
            life = ctx.life(rec.conn_pod, failure.sent_m)
            if life is None or life.terminating_at(failure.failed_m, SEEN_LATE_S):
                return None
            crash = next((r for r in life.restarts if failure.sent_m - SEEN_LATE_S <= r[0]
                          <= failure.failed_m + RESTART_SEEN_S), None)
            if crash is None:
                return None
            return Match(self.mechanism, (life.name,),
                         (f"{failure.what} at {ctx.at(failure.failed_m)}: the container of {life.name} restarted "
                          f"(exit {crash[1]}, {crash[2] or 'no reason'}) while it was not being stopped",))
        return None

    def advise(self, matched: Sequence[tuple[Failure, Match]], ctx: Context) -> Advice:
        statuses: dict[str, int] = {}
        for failure, _ in matched:
            statuses[failure.what] = statuses.get(failure.what, 0) + 1
        listed = ", ".join(f"{what} x{n}" for what, n in sorted(statuses.items()))
        return Advice(
            measurements={"answers": listed},
            recommendations=[Recommendation(
                setting="the application",
                text=f"the service itself failed ({listed}) while not being stopped: read its log lines at those "
                     "times (pod-logs.jsonl in the run directory) and fix the error, or allow it in the scenario's "
                     "gates if it is expected")],
        )


RULE = AppErrorRule()
