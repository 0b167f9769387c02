"""traffic_flow: traffic kept flowing, per connection mode, through every disruption and until the
disrupted pods' containers were gone."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from harness.evidence import ConnectionMode, RequestRecord
from harness.verdict import DisruptedPod, Evidence, GateConfig, GateStatus, RunFacts, summarize_requests
from harness.verdict.flow import disrupted_intervals, traffic_flow

M0 = 1000.0
T0 = 1_700_000_000.0
RATES = {"keep-alive": 50.0, "new": 50.0}


def _records(mode: ConnectionMode, rate: float, start: float, end: float,
             silent: Iterable[tuple[float, float]] = ()) -> list[RequestRecord]:
    out: list[RequestRecord] = []
    quiet = list(silent)
    step = 1.0 / rate
    i = 0
    at = start
    while at < end:
        if not any(a <= at < b for a, b in quiet):
            out.append(RequestRecord(id=f"{mode.value}-{i}", user=mode.name, conn=mode, t_start=T0 + at,
                                     m_start=M0 + at, t_end=T0 + at + 0.005, m_end=M0 + at + 0.005, status=200))
        i += 1
        at = start + i * step
    return out


def _evidence(records: list[RequestRecord], *, stopped: float = 30.0, window: tuple[float, float] = (10.0, 14.0),
              pods: dict[str, DisruptedPod] | None = None, modes: list[str] | None = None) -> Evidence:
    records.sort(key=lambda r: r.m_start)
    windows = [(M0 + window[0], M0 + window[1])]
    facts = RunFacts(scenario="s", run_id="s-1", started_at=T0, traffic_started_m=M0, traffic_stopped_m=M0 + stopped,
                     disruption_windows=windows, connection_modes=modes if modes is not None else list(RATES),
                     rate_rps=sum(RATES.values()), mode_rates=RATES, disrupted_pods=pods or {})
    return Evidence(summary=summarize_requests(records, disruption_windows=windows), timeline=[], facts=facts)


def _steady() -> list[RequestRecord]:
    return _records(ConnectionMode.KEEP_ALIVE, 50, 0, 30) + _records(ConnectionMode.NEW, 50, 0, 30)


def test_steady_traffic_in_both_modes_passes() -> None:
    result = traffic_flow(_evidence(_steady()), GateConfig())
    assert result.status is GateStatus.PASS, result.reason
    assert result.numbers["new_min_rps"] == pytest.approx(50, abs=1)


def test_a_stalled_mode_is_inconclusive_and_named() -> None:
    records = (_records(ConnectionMode.KEEP_ALIVE, 50, 0, 30)
               + _records(ConnectionMode.NEW, 50, 0, 30, silent=[(11.0, 13.0)]))
    result = traffic_flow(_evidence(records), GateConfig())
    assert result.status is GateStatus.INCONCLUSIVE
    assert "no new request started in 2 second(s)" in result.reason
    assert "keep-alive" not in result.reason.split(":", 1)[1]


def test_a_slow_mode_below_the_share_is_inconclusive() -> None:
    records = _records(ConnectionMode.KEEP_ALIVE, 50, 0, 30) + _records(ConnectionMode.NEW, 35, 0, 30)
    assert traffic_flow(_evidence(records), GateConfig()).status is GateStatus.INCONCLUSIVE
    assert traffic_flow(_evidence(records), GateConfig(min_flow_share=0.6)).status is GateStatus.PASS


def test_a_configured_mode_that_sent_nothing_is_inconclusive() -> None:
    records = _records(ConnectionMode.KEEP_ALIVE, 50, 0, 30)
    result = traffic_flow(_evidence(records), GateConfig())
    assert result.status is GateStatus.INCONCLUSIVE
    assert "no new request was recorded at all" in result.reason


def test_traffic_that_stops_before_the_containers_are_gone_is_inconclusive() -> None:
    pod = DisruptedPod(deleted_m=M0 + 11.0, containers_gone_m=M0 + 26.0, how="runtime")
    records = _records(ConnectionMode.KEEP_ALIVE, 50, 0, 20) + _records(ConnectionMode.NEW, 50, 0, 20)
    evidence = _evidence(records, stopped=20.0, pods={"web-a": pod})
    spans, unknown = disrupted_intervals(evidence)
    assert spans == [(M0 + 10.0, M0 + 26.0)] and unknown == []
    result = traffic_flow(evidence, GateConfig())
    assert result.status is GateStatus.INCONCLUSIVE
    assert "stopped at +20.000s, before the disruption ended at +26.000s" in result.reason


def test_the_span_reaches_to_the_containers_end_and_is_checked_there() -> None:
    pod = DisruptedPod(deleted_m=M0 + 11.0, containers_gone_m=M0 + 22.0, how="runtime")
    records = (_records(ConnectionMode.KEEP_ALIVE, 50, 0, 30, silent=[(18.0, 20.0)])
               + _records(ConnectionMode.NEW, 50, 0, 30))
    result = traffic_flow(_evidence(records, pods={"web-a": pod}), GateConfig())
    assert result.status is GateStatus.INCONCLUSIVE, "a stall after the step ended but before the kill ended counts"
    assert "keep-alive" in result.reason


def test_an_unknown_container_end_is_inconclusive() -> None:
    pod = DisruptedPod(deleted_m=M0 + 11.0, containers_gone_m=None, how="unknown")
    result = traffic_flow(_evidence(_steady(), pods={"web-a": pod}), GateConfig())
    assert result.status is GateStatus.INCONCLUSIVE
    assert "web-a" in result.reason


def test_no_recorded_modes_is_inconclusive() -> None:
    result = traffic_flow(_evidence(_steady(), modes=[]), GateConfig())
    assert result.status is GateStatus.INCONCLUSIVE
