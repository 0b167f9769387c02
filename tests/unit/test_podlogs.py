"""PodLogs: container logs followed from the timeline, bounded, on the harness's clock."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from urllib3.exceptions import ProtocolError

from harness import podlogs
from harness.evidence import ReadStats, TimelineEvent, TimelineKind
from harness.podlogs import PodLogLine, PodLogs, read_pod_logs, split_timestamp

NS = "rh-test"


class FakeResponse:
    """Shaped like urllib3's HTTPResponse with _preload_content=False: chunks from .stream()."""

    def __init__(self, chunks: list[bytes], *, hold: bool = False, fail: BaseException | None = None) -> None:
        self.chunks = chunks
        self.hold = hold
        self.fail = fail
        self.shut = threading.Event()
        self.held = threading.Event()
        self.released = False

    def stream(self, amt: int | None = None, decode_content: bool | None = None) -> Iterator[bytes]:
        yield from self.chunks
        if self.fail is not None:
            raise self.fail
        if self.hold:  # a follow stream of a running container: open until the socket is shut down
            self.held.set()
            self.shut.wait(10)
            raise ProtocolError("Connection broken: the socket was shut down")

    def shutdown(self) -> None:
        self.shut.set()

    def close(self) -> None:
        self.shut.set()

    def release_conn(self) -> None:
        self.released = True


class FakeApi:
    def __init__(self) -> None:
        self.responses: dict[tuple[str, str], list[FakeResponse | BaseException]] = {}
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def queue(self, pod: str, container: str, *responses: FakeResponse | BaseException) -> None:
        self.responses.setdefault((pod, container), []).extend(responses)

    def read_namespaced_pod_log(self, name: str, namespace: str, **kwargs: Any) -> FakeResponse:
        with self._lock:
            self.calls.append((name, namespace, kwargs))
            answer = self.responses[(name, kwargs["container"])].pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def stamp(epoch: float, nanos: int = 0) -> str:
    base = datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{nanos:09d}".rstrip("0").rstrip(".") + "Z"


def log_lines(texts: list[str], epoch: float = 1_700_000_000.0) -> list[bytes]:
    return [f"{stamp(epoch + i, 1000)} {text}\n".encode() for i, text in enumerate(texts)]


def pod_event(m: float, name: str, *containers: tuple[str, str, int], type_: str = "MODIFIED",
              uid: str = "u1") -> TimelineEvent:
    return TimelineEvent(t=1000.0 + m, m=m, kind=TimelineKind.POD, type=type_, name=name, data={
        "name": name, "uid": uid,
        "containers": [{"name": c, "state": state, "restart_count": restarts} for c, state, restarts in containers]})


def write_timeline(path: Path, *events: TimelineEvent) -> None:
    with path.open("a", encoding="utf-8") as fh:
        for event in events:
            fh.write(event.to_json() + "\n")


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def notes(path: Path, what: str) -> list[dict[str, Any]]:
    return [r for r in records(path) if r.get("kind") == "note" and r["what"] == what]


