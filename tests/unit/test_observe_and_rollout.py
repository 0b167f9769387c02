"""Rollout completion follows kubectl's rules (the observers are tested in test_observe.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from harness.workload import rollout_state


def _deployment(*, generation: int = 2, observed: int = 2, replicas: int = 3, updated: int = 3, total: int = 3,
                available: int = 3, reason: str | None = None) -> SimpleNamespace:
    conditions = [SimpleNamespace(type="Progressing", reason=reason)] if reason else []
    return SimpleNamespace(
        metadata=SimpleNamespace(name="web", generation=generation),
        spec=SimpleNamespace(replicas=replicas),
        status=SimpleNamespace(observed_generation=observed, updated_replicas=updated, replicas=total,
                               available_replicas=available, conditions=conditions),
    )


@pytest.mark.parametrize(("dep", "done", "failed", "words"), [
    (_deployment(), True, False, "successfully rolled out"),
    (_deployment(observed=1), False, False, "observed"),
    (_deployment(updated=1), False, False, "1 of 3 new replicas"),
    (_deployment(total=4), False, False, "old replicas are pending termination"),
    (_deployment(available=2), False, False, "2 of 3 updated replicas are available"),
    (_deployment(reason="ProgressDeadlineExceeded", updated=1), False, True, "progress deadline"),
])
def test_rollout_state_follows_kubectl(dep: SimpleNamespace, done: bool, failed: bool, words: str) -> None:
    state = rollout_state(dep)
    assert (state.done, state.failed) == (done, failed)
    assert words in state.message
