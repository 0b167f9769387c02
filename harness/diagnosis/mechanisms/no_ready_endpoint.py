"""Refused or unanswered while the Service had no ready endpoint at all: the rollout strategy or a
PodDisruptionBudget let every endpoint go at once."""

from __future__ import annotations

from collections.abc import Sequence

from harness.diagnosis.context import Context, Failure, Match
from harness.diagnosis.mechanisms._base import Advice
from harness.diagnosis.model import Mechanism, Recommendation


class NoReadyEndpointRule:
    mechanism = Mechanism.NO_READY_ENDPOINT
    title = "no ready endpoint: every pod of the Service was out at once"

    def decide(self, failure: Failure, ctx: Context) -> Match | None:
        if not failure.connection_error or failure.reused is True:
            return None
        state = ctx.endpoints.at(failure.sent_m)
        if state is None or any(ready for ready, _, _ in state.values()):
            return None
        pods = tuple(sorted(state))
        return Match(self.mechanism, pods, (f"at {ctx.at(failure.sent_m)} none of {len(pods)} endpoint(s) was ready",))

    def advise(self, matched: Sequence[tuple[Failure, Match]], ctx: Context) -> Advice:
        dark = 0.0
        changes = list(ctx.endpoints.changes())
        for (m, state), nxt in zip(changes, [*changes[1:], None], strict=True):
            if nxt is not None and not any(ready for ready, _, _ in state.values()):
                dark += nxt[0] - m
        return Advice(
            evidence=[f"the Service had no ready endpoint for {dark:.2f} s in all"],
            measurements={"no_ready_endpoint_s": round(dark, 3)},
            recommendations=[Recommendation(
                setting="strategy / PodDisruptionBudget",
                text=f"keep a ready endpoint at all times (none for {dark:.2f} s here): a rolling update with "
                     "maxUnavailable: 0 and maxSurge: 1, more than one replica, and a PodDisruptionBudget with "
                     "minAvailable: 1 for drains",
                overrides={"target.max_unavailable": 0, "target.max_surge": 1})],
        )


RULE = NoReadyEndpointRule()
