"""A request record's line: the fast join the traffic process uses gives exactly the json module's
text, for usual records and odd ones alike, and reads back as the same record."""

from __future__ import annotations

import json
import math
import random

import pytest

from harness.evidence import ConnectionMode, ErrorKind, RequestRecord


def _random_record(rng: random.Random, i: int) -> RequestRecord:
    def maybe(value: object) -> object:
        return value if rng.random() < 0.6 else None

    text = rng.choice(["pod-a", "web-7f9c-x2", "naïve pod", 'quote " and \\ back', "tab\there", "ünïcødé ✓", ""])
    rec = RequestRecord(id=f"run-{i:08d}", user=rng.choice(["KeepAliveUser", "NewConnectionUser"]),
                        conn=rng.choice(list(ConnectionMode)), t_start=1.7e9 + rng.random() * 100,
                        m_start=rng.random() * 1e4)
    rec.t_sched, rec.m_sched = maybe(rec.t_start - 0.001), maybe(rec.m_start - 0.001)  # type: ignore[assignment]
    rec.t_end, rec.m_end = maybe(rec.t_start + rng.random()), maybe(rec.m_start + rng.random())  # type: ignore[assignment]
    rec.status = maybe(rng.choice([200, 204, 404, 503, 999]))  # type: ignore[assignment]
    rec.error = maybe(rng.choice(list(ErrorKind)))  # type: ignore[assignment]
    rec.detail = maybe(text)  # type: ignore[assignment]
    rec.bytes = rng.randrange(0, 5000)
    rec.pod, rec.version, rec.conn_pod = maybe(text), maybe("v2"), maybe(text)  # type: ignore[assignment]
    return rec


def test_the_fast_line_is_the_json_modules_line() -> None:
    rng = random.Random(5)
    for i in range(2000):
        rec = _random_record(rng, i)
        line = rec.to_json()
        assert line == rec._to_json_via_dict()
        assert line.isascii()
        again = RequestRecord.from_dict(json.loads(line))
        assert again == rec


@pytest.mark.parametrize("odd", [
    {"t_start": 5},  # an int time, as hand-made records have
    {"m_end": math.nan},
    {"t_sched": math.inf},
    {"status": True},
    {"status_text": '"200"', "status": None},
])
def test_odd_records_take_the_json_modules_way(odd: dict[str, object]) -> None:
    rec = RequestRecord(id="r-1", user="u", conn=ConnectionMode.NEW, t_start=1.0, m_start=2.0, m_end=2.5, status=200)
    for key, value in odd.items():
        setattr(rec, key, value)
    assert rec.to_json() == rec._to_json_via_dict()
