"""Observers re-list after an expired watch; rollout completion follows kubectl's rules."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from harness import observe
from harness.evidence import TimelineKind, read_timeline
from harness.workload import rollout_state


def _pod(name: str, rv: str, *, ready: bool = True, deleting: bool = False) -> SimpleNamespace:
    return SimpleNamespace(
        metadata=SimpleNamespace(name=name, resource_version=rv, labels={"app.kubernetes.io/version": "1"},
                                 deletion_timestamp=datetime(2026, 1, 1, tzinfo=UTC) if deleting else None),
        status=SimpleNamespace(phase="Running", pod_ip="10.0.0.1", container_statuses=[],
                               conditions=[SimpleNamespace(type="Ready", status="True" if ready else "False")]),
        spec=SimpleNamespace(node_name="n1"),
    )


class FakeWatch:
    """First stream: one MODIFIED event, then 410 Gone. Later streams: nothing."""

    calls = 0

    def stream(self, *_: Any, **__: Any) -> Iterator[dict[str, Any]]:
        FakeWatch.calls += 1
        if FakeWatch.calls == 1:
            yield {"type": "MODIFIED", "object": _pod("a", "2", deleting=True)}
            raise ApiException(status=410, reason="Gone")
        time.sleep(0.05)
        return

    def stop(self) -> None:
        pass


def test_expired_watch_is_closed_by_a_relist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(observe.watch, "Watch", FakeWatch)
    lists = [
        [_pod("a", "1"), _pod("b", "1")],  # initial list
        [_pod("b", "3"), _pod("c", "3")],  # after the 410: a is gone, c is new
    ]

    def list_pods(namespace: str, **_: Any) -> SimpleNamespace:
        items = lists.pop(0) if lists else [_pod("b", "3"), _pod("c", "3")]
        return SimpleNamespace(items=items, metadata=SimpleNamespace(resource_version="3"))

    writer = observe.TimelineWriter(tmp_path / "timeline.jsonl")
    writer.start()
    stop = threading.Event()
    thread = observe._Observer("pods", TimelineKind.POD, list_pods, "ns", observe.pod_data, writer, stop)
    thread.start()
    deadline = time.monotonic() + 5
    while thread.relists < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    thread.join(5)
    writer.close()
    events = read_timeline(tmp_path / "timeline.jsonl")
    seen = [(e.kind.value, e.type, e.name) for e in events]
    assert ("pod", "MODIFIED", "a") in seen
    assert ("observer", "expired", "pods") in seen
    assert ("observer", "relisted", "pods") in seen
    assert ("pod", "DELETED", "a") in seen  # vanished during the gap: a synthetic DELETED
    assert ("pod", "LIST", "c") in seen
    assert thread.gaps == 0
    deleted = next(e for e in events if e.type == "DELETED")
    assert deleted.data.get("vanished") is True
    assert json.loads((tmp_path / "timeline.jsonl").read_text().splitlines()[0])["kind"] in ("pod", "observer")


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
