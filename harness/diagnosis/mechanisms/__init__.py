"""The mechanism rules, in the order they are tried: one module each. A new mechanism is one new
module here plus its entry in ``RULES`` and its tests."""

from __future__ import annotations

from harness.diagnosis.mechanisms import (
    app_error,
    grace_kill,
    keepalive_closed,
    no_ready_endpoint,
    ready_early,
    shutdown_early,
    test_bed,
)
from harness.diagnosis.mechanisms._base import Advice, Rule

__all__ = ["RULES", "Advice", "Rule"]

# The harness's own faults first (they say nothing about the service), then the ones whose evidence
# is most specific: a kill at grace end names its instant, a kept-alive connection its pod.
RULES: tuple[Rule, ...] = (
    test_bed.RULE,
    grace_kill.RULE,
    keepalive_closed.RULE,
    no_ready_endpoint.RULE,
    shutdown_early.RULE,
    ready_early.RULE,
    app_error.RULE,
)