def wait_for(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "pod-logs.jsonl", tmp_path / "timeline.jsonl"


def test_the_first_lines_and_the_last_are_kept_and_the_gap_is_counted(files: tuple[Path, Path]) -> None:
    out, timeline = files
    api = FakeApi()
    api.queue("web-a", "web", FakeResponse(log_lines([f"line {i}" for i in range(10)])))
    write_timeline(timeline, pod_event(1.0, "web-a", ("web", "running", 0)))
    logs = PodLogs(api, NS, out, timeline, head_lines=3, tail_lines=2)
    logs.start()
    wait_for(lambda: out.exists() and bool(notes(out, "ended")))
    logs.stop()
    rows = records(out)
    assert [r.get("line") or r["what"] for r in rows] == ["line 0", "line 1", "line 2", "skipped", "line 8", "line 9",
                                                          "ended"]
    assert rows[3]["count"] == 5 and rows[3]["pod"] == "web-a" and rows[3]["container"] == "web"
    (name, namespace, kwargs), = api.calls
    assert (name, namespace) == ("web-a", NS)
    assert kwargs["container"] == "web" and kwargs["follow"] is True and kwargs["timestamps"] is True
    assert kwargs["_preload_content"] is False and "since_seconds" not in kwargs


def test_kubelet_timestamps_land_on_the_monotonic_clock(files: tuple[Path, Path]) -> None:
    out, timeline = files
    api = FakeApi()
    epoch = 1_700_000_123.0
    whole = f"{stamp(epoch, 250_000_000)} started\n{stamp(epoch + 1, 1)} " + "é" * 2500 + "\n"
    raw = whole.encode() + b"no timestamp \xff here\n"
    # urllib3 hands out chunks as they arrive, cut anywhere, even inside a character
    api.queue("web-a", "web", FakeResponse([raw[:7], raw[7:40], raw[40:]]))
    write_timeline(timeline, pod_event(1.0, "web-a", ("web", "running", 0)))
    logs = PodLogs(api, NS, out, timeline)
    logs.start()
    wait_for(lambda: out.exists() and bool(notes(out, "ended")))
    logs.stop()
    first, second, third = (r for r in records(out) if "line" in r)
    assert first["ts"] == "2023-11-14T22:15:23.25Z" and first["line"] == "started"
    assert first["ts_m"] == pytest.approx(epoch + 0.25 - (first["t"] - first["m"]), abs=1e-6)
    assert second["ts_m"] - first["ts_m"] == pytest.approx(0.75, abs=1e-6)
    assert second["line"] == "é" * 2000
    assert third["ts"] is None and third["ts_m"] is None and third["line"] == "no timestamp \ufffd here"


def test_lines_of_one_instant_keep_the_order_the_container_wrote_them(files: tuple[Path, Path]) -> None:
    out, timeline = files
    api = FakeApi()
    api.queue("web-a", "web", FakeResponse([f"{stamp(1.7e9, 5)} n{i}\n".encode() for i in range(200)]))
    write_timeline(timeline, pod_event(1.0, "web-a", ("web", "running", 0)))
    logs = PodLogs(api, NS, out, timeline)
    logs.start()
    wait_for(lambda: out.exists() and bool(notes(out, "ended")))
    logs.stop()
    lines = read_pod_logs(out)["web-a"]
    assert [ln.line for ln in lines] == [f"n{i}" for i in range(200)]
    assert len({ln.ts_m for ln in lines}) == 1


def test_split_timestamp_keeps_nanoseconds_and_rejects_lookalikes() -> None:
    ts, ns, rest = split_timestamp("2024-01-02T03:04:05.000000007Z hello world")
    assert (ts, rest) == ("2024-01-02T03:04:05.000000007Z", "hello world")
    assert ns == int(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()) * 10**9 + 7
    assert split_timestamp("2024-01-02T05:04:05+02:00 x")[1] == ns - 7
    assert split_timestamp("2024-13-02T03:04:05Z x") == (None, None, "2024-13-02T03:04:05Z x")
    assert split_timestamp("plain line") == (None, None, "plain line")


def test_a_restarted_container_gets_a_stream_of_its_own(files: tuple[Path, Path]) -> None:
    out, timeline = files
    api = FakeApi()
    api.queue("web-a", "web", FakeResponse(log_lines(["run one"])), FakeResponse(log_lines(["run two"], 1.8e9)))
    api.queue("web-a", "side", FakeResponse(log_lines(["side car"], 1.75e9)))
    write_timeline(timeline, pod_event(1.0, "web-a", ("web", "running", 0), ("side", "waiting", 0)))
    logs = PodLogs(api, NS, out, timeline)
    logs.start()
    wait_for(lambda: out.exists() and len(notes(out, "ended")) == 1)
    assert logs.streams == 1, "a waiting container is not followed yet"
    write_timeline(timeline, pod_event(2.0, "web-a", ("web", "terminated", 0), ("side", "running", 0)),
                   pod_event(3.0, "web-a", ("web", "running", 1), ("side", "running", 0)),
                   pod_event(4.0, "web-a", ("web", "running", 1), ("side", "running", 0)))
    wait_for(lambda: len(notes(out, "ended")) == 3)
    logs.stop()
    assert logs.streams == 3
    assert sorted((n["container"], n["restart"]) for n in notes(out, "ended")) == [("side", 0), ("web", 0), ("web", 1)]
    by_pod = read_pod_logs(out)
    assert [ln.line for ln in by_pod["web-a"]] == ["run one", "side car", "run two"]


def test_a_broken_stream_is_reopened_without_repeating_lines(files: tuple[Path, Path],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(podlogs, "RETRY_WAIT_S", 0.01)
    out, timeline = files
    epoch = time.time() - 30
    first = [*log_lines(["a", "b"], epoch), f"{stamp(epoch + 1, 1000)} b-twin\n".encode()]
    again = first[1:] + log_lines(["c"], epoch + 2)
    api = FakeApi()
    api.queue("web-a", "web", FakeResponse(first, fail=ProtocolError("Connection broken: reset by peer")),
              FakeResponse(again))
    write_timeline(timeline, pod_event(1.0, "web-a", ("web", "running", 0)))
    logs = PodLogs(api, NS, out, timeline)
    logs.start()
    wait_for(lambda: out.exists() and bool(notes(out, "ended")))
    logs.stop()
    assert [r["line"] for r in records(out) if "line" in r] == ["a", "b", "b-twin", "c"]
    (error,) = notes(out, "error")
    assert "reset by peer" in error["detail"] and error["attempt"] == 1
    since = api.calls[1][2]["since_seconds"]
    assert isinstance(since, int) and 30 <= since <= 40, "reopened from just before the last line seen"


def test_a_stream_of_a_container_that_stopped_running_is_not_reopened(files: tuple[Path, Path],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(podlogs, "RETRY_WAIT_S", 0.01)
    out, timeline = files
    api = FakeApi()
    gate = threading.Event()

    class Late(FakeResponse):
        def stream(self, amt: int | None = None, decode_content: bool | None = None) -> Iterator[bytes]:
            yield b"2024-01-02T03:04:05Z bye\n"
            gate.wait(5)
            raise ProtocolError("Connection broken")

    api.queue("web-a", "web", Late([]))
    write_timeline(timeline, pod_event(1.0, "web-a", ("web", "running", 0)))
    logs = PodLogs(api, NS, out, timeline)
    logs.start()
    wait_for(lambda: out.exists() and len(records(out)) == 1)
    write_timeline(timeline, pod_event(2.0, "web-a", ("web", "running", 0), type_="DELETED"))
    wait_for(lambda: not logs.still_running(next(iter(logs._streams))))
    gate.set()
    wait_for(lambda: bool(notes(out, "ended")))
    logs.stop()
    assert len(api.calls) == 1
    assert [n["what"] for n in records(out) if n.get("kind") == "note"] == ["error", "ended"]


def test_a_defect_in_one_stream_is_noted_and_the_others_go_on(files: tuple[Path, Path],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(podlogs, "RETRY_WAIT_S", 0.01)
    out, timeline = files
    api = FakeApi()
    api.queue("web-a", "web", *[RuntimeError("client defect")] * podlogs.STREAM_ATTEMPTS)
    api.queue("web-b", "web", FakeResponse(log_lines(["fine"])))
    write_timeline(timeline, pod_event(1.0, "web-a", ("web", "running", 0)),
                   pod_event(1.5, "web-b", ("web", "running", 0), uid="u2"))
    logs = PodLogs(api, NS, out, timeline)
    logs.start()
    wait_for(lambda: out.exists() and len(notes(out, "ended")) == 2)
    logs.stop()
    errors = notes(out, "error")
    assert [e["attempt"] for e in errors] == list(range(1, podlogs.STREAM_ATTEMPTS + 1))
    assert all(e["pod"] == "web-a" and "client defect" in e["detail"] for e in errors)
    ended_a = next(n for n in notes(out, "ended") if n["pod"] == "web-a")
    assert "not reopened" in ended_a["detail"]
    assert [ln.line for ln in read_pod_logs(out)["web-b"]] == ["fine"]


def test_stop_closes_open_streams_and_writes_their_tails(files: tuple[Path, Path]) -> None:
    out, timeline = files
    api = FakeApi()
    open_streams = [FakeResponse(log_lines([f"{c} {i}" for i in range(300)]), hold=True) for c in ("web", "side")]
    api.queue("web-a", "web", open_streams[0])
    api.queue("web-a", "side", open_streams[1])
    write_timeline(timeline, pod_event(1.0, "web-a", ("web", "running", 0), ("side", "running", 0)))
    logs = PodLogs(api, NS, out, timeline, head_lines=100, tail_lines=10)
    logs.start()
    wait_for(lambda: all(r.held.is_set() for r in open_streams))
    started = time.monotonic()
    logs.stop(wait_s=2.0)
    assert time.monotonic() - started < 2.0
    assert all(r.shut.is_set() and r.released for r in open_streams)
    rows = records(out)  # every line whole: json.loads would fail on an interleaved one
    for container in ("web", "side"):
        own = [r for r in rows if r["container"] == container]
        texts = [r.get("line") or r["what"] for r in own]
        assert texts == [f"{container} {i}" for i in range(100)] + ["skipped"] + [
            f"{container} {i}" for i in range(290, 300)] + ["stopped"]
        assert next(r for r in own if r.get("what") == "skipped")["count"] == 190
    assert not notes(out, "error"), "a stream closed by stop() is not an error"
    write_timeline(timeline, pod_event(2.0, "web-b", ("web", "running", 0), uid="u2"))
    time.sleep(0.3)
    assert len(records(out)) == len(rows), "nothing is followed or written after stop()"


def test_read_pod_logs_orders_by_kubelet_time_and_counts_what_it_cannot_read(tmp_path: Path) -> None:
    path = tmp_path / "pod-logs.jsonl"
    rows: list[dict[str, Any] | str] = [
        {"t": 5.0, "m": 5.0, "pod": "web-a", "container": "web", "ts": "x", "ts_m": 3.0, "line": "third"},
        {"kind": "note", "pod": "web-a", "container": "web", "restart": 0, "what": "ended", "m": 6.0, "t": 6.0},
        {"t": 9.0, "m": 9.0, "pod": "web-a", "container": "side", "ts": "y", "ts_m": 1.0, "line": "first"},
        '{"t": 1.0, "m": 1.0, "pod": "web-a", "conta',
        {"t": 2.0, "m": 2.0, "pod": "web-a", "container": "web", "ts": None, "ts_m": None, "line": "second"},
        {"t": 2.0, "pod": "web-b", "container": "web", "line": "no m"},
        {"t": 4.0, "m": 4.0, "pod": "web-b", "container": "web", "ts": None, "ts_m": None, "line": "other pod"},
    ]
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows) + "\n",
                    encoding="utf-8")
    stats = ReadStats()
    by_pod = read_pod_logs(path, stats)
    assert [ln.line for ln in by_pod["web-a"]] == ["first", "second", "third"]
    assert by_pod["web-b"] == [PodLogLine(pod="web-b", container="web", m=4.0, t=4.0, ts=None, ts_m=None,
                                          line="other pod")]
    assert (stats.lines, stats.malformed) == (7, 2)
    assert read_pod_logs(tmp_path / "missing.jsonl") == {}
