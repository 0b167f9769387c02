"""traffic.requests, traffic.host and traffic.tls in a scenario: what loads, what is refused and how
the refusal reads, and what the traffic process is given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.errors import ScenarioError
from harness.requests_spec import MAX_BODY_BYTES, planned_requests, tls_plan
from harness.scenario import Scenario, load_scenario, parse_scenario


def _scenario(tmp_path: Path, traffic: dict[str, Any], **extra: Any) -> Scenario:
    return parse_scenario({"name": "own", "steps": [{"action": "rollout-restart"}], "traffic": traffic, **extra},
                          str(tmp_path / "own.yaml"))


def _refusal(tmp_path: Path, traffic: dict[str, Any], **extra: Any) -> str:
    with pytest.raises(ScenarioError) as caught:
        _scenario(tmp_path, traffic, **extra)
    return caught.value.problem


def test_requests_load_with_their_defaults_and_labels(tmp_path: Path) -> None:
    scenario = _scenario(tmp_path, {"requests": [
        {"method": "POST", "path": "/post", "body": '{"a": 1}', "headers": {"Content-Type": "application/json"},
         "weight": 3},
        {"path": "/status/418", "expect_status": [418]},
        {"name": "health", "method": "HEAD", "path": "/"},
    ]})
    requests = scenario.traffic.requests
    assert requests is not None
    assert [r.label for r in requests] == ["POST /post", "GET /status/418", "health"]
    assert [r.weight for r in requests] == [3.0, 1.0, 1.0]
    assert [r.expect_status for r in requests] == [None, [418], None]
    planned = planned_requests(scenario)
    assert planned is not None
    assert [(p.name, p.method, p.path, p.body, p.expect) for p in planned] == [
        ("POST /post", "POST", "/post", b'{"a": 1}', None), ("GET /status/418", "GET", "/status/418", b"", [418]),
        ("health", "HEAD", "/", b"", None)]
    assert planned[0].headers == {"Content-Type": "application/json"}


def test_the_simple_form_is_no_request_list(tmp_path: Path) -> None:
    scenario = _scenario(tmp_path, {}, target={"paths": ["/a", "/b"]})
    assert scenario.traffic.requests is None and planned_requests(scenario) is None


@pytest.mark.parametrize(("request_", "says"), [
    ({"method": "get", "path": "/"}, "traffic.requests[0].method (value 'get'): not a method traffic sends"),
    ({"method": "CONNECT", "path": "/"}, "one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
    ({"path": "post"}, "traffic.requests[0].path (value 'post'): not a request path: start with '/'"),
    ({"path": "/a b"}, "not a request path"),
    ({"path": "/", "headers": {"Bad Name": "x"}}, "header name 'Bad Name' is not an HTTP field name"),
    ({"path": "/", "headers": {"X-A": "line\r\nX-Injected: 1"}}, "the value of header X-A holds a control"),
    ({"path": "/", "headers": {"host": "example.com"}}, "header host is set by the harness: set traffic.host"),
    ({"path": "/", "headers": {"Content-Length": "3"}}, "it is computed from the body"),
    ({"path": "/", "headers": {"X-Request-ID": "mine"}}, "the harness numbers every request with it"),
    ({"path": "/", "headers": {"X-A": "1", "x-a": "2"}}, "header x-a is named twice"),
    ({"path": "/", "weight": 0}, "traffic.requests[0].weight (value 0): Input should be greater than 0"),
    ({"path": "/", "expect_status": [99]}, "99 is not an HTTP status (100..599)"),
    ({"path": "/", "expect_status": [600]}, "600 is not an HTTP status"),
    ({"path": "/", "expect_status": [200, 200]}, "name each status once"),
    ({"path": "/", "expect_status": []}, "traffic.requests[0].expect_status"),
    ({"path": "/", "body": "{}", "body_file": "b.json"}, "body and body_file are both set"),
    ({"path": "/", "verb": "GET"}, "traffic.requests[0].verb"),
])
def test_a_bad_request_is_refused_naming_its_field(tmp_path: Path, request_: dict[str, Any], says: str) -> None:
    assert says in _refusal(tmp_path, {"requests": [request_]})


def test_two_requests_need_two_labels(tmp_path: Path) -> None:
    problem = _refusal(tmp_path, {"requests": [{"path": "/a"}, {"path": "/a", "weight": 2}]})
    assert "two requests are both called 'GET /a'; give one a name" in problem
    named = _scenario(tmp_path, {"requests": [{"path": "/a"}, {"name": "heavy", "path": "/a", "weight": 2}]})
    assert [r.label for r in named.traffic.requests or []] == ["GET /a", "heavy"]


def test_requests_and_paths_together_are_refused(tmp_path: Path) -> None:
    problem = _refusal(tmp_path, {"requests": [{"path": "/a"}]}, target={"paths": ["/health"]})
    assert "traffic.requests and target.paths are both set" in problem


def test_a_body_file_is_read_relative_to_the_scenario_file(tmp_path: Path) -> None:
    (tmp_path / "bodies").mkdir()
    (tmp_path / "bodies" / "order.bin").write_bytes(b"\x00\xffbinary")
    (tmp_path / "own.yaml").write_text("name: own\nsteps: [{action: rollout-restart}]\ntraffic:\n  requests:\n"
                                       "    - {method: PUT, path: /put, body_file: bodies/order.bin}\n")
    scenario = load_scenario(tmp_path / "own.yaml")
    planned = planned_requests(scenario)
    assert planned is not None and planned[0].body == b"\x00\xffbinary"
    # The run records the scenario with the path made absolute, so a replay finds the same file.
    recorded = scenario.with_absolute_paths()
    assert recorded.traffic.requests is not None
    assert recorded.traffic.requests[0].body_file == str(tmp_path / "bodies" / "order.bin")
    again = parse_scenario(recorded.model_dump(mode="json"), "/elsewhere/scenario.json")
    assert planned_requests(again) == planned


def test_a_missing_or_oversized_body_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    problem = _refusal(tmp_path, {"requests": [{"method": "POST", "path": "/post", "body_file": "gone.json"}]})
    assert f"traffic.requests[0].body_file (value 'gone.json'): body_file {tmp_path / 'gone.json'} does not exist" \
        in problem
    big = tmp_path / "big.json"
    big.write_bytes(b"x" * (MAX_BODY_BYTES + 1))
    problem = _refusal(tmp_path, {"requests": [{"method": "POST", "path": "/post", "body_file": "big.json"}]})
    assert f"{big} is {MAX_BODY_BYTES + 1} bytes, more than the {MAX_BODY_BYTES}" in problem


def test_a_body_file_that_changed_after_load_is_refused_at_run_time(tmp_path: Path) -> None:
    body = tmp_path / "b.json"
    body.write_text("{}")
    scenario = _scenario(tmp_path, {"requests": [{"method": "POST", "path": "/post", "body_file": "b.json"}]})
    body.unlink()
    with pytest.raises(ScenarioError, match=r"POST /post\): body_file .*b\.json does not exist"):
        planned_requests(scenario)


def test_host_and_tls(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not read here")
    scenario = _scenario(tmp_path, {"host": "shop.example:8443",
                                    "tls": {"ca_file": "ca.pem", "server_name": "shop.example"}})
    assert scenario.traffic.host == "shop.example:8443"
    plan = tls_plan(scenario)
    assert (plan.verify, plan.ca_file, plan.server_name) == (True, str(tmp_path / "ca.pem"), "shop.example")
    assert tls_plan(_scenario(tmp_path, {})).verify is True  # checked unless the scenario says otherwise
    assert "ca_file is set but verify is false" in _refusal(tmp_path, {"tls": {"verify": False, "ca_file": "ca.pem"}})
    assert "traffic.tls.ca_file (value 'nope.pem')" in _refusal(tmp_path, {"tls": {"ca_file": "nope.pem"}})
    assert "traffic.host" in _refusal(tmp_path, {"host": "a b"})
    assert "traffic.tls.verify" in _refusal(tmp_path, {"tls": {"verify": "no"}})
