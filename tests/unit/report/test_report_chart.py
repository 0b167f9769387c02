"""What the timeline chart shows, worked out from hand-made verdicts and timelines, and its SVG."""

from __future__ import annotations

import re
from typing import Any

import pytest
from test_report import HTTP_503, M0, RESET, ev, make_verdict, rec, timeline

from harness.evidence import TimelineEvent, TimelineKind
from harness.report import chart_data, render_chart_svg
from harness.report.chart import MAX_LANES, Segment
from harness.verdict import GateConfig


def endpoints(at: float, *entries: dict[str, Any], service: str = "web") -> TimelineEvent:
    return ev(at, TimelineKind.ENDPOINTS, "MODIFIED", "web-x", name="web-x", service=service,
              endpoints=list(entries))


def test_rates_are_per_second_by_outcome_and_contiguous() -> None:
    verdict = make_verdict(failures=[RESET, HTTP_503])
    data = chart_data(verdict, timeline())
    assert data.bucket_start == 0.0
    assert len(data.edges) == len(data.rates["ok"]) + 1
    assert data.rates["ok"][0] == 20.0  # one request every 50 ms
    assert data.rates["reset"][7] == 1.0 and data.rates["http_5xx"][7] == 1.0
    assert sum(data.rates["reset"]) == 1.0
    assert data.has_failures
    assert "http_4xx" in data.failing  # 4xx are failures unless a scenario allows them
    assert data.origin_label == "seconds since traffic started"


def test_a_second_without_requests_is_a_zero_not_a_gap() -> None:
    verdict = make_verdict(n=20, failures=[RESET])  # requests in [0, 1) s, then one at 7.5 s
    data = chart_data(verdict, timeline())
    assert data.rates["ok"][:2] == [20.0, 0.0]
    assert len(data.rates["ok"]) == 8
    assert data.rates["reset"][7] == 1.0


def test_disruption_steps_and_windows_sit_on_the_request_axis() -> None:
    data = chart_data(make_verdict(), timeline())
    assert data.windows == [(5.0, 9.0)]
    assert [(a.number, a.x, a.step, a.phase, a.disruption) for a in data.actions] == [
        (1, 5.0, "restart", "start", True), (2, 9.0, "restart", "end", True)]
    # The axis spans traffic and disruption, padded; pods listed earlier are drawn from its left edge.
    assert data.x_min == -0.5 and data.x_max == 10.5


def test_pod_lanes_show_state_and_endpoint_state_over_time() -> None:
    events = [*timeline(),
              endpoints(7.2, {"pod": "web-a", "ready": False, "serving": True, "terminating": True},
                        {"pod": "web-b", "ready": True}),
              endpoints(8.0, {"pod": "web-b", "ready": True}),
              ev(8.5, TimelineKind.POD, "DELETED", "web-a", name="web-a", phase="Running", ready=False,
                 terminating=True)]
    data = chart_data(make_verdict(), events)
    old, new = data.lanes
    assert (old.pod, old.old, new.pod, new.old) == ("web-a", True, "web-b", False)
    assert old.states == [Segment(-1.0, 7.0, "ready"), Segment(7.0, 8.5, "terminating")]
    assert old.deleted_at == 8.5
    assert old.endpoint == [Segment(-1.0, 7.2, "endpoint ready"),
                            Segment(7.2, 8.0, "endpoint serving, terminating")]
    assert new.states == [Segment(6.0, data.x_max, "ready")]
    assert new.endpoint == [Segment(7.2, data.x_max, "endpoint ready")]
    assert data.endpoints == [(-1.0, 1, 1), (7.2, 1, 2), (8.0, 1, 1)]


def test_endpoints_without_a_pod_name_are_matched_by_ip_and_other_services_ignored() -> None:
    events = [
        ev(-1.0, TimelineKind.POD, "LIST", "web-a", name="web-a", phase="Running", ready=True, ip="10.0.0.7"),
        endpoints(-0.5, {"ip": "10.0.0.7", "ready": True}),
        endpoints(2.0, {"pod": "db-0", "ready": False}, service="db"),
    ]
    data = chart_data(make_verdict(), events)
    [lane] = data.lanes
    assert lane.endpoint == [Segment(-0.5, data.x_max, "endpoint ready")]
    assert data.endpoints == [(-0.5, 1, 1)]


def test_old_events_do_not_stretch_the_axis_and_notes_are_kept() -> None:
    events = [*timeline(gap=True),
              ev(-3600.0, TimelineKind.EVENT, "LIST", "ev1", reason="Scheduled", object="Pod/web-old",
                 message="long ago", type="Normal"),
              ev(5.5, TimelineKind.EVENT, "ADDED", "ev2", reason="Unhealthy", object="Pod/web-a",
                 message="Readiness probe failed", type="Warning")]
    data = chart_data(make_verdict(), events)
    assert data.x_min > -10
    labels = {(n.kind, n.severity, n.label) for n in data.notes}
    assert ("observer", "error", "pods: gap (lost)") in labels
    assert ("event", "warning", "Pod/web-a: Unhealthy: Readiness probe failed") in labels
    assert not any("long ago" in n.label for n in data.notes)


def test_no_requests_and_no_timeline_still_gives_an_axis() -> None:
    verdict = make_verdict(n=0)
    data = chart_data(verdict, [])
    assert data.rates["ok"] == [] and data.lanes == [] and data.endpoints == []
    assert data.x_min < data.x_max
    svg = render_chart_svg(data)
    assert svg.startswith("<svg") and "no EndpointSlice seen" in svg


def test_many_pods_are_capped() -> None:
    events = [ev(float(i) / 10, TimelineKind.POD, "ADDED", f"p{i}", name=f"p{i}", phase="Running", ready=True)
              for i in range(MAX_LANES + 5)]
    data = chart_data(make_verdict(), events)
    assert len(data.lanes) == MAX_LANES and data.lanes_dropped == 5


def test_svg_has_scoped_ids_text_labels_and_is_deterministic() -> None:
    data = chart_data(make_verdict(failures=[RESET]), timeline())
    svg = render_chart_svg(data, id_prefix="s-one")
    again = render_chart_svg(data, id_prefix="s-one")
    assert svg == again
    assert svg.startswith("<svg") and "<?xml" not in svg
    ids = re.findall(r'\bid="([^"]+)"', svg)
    assert ids and all(i.startswith("s-one-") for i in ids)
    for ref in re.findall(r'url\(#([^)]+)\)', svg):
        assert ref in ids
    # Text stays text, so a reader can search it and a test can find it.
    for words in ("requests/s by outcome", "failed requests/s", "web-a", "web-b", "seconds since traffic started",
                  "reset"):
        assert words in svg
    assert "<path" in svg


def test_svg_says_so_when_nothing_failed() -> None:
    svg = render_chart_svg(chart_data(make_verdict(), timeline()))
    assert "no failed requests" in svg


@pytest.mark.parametrize("allow_4xx", [True, False])
def test_4xx_count_as_failures_only_when_the_gate_says_so(allow_4xx: bool) -> None:
    verdict = make_verdict(failures=[rec(950, 3.2, status=404)], config=GateConfig(allow_4xx=allow_4xx))
    data = chart_data(verdict, timeline())
    assert ("http_4xx" in data.failing) is not allow_4xx
    assert data.has_failures is not allow_4xx
    assert data.rates["http_4xx"][3] == 1.0


def test_the_origin_falls_back_when_no_request_was_recorded() -> None:
    verdict = make_verdict(n=0).model_copy(update={"origin_m": None})
    data = chart_data(verdict, timeline())
    assert data.origin_m == M0 and data.origin_label == "seconds since traffic started"
