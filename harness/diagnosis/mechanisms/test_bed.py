"""The harness's own side failed: the traffic generator's in-flight cap was full, or the traffic
machine ran out of sockets, ports or buffers. The service is not to blame for these."""

from __future__ import annotations

import re
from collections.abc import Sequence

from harness.diagnosis.context import Context, Failure, Match
from harness.diagnosis.mechanisms._base import Advice
from harness.diagnosis.model import Mechanism, Recommendation
from harness.evidence import ErrorKind

# Errors of the client's own machine, as the OS reports them.
_CLIENT_LIMITS = re.compile(r"too many open files|emfile|cannot assign requested address|eaddrnotavail|"
                            r"enobufs|no buffer space", re.I)


class TestBedRule:
    mechanism = Mechanism.TEST_BED
    title = "the test bed's own fault: the traffic machine, not the service"

    def decide(self, failure: Failure, ctx: Context) -> Match | None:
        rec = failure.record
        if rec.error is ErrorKind.NOT_SENT:
            return Match(self.mechanism, (), ("due on the schedule but never sent: the generator's cap on "
                                              "requests in flight was full",))
        if rec.detail and _CLIENT_LIMITS.search(rec.detail):
            return Match(self.mechanism, (), (f"the client's own machine refused: {rec.detail[:120]}",))
        return None

    def advise(self, matched: Sequence[tuple[Failure, Match]], ctx: Context) -> Advice:
        capped = sum(1 for f, _ in matched if f.record.error is ErrorKind.NOT_SENT)
        advice = Advice(measurements={"not_sent": capped, "client_limits": len(matched) - capped})
        if capped:
            advice.evidence.append(f"{capped} request(s) were due but never sent: the requests ahead of them "
                                   "were still waiting on the service")
            advice.recommendations.append(Recommendation(
                setting="traffic.max_in_flight",
                text="raise traffic.max_in_flight (or lower traffic.rate or traffic.timeout_s) so the generator "
                     "keeps sending while answers are slow; the requests that were in flight show why they were slow"))
        if len(matched) > capped:
            advice.recommendations.append(Recommendation(
                setting="traffic machine limits",
                text="raise the traffic machine's open-file limit (ulimit -n) or its ephemeral port range "
                     "(net.ipv4.ip_local_port_range), or spread the traffic over more processes"))
        return advice


RULE = TestBedRule()
