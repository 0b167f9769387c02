"""Which request each id sends (harness.traffic.choice) and the bytes of a request (wire.request_head)."""

from __future__ import annotations

from collections import Counter

import pytest

from harness.traffic.choice import RequestChooser
from harness.traffic.config import PlannedRequest, TrafficConfig

A = PlannedRequest(name="POST /post", method="POST", path="/post", body=b"{}", weight=3)
B = PlannedRequest(name="GET /status/418", path="/status/418", weight=1, expect=[418])


def _names(chooser: RequestChooser, seqs: range) -> list[str | None]:
    return [chooser.for_seq(seq).name for seq in seqs]


def test_the_same_seed_gives_the_same_request_for_each_id_in_any_order() -> None:
    first = _names(RequestChooser([A, B], 7, weighted=True), range(1, 2001))
    again = RequestChooser([A, B], 7, weighted=True)
    backwards = {seq: again.for_seq(seq).name for seq in reversed(range(1, 2001))}
    assert first == [backwards[seq] for seq in range(1, 2001)]
    other = _names(RequestChooser([A, B], 8, weighted=True), range(1, 2001))
    assert other != first


def test_requests_are_drawn_in_proportion_to_their_weights() -> None:
    counts = Counter(_names(RequestChooser([A, B], 1, weighted=True), range(1, 40_001)))
    assert counts.keys() == {"POST /post", "GET /status/418"}
    assert abs(counts["GET /status/418"] / 40_000 - 0.25) < 0.01, counts
    tiny = PlannedRequest(name="rare", path="/rare", weight=0.001)
    rare = Counter(_names(RequestChooser([A, tiny], 1, weighted=True), range(1, 40_001)))["rare"]
    assert rare < 40  # about 13 expected


def test_the_simple_form_keeps_its_round_robin() -> None:
    cfg = TrafficConfig(url="http://h", out="o", run_id="r", paths=["/a", "/b", "/c"])
    chooser = RequestChooser(cfg.plan(), 5, weighted=cfg.requests is not None)
    assert [chooser.for_seq(seq).path for seq in range(1, 7)] == ["/b", "/c", "/a", "/b", "/c", "/a"]
    assert all(r.method == "GET" and r.name is None and r.expect is None for r in cfg.plan())


def test_one_request_is_always_that_one() -> None:
    chooser = RequestChooser([B], 3, weighted=True)
    assert {chooser.for_seq(seq).name for seq in range(1, 100)} == {"GET /status/418"}
    with pytest.raises(ValueError, match="at least one request"):
        RequestChooser([], 3, weighted=True)


def test_the_config_carries_bodies_through_json() -> None:
    binary = PlannedRequest(name="bin", method="PUT", path="/put", body=b"\x00\xff\r\n", headers={"X-A": "1"})
    cfg = TrafficConfig(url="https://10.0.0.1:8443", out="o", run_id="r", requests=[binary, B],
                        host="shop.example:8443")
    back = TrafficConfig.model_validate_json(cfg.model_dump_json())
    assert back == cfg and back.plan()[0].body == b"\x00\xff\r\n"
    assert back.server_name == "shop.example"  # SNI follows the Host header unless tls.server_name says
    named = cfg.model_copy(update={"tls": cfg.tls.model_copy(update={"server_name": "api.example"})})
    assert named.server_name == "api.example"
    assert TrafficConfig(url="https://h", out="o", run_id="r").server_name is None


@pytest.fixture(scope="module")
def wire() -> object:
    # wire imports gevent; the traffic process patches it, this process only builds bytes with it.
    from harness.traffic import wire

    return wire


def test_request_head_carries_method_headers_and_body(wire: object) -> None:
    head = wire.request_head("shop.example", "/post", "r-00000001", close_after=True,  # type: ignore[attr-defined]
                             method="POST", headers={"Content-Type": "application/json", "X-Mine": "yes"},
                             body=b'{"a":1}')
    text, _, body = head.partition(b"\r\n\r\n")
    lines = text.decode().split("\r\n")
    assert lines[0] == "POST /post HTTP/1.1"
    assert lines[1:] == ["Host: shop.example", "User-Agent: rollout-harness", "Content-Type: application/json",
                         "X-Mine: yes", "X-Request-ID: r-00000001", "Content-Length: 7", "Connection: close"]
    assert body == b'{"a":1}'


def test_a_get_has_no_body_and_a_post_always_says_its_length(wire: object) -> None:
    get = wire.request_head("h:80", "/", "r-1", close_after=False)  # type: ignore[attr-defined]
    assert get == b"GET / HTTP/1.1\r\nHost: h:80\r\nUser-Agent: rollout-harness\r\nX-Request-ID: r-1\r\n\r\n"
    empty_post = wire.request_head("h", "/p", "r-2", close_after=False, method="POST")  # type: ignore[attr-defined]
    assert b"Content-Length: 0\r\n" in empty_post and empty_post.endswith(b"\r\n\r\n")
    delete = wire.request_head("h", "/d", "r-3", close_after=False, method="DELETE")  # type: ignore[attr-defined]
    assert delete.startswith(b"DELETE /d HTTP/1.1\r\n") and b"Content-Length" not in delete


def test_tls_contexts(wire: object) -> None:
    import ssl

    strict = wire.tls_context(verify=True, server_name="api.example")  # type: ignore[attr-defined]
    assert strict.verify_mode == ssl.CERT_REQUIRED and strict.check_hostname and strict.server_name == "api.example"
    loose = wire.tls_context(verify=False)  # type: ignore[attr-defined]
    assert loose.verify_mode == ssl.CERT_NONE and not loose.check_hostname
