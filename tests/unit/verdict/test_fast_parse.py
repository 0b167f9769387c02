"""The fast paths of judging a requests file (msgspec's typed decoding, the digest of the bytes as they
are) judge exactly as the json path does, which HARNESS_JUDGE_JSON_ONLY=1 forces: on the recorded
runs, on every kind of odd line, and on lines damaged at random."""

from __future__ import annotations

import dataclasses
import gzip
import json
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.evidence import REQUESTS_FILE, LinesDigest, bare_file_digest, file_digest
from harness.verdict import judge_run_dir, summarize_requests_file
from harness.verdict import summary as summary_module
from harness.verdict.fastparse import MAX_LINE_BYTES
from harness.verdict.summary import JSON_ONLY_ENV, LatencyDigest, RequestSummary

RECORDED = Path(__file__).parents[1] / "data" / "recorded"
RUNS = sorted(p for p in RECORDED.iterdir() if (p / "run.json").is_file())


def copy_run(source: Path, path: Path) -> Path:
    shutil.copytree(source, path)
    packed = path / (REQUESTS_FILE + ".gz")
    (path / REQUESTS_FILE).write_bytes(gzip.decompress(packed.read_bytes()))
    packed.unlink()
    (path / "result.json").unlink(missing_ok=True)
    return path


def state(summary: RequestSummary) -> str:
    """Everything a summary holds, as text: repr tells -0.0 from 0.0 and keeps the order of keys."""

    def plain(value: Any) -> Any:
        if isinstance(value, LatencyDigest):
            return ("digest", value.count, value.max_ms, None if value.samples is None else list(value.samples),
                    value.hist)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return (type(value).__name__, [(f.name, plain(getattr(value, f.name))) for f in dataclasses.fields(value)])
        if hasattr(value, "__slots__") and type(value).__module__.startswith("harness."):
            return (type(value).__name__, [(name, plain(getattr(value, name))) for name in value.__slots__])
        if isinstance(value, dict):
            return [(plain(k), plain(v)) for k, v in value.items()]
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        if hasattr(value, "model_dump"):
            return value.model_dump(mode="python")
        return value

    return repr(plain(summary))


