"""Users of go-httpbin written as Locust users, for `traffic.locustfile`: each `self.request` is one
request the harness records, accounts and judges like its own (see harness/traffic/user.py)."""

from __future__ import annotations

import json

from locust import task

from harness.traffic.user import RecordedUser


class Reader(RecordedUser):
    """Most users read: an echo of the request, and a fixed-size body."""

    weight = 3

    @task(2)
    def echo(self) -> None:
        self.request("GET", "/get?from=locustfile", name="read echo")

    @task
    def fixed_bytes(self) -> None:
        self.request("GET", "/bytes/256", name="read 256 bytes")


class Writer(RecordedUser):
    """Some users post an order as JSON; go-httpbin answers 200 with what it got."""

    @task
    def order(self) -> None:
        self.request("POST", "/post", headers={"Content-Type": "application/json"},
                     body=json.dumps({"order": 7, "items": ["a", "b"]}), expect_status=[200], name="post order")
