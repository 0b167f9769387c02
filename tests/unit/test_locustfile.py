"""traffic.locustfile: what the harness checks before any cluster work (the file read, never
imported), and the real traffic process running a locustfile's RecordedUser classes against a small
local server: every request they make is one record, accounted like the built-in users' requests."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ScenarioError, TrafficError
from harness.evidence import REQUESTS_FILE, read_requests
from harness.locustfile import user_classes
from harness.scenario import load_scenario
from harness.traffic.config import TrafficConfig
from harness.traffic.runner import TrafficProcess
from harness.verdict import summarize_requests_file
from tests.unit.local_server import serving

LOCUSTFILE = '''
from locust import task

from harness.traffic.user import RecordedUser


class Browser(RecordedUser):
    weight = 3

    @task
    def browse(self) -> None:
        self.request("GET", "/products", name="list products")


class Buyer(RecordedUser):
    @task
    def buy(self) -> None:
        self.request("POST", "/cart", headers={"Content-Type": "application/json"}, body='{"sku": 42}',
                     expect_status=[201], name="add to cart")
'''


def write_scenario(tmp_path: Path, traffic: dict[str, Any], locustfile: str | None = LOCUSTFILE) -> Path:
    if locustfile is not None:
        (tmp_path / "users.py").write_text(locustfile)
    path = tmp_path / "scenario.yaml"
    path.write_text(json.dumps({"name": "own-users", "traffic": traffic,
                                "steps": [{"action": "rollout-restart"}]}))
    return path


def test_the_classes_that_subclass_recorded_user_are_found_without_running_the_file() -> None:
    assert user_classes(LOCUSTFILE) == ["Browser", "Buyer"]
    assert user_classes("import harness.traffic.user as u\nclass A(u.RecordedUser):\n    pass\n") == ["A"]
    assert user_classes("class A(object):\n    pass\n") == []


def test_a_locustfile_scenario_runs_its_users_closed_loop_with_the_file_made_absolute(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path, {"locustfile": "users.py"}))
    assert scenario.traffic.model == "closed"
    assert scenario.with_absolute_paths().traffic.locustfile == str(tmp_path / "users.py")


@pytest.mark.parametrize(("traffic", "locustfile", "said"), [
    ({"locustfile": "missing.py"}, None, "missing.py does not exist or is not a file"),
    ({"locustfile": "users.py"}, "class A(object):\n    pass\n", "defines no user class that subclasses RecordedUser"),
    ({"locustfile": "users.py"}, "class A(:\n", "is not Python the harness can read"),
    ({"locustfile": "users.py", "model": "open"}, LOCUSTFILE, "set traffic.model: closed"),
    ({"locustfile": "users.py", "requests": [{"path": "/"}]}, LOCUSTFILE,
     "traffic.requests and traffic.locustfile both say what to send"),
])
def test_a_locustfile_the_harness_cannot_use_is_refused_naming_why(tmp_path: Path, traffic: dict[str, Any],
                                                                   locustfile: str | None, said: str) -> None:
    with pytest.raises(ScenarioError) as raised:
        load_scenario(write_scenario(tmp_path, traffic, locustfile))
    assert said in str(raised.value), str(raised.value)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status = 201 if self.command == "POST" and body == b'{"sku": 42}' else 200
        self.send_response(status)
        self.send_header("X-Pod", "local-1")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST = _answer  # noqa: N815 - the names http.server calls

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    with serving(_Handler) as url:
        yield url


def test_a_locustfiles_users_are_recorded_and_accounted_like_the_built_in_ones(server: str, tmp_path: Path) -> None:
    (tmp_path / "users.py").write_text(LOCUSTFILE)
    config = TrafficConfig(url=server, out=str(tmp_path / REQUESTS_FILE), run_id="lf", rate=60, users=8,
                           timeout_s=2.0, model="closed", locustfile=str(tmp_path / "users.py"))
    with TrafficProcess(config, tmp_path) as traffic:
        traffic.wait_first_answers(20, 30)
        time.sleep(2.0)
        report = traffic.stop()
    summary = summarize_requests_file(tmp_path / REQUESTS_FILE)
    assert (summary.digest, summary.lines) == (report.digest, report.lines)
    assert summary.counts.total == report.sent == report.max_seq and summary.ids.missing(report.max_seq) == 0
    # Each class runs once per connection mode, its users shared out by its weight (3:1 of 4 per mode).
    assert set(report.by_user) == {"Browser-keep-alive", "Buyer-keep-alive", "Browser-new", "Buyer-new"}
    assert {u: c.total for u, c in summary.counts.by_user.items()} == report.by_user
    records = list(read_requests(tmp_path / REQUESTS_FILE))
    by_req = Counter(r.req for r in records)
    assert set(by_req) == {"list products", "add to cart"} and by_req["list products"] > by_req["add to cart"]
    assert all(r.ok for r in records), [r for r in records if not r.ok][:3]
    assert {r.status for r in records if r.req == "add to cart"} == {201}
    assert all(r.expect == [201] for r in records if r.req == "add to cart")
    assert {r.conn.value for r in records} == {"keep-alive", "new"}
    assert summary.counts.by_req["add to cart"].ok == by_req["add to cart"]


def test_a_locustfile_that_fails_to_load_ends_the_traffic_naming_its_error(server: str, tmp_path: Path) -> None:
    (tmp_path / "users.py").write_text("import no_such_module_here\n" + LOCUSTFILE)
    config = TrafficConfig(url=server, out=str(tmp_path / REQUESTS_FILE), run_id="lf", rate=10, users=2,
                           timeout_s=2.0, model="closed", locustfile=str(tmp_path / "users.py"))
    with TrafficProcess(config, tmp_path) as traffic, pytest.raises(TrafficError) as raised:
        traffic.wait_first_answers(1, 30)
    assert "No module named 'no_such_module_here'" in raised.value.problem, raised.value.problem
    assert str(tmp_path / "traffic.log") in raised.value.fix