def both(path: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> tuple[RequestSummary, RequestSummary]:
    fast = summarize_requests_file(path, **kwargs)
    with monkeypatch.context() as m:
        m.setenv(JSON_ONLY_ENV, "1")
        slow = summarize_requests_file(path, **kwargs)
    return fast, slow


def outcome(path: Path, **kwargs: Any) -> str:
    """The summary's state, or the error judging the file raised, which both paths must raise alike:
    an answer at 1e308 s overflows the latency in milliseconds, and a kept failure whose stage or
    conn_served is damaged cannot become a record."""
    try:
        return state(summarize_requests_file(path, **kwargs))
    except (ArithmeticError, ValueError) as exc:
        return f"raised {type(exc).__name__}: {exc}"


def count_json_path_lines(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The lines the fast path leaves to the json path, in this process."""
    seen: list[bytes] = []
    original = summary_module._rows_from_lines

    def spy(lines: Any, acc: Any) -> Iterator[Any]:
        for line in lines:
            seen.append(line)
            yield from original((line,), acc)

    monkeypatch.setattr(summary_module, "_rows_from_lines", spy)
    return seen


@pytest.mark.parametrize("run", RUNS, ids=lambda p: p.name)
def test_recorded_runs_get_the_same_verdict_from_both_paths(
        run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = copy_run(run, tmp_path / run.name)
    fast = judge_run_dir(directory)
    with monkeypatch.context() as m:
        m.setenv(JSON_ONLY_ENV, "1")
        slow = judge_run_dir(directory)
    assert fast.model_dump_json() == slow.model_dump_json()
    assert fast.counts.total > 0
    fast_summary, slow_summary = both(directory / REQUESTS_FILE, monkeypatch, workers=1)
    assert state(fast_summary) == state(slow_summary)
    assert fast_summary.digest == file_digest(directory / REQUESTS_FILE)[0]

    # Every line the traffic process wrote is decided by the fast path.
    left = count_json_path_lines(monkeypatch)
    summarize_requests_file(directory / REQUESTS_FILE, workers=1)
    assert left == []


BASE: dict[str, Any] = {
    "id": "odd-00000001", "user": "KeepAliveUser", "conn": "keep-alive", "t_start": 1796202627.0, "m_start": 16737.5,
    "t_sched": 1796202626.999, "m_sched": 16737.499, "t_end": 1796202627.002, "m_end": 16737.502, "status": 200,
    "bytes": 170, "pod": "sample-service-7b4db7665b-wrbqg", "version": "0.1.0",
}


def odd_lines(m0: float) -> list[bytes]:
    """One line of each odd kind, timed from ``m0`` on (early, so that failures among them are kept)."""
    n = 0

    def line(text: str) -> bytes:
        nonlocal n
        n += 1
        return text.replace("SEQ", f"odd-{n:08d}").replace("M0", repr(m0 + n * 0.001)).encode()

    def record(**changes: Any) -> str:
        data = {**BASE, "id": "SEQ", "m_start": "M0", **changes}
        return json.dumps(data, separators=(",", ":")).replace('"M0"', "M0")

    ok = record()
    fail = record(status=503, pod=None, version=None, detail="upstream")
    out = [
        line(ok[: len(ok) // 2]),  # torn
        line(ok[: len(ok) - 1]),  # torn before the closing brace
        line(ok) + b"\r",  # CRLF
        line(ok.replace('"m_start":M0', '"m_start":NaN')),
        line(ok.replace('"t_end":1796202627.002', '"t_end":Infinity')),
        line(ok.replace('"m_end":16737.502', '"m_end":-Infinity')),
        line(ok.replace('"bytes":170', '"bytes":170,"x":NaN')),  # NaN where nothing reads it
        line(ok.replace('"m_end":16737.502', '"m_end":1e999')),
        line(record(status=200.0)), line(record(status=2e2)), line(record(status=503.0)),
        line(record(status="200")), line(record(status="503")), line(record(status=True)), line(record(status=[200])),
        line(record(status={"code": 200})), line(record(status=None)), line(record(status=-0)),
        line(ok.replace('"t_start":1796202627.0', '"t_start":true')),
        line(ok.replace('"m_end":16737.502', '"m_end":false')),
        line(record(bytes=170.0)), line(record(bytes=True)), line(record(bytes="170")), line(record(bytes=None)),
        line(record(extra="field", nested={"a": [1, 2, {"b": None}]}, number=1.5e300)),
        line(record(user=None)), line(record(user=5)), line(record(conn=None)), line(record(conn="carrier-pigeon")),
        line(record(error="gremlins", status=None)), line(record(error="reset", status=None, conn_pod=None)),
        line(record(error=None)), line(record(pod=7)), line(record(version=["v1"])), line(record(detail=5)),
        line(record(conn_pod=["p"])), line(record(stage="wait")), line(record(conn_served=3)),
        line(record(stage="nowhere")), line(record(conn_served=-1)),  # both answered: never kept, never read
        line(record(id=None)), line(record(id=7)),
        line(ok.replace('{"id":', '{"status":"x","id":')),  # duplicate keys: the last one counts
        line(ok.replace('"status":200', '"status":200,"status":503')),
        line(ok.replace('"status":200', '"status":503,"status":200')),
        line(ok.replace('"status":200', '"status":200,"status":503.0')),
        line(ok.replace('"status":200', '"status":200.0,"status":503')),
        line(ok.replace('"m_start":M0', '"m_start":M0,"m_start":"soon"')),
        line(ok.replace('"m_start":M0', '"m_start":"soon","m_start":M0')),
        line(ok.replace('"user":"KeepAliveUser"', '"user":"KeepAliveUser","user":null')),
        line(ok.replace('"id":"SEQ"', '"\\u0069d":"SEQ"')),  # an escaped key
        line(record(status=2**64)), line(record(status=2**63)), line(record(status=-(2**63) - 1)),
        line(record(status=10**30)), line(record(bytes=2**70)),
        line(ok.replace('"bytes":170', '"bytes":170,"big":' + "9" * 5000)),  # over json's 4,300 digits
        line(ok.replace('"bytes":170', '"bytes":170,"big":' + "9" * 900)),
        line(ok.replace('"t_start":1796202627.0', '"t_start":1' + "0" * 300)),  # an integer time, finite
        line(ok.replace('"t_start":1796202627.0', '"t_start":1' + "0" * 400)),  # too large for a float
        line(ok.replace('"t_sched":1796202626.999', '"t_sched":9007199254740993')),  # 2**53 + 1
        line(ok.replace('"m_end":16737.502', '"m_end":16737502e-3')),
        line(record(m_start=-0.0, m_sched=-0.0, t_end=-0.0, m_end=0.0)),
        line(ok.replace('"t_sched":1796202626.999', '"t_sched":-0e5')),
        line(ok.replace('"t_sched":1796202626.999', '"t_sched":1e-400')),
        line(record(m_end=m0 - 1.0)),  # answered before it was sent
        line(ok).replace(b"KeepAliveUser", b"KeepAlive\xffUser"),  # not UTF-8
        line(ok).replace(b'"bytes":170', b'"bytes":170,"x":"\xfe"'),  # not UTF-8 where nothing reads it
        line(ok).replace(b'"bytes":170', b'"bytes":170,"\xc3\x28":1'),  # a key that is not UTF-8
        line(ok).replace(b"0.1.0", b"0.1.0\xed\xa0\x80"),  # a UTF-8 surrogate, which json decodes
        line(ok).replace(b'"bytes":170', b'"bytes":170,"x":"\xed\xb0\x80"'),
        b"\xef\xbb\xbf" + line(ok),  # a byte order mark
        line(record(detail="caf\u00e9 \u2603")).replace(b"\\u00e9", "\u00e9".encode()),  # UTF-8, not ASCII
        line(record(detail="\ud800")), line(ok.replace('"bytes":170', '"bytes":170,"x":"\\udc00"')),
        line(ok.replace('"bytes":170', '"bytes":170,"x":"\\x"')),
        line(ok) + b"\x00", line(ok) + b"\x0c", b"\x0c" + line(ok), b"\t " + line(ok) + b" \t",
        line(ok.replace('"bytes":170', '"bytes":170,"x":"tab\there"')),
        line(ok.replace('"bytes":170', '"bytes":170,"deep":' + "[" * 300 + "]" * 300)),
        line(ok.replace('"bytes":170', '"bytes":170,"deep":' + "[" * 600 + "]" * 600)),
        line(record(detail="x" * (MAX_LINE_BYTES + 10))),  # too long for the fast path, yet a good record
        line(record(status=503, detail="y" * MAX_LINE_BYTES)),
        line(fail), line(fail + " "), line(record(error="reset", status=None, m_end=None, t_end=None)),
        line(record(error="not_sent", status=None, m_end=None, t_end=None)),
        line(record(status=404)), line(record(status=302)), line(record(status=99)), line(record(status=600)),
        line(record(m_end=None, t_end=None)),  # in flight at the stop
        line(record(t_sched=None, m_sched=None)), line(record(m_sched=None)),
        line(record(conn="new", user="NewConnectionUser")),
        line(record(id="noseq")), line(record(id="odd-")), line(record(id="odd-00000000")),
        line(record(id="odd-\u0661\u0662")),  # Arabic-Indic digits: no sequence number
        b"[1, 2, 3]", b"42", b'"text"', b"null", b"{}", b"not json at all",
        b"", b"   ", b"\t", b"\r", b"\x0b", line(ok),
    ]
    return out


def write_run(directory: Path, lines: list[bytes]) -> None:
    (directory / REQUESTS_FILE).write_bytes(b"".join(line + b"\n" for line in lines))


@pytest.mark.parametrize("workers", [1, 2])
def test_odd_lines_get_the_same_verdict_from_both_paths(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int) -> None:
    run = RECORDED / "naive-no-drain"
    directory = copy_run(run, tmp_path / "run")
    good = (directory / REQUESTS_FILE).read_bytes().splitlines()
    first_m = min(json.loads(line)["m_start"] for line in good)
    odd = odd_lines(first_m - 5.0)
    # Odd lines at the start, where the first failures are taken from, and in the middle.
    write_run(directory, [*odd, *good[:1000], *odd, *good[1000:]])

    fast = judge_run_dir(directory, workers=workers)
    with monkeypatch.context() as m:
        m.setenv(JSON_ONLY_ENV, "1")
        slow = judge_run_dir(directory, workers=workers)
    assert fast.model_dump_json() == slow.model_dump_json()
    assert fast.counts.malformed_lines > 40  # the odd lines are not all judged alike
    assert fast.first_failures and fast.diagnosis is not None

    fast_summary, slow_summary = both(directory / REQUESTS_FILE, monkeypatch, workers=workers, first_failures=60)
    assert state(fast_summary) == state(slow_summary)
    assert any(r.id.startswith("odd-") for r in fast_summary.first_failures)


def test_only_odd_lines_are_left_to_the_json_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / REQUESTS_FILE
    odd = odd_lines(100.0)
    plain = [json.dumps({**BASE, "id": f"r-{i:08d}", "m_start": 200.0 + i}, separators=(",", ":")).encode()
             for i in range(1, 200)]
    write_run(tmp_path, [*plain, *odd])
    left = count_json_path_lines(monkeypatch)
    summarize_requests_file(path, workers=1)
    assert len(left) < len(odd)
    assert not set(left) & {line + b"\n" for line in plain}


def damaged(lines: list[bytes], rng: random.Random) -> Iterator[bytes]:
    """Lines with one random change each: a byte replaced, dropped or doubled, a cut, or a field's
    value replaced by another JSON value."""
    values = [b"0", b"-0", b"-0.0", b"1e308", b"1e309", b"true", b"null", b'"x"', b"[]", b"{}", b"200.0", b"2e2",
              b"NaN", b"-1", b"18446744073709551616", b"1" + b"0" * 30, b'"\\u00e9"', b'"\xc3\xa9"', b"\xff"]
    alphabet = b'{}[]",:0123456789.eE+-tnfalsu\\ \r\n\x00\x7f\xff'
    for line in lines:
        choice = rng.randrange(5)
        at = rng.randrange(len(line))
        if choice == 0:
            yield line[:at] + bytes([rng.choice(alphabet)]) + line[at + 1:]
        elif choice == 1:
            yield line[:at] + line[at + 1:]
        elif choice == 2:
            yield line[:at] + line[at:at + rng.randint(1, 12)] + line[at:]
        elif choice == 3:
            yield line[:at]
        else:
            colon = line.find(b":", at)
            end = line.find(b",", colon)
            if colon < 0 or end < 0:
                yield line
            else:
                yield line[:colon + 1] + rng.choice(values) + line[end:]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_randomly_damaged_lines_are_judged_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    rng = random.Random(seed)
    source = rng.choice(RUNS)
    good = gzip.decompress((source / (REQUESTS_FILE + ".gz")).read_bytes()).splitlines()
    path = tmp_path / REQUESTS_FILE
    judged = 0
    for _ in range(10):
        lines = list(damaged(rng.sample(good, min(len(good), 150)), rng))
        write_run(tmp_path, [*good[:100], *lines])
        fast = outcome(path, workers=1, first_failures=200)
        with monkeypatch.context() as m:
            m.setenv(JSON_ONLY_ENV, "1")
            assert fast == outcome(path, workers=1, first_failures=200)
        if not fast.startswith("raised"):
            judged += 1
            assert 0 < summarize_requests_file(path, workers=1).counts.malformed_lines < len(lines)
    assert judged >= 5


def test_the_digest_of_the_bytes_is_the_digest_of_the_lines(tmp_path: Path) -> None:
    path = tmp_path / REQUESTS_FILE
    cases = [b"", b"a\n", b"a", b"a\nb", b"a\nb\n", b" \n\t\n", b"{}\n" * 1000 + b"{}"]
    for data in cases:
        path.write_bytes(data)
        digest = LinesDigest()
        digest.update(data)
        assert bare_file_digest(path, block_size=7) == digest.hexdigest() == file_digest(path)[0]
    for data in (b"a\r\n", b"a\nb\r", b"\r"):
        path.write_bytes(data)
        assert bare_file_digest(path) is None


@pytest.mark.parametrize("data", [b"\n<1>\n", b"<1>\n\n<2>\n", b"<1>\n\n", b"<1>\r\n<2>\n", b"<1>\n\r\n\n<2>",
                                  b"<1>\n \n\t\n\x0b\n<2>", b"<1>\n<2>"])
def test_the_digest_is_the_same_on_both_paths(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    path = tmp_path / REQUESTS_FILE
    record = json.dumps({**BASE, "id": "r-00000001"}, separators=(",", ":")).encode()
    path.write_bytes(data.replace(b"<1>", record).replace(b"<2>", record.replace(b"-00000001", b"-00000002")))
    fast, slow = both(path, monkeypatch)
    assert (fast.digest, fast.lines) == (slow.digest, slow.lines) == file_digest(path)
    assert fast.counts.total == data.count(b"<")
    assert state(fast) == state(slow)


def test_a_failure_with_an_unreadable_stage_is_counted_not_a_crash(tmp_path: Path) -> None:
    from harness.verdict import judge_run_dir

    source = Path(__file__).parents[1] / "data" / "recorded" / "naive-no-drain"
    run = tmp_path / "run"
    shutil.copytree(source, run)
    lines = gzip.decompress((run / "requests.jsonl.gz").read_bytes()).decode().splitlines()
    (run / "requests.jsonl.gz").unlink()
    changed = [line.replace('"error":', '"stage":"nowhere","error":', 1) for line in lines]
    assert changed != lines
    (run / "requests.jsonl").write_text("\n".join(changed) + "\n")
    verdict = judge_run_dir(run)  # the traffic report's digest no longer matches: altered evidence
    assert verdict.gate("records_accounted").status.value == "ERROR"
