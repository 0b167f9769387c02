"""What the traffic process is told to do. Shared by the runner and the worker; no gevent here."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from harness.traffic.schedule import default_in_flight_cap

__all__ = ["PlannedRequest", "TlsPlan", "TrafficConfig"]


class PlannedRequest(BaseModel):
    """One request traffic sends, as the traffic process builds it: checked by the scenario already."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, ser_json_bytes="base64",
                              val_json_bytes="base64")

    name: str | None = Field(None, description="Recorded as the record's req; None for target.paths")
    method: str = "GET"
    path: str
    headers: dict[str, str] = Field(default_factory=dict)
    body: bytes = b""
    weight: float = Field(1.0, gt=0)
    expect: list[int] | None = Field(None, description="Statuses that are answers; None: any 2xx or 3xx")


class TlsPlan(BaseModel):
    """How an https target's certificate is checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    verify: bool = True
    ca_file: str | None = None  # absolute; None: the system's CAs
    server_name: str | None = None  # SNI and the name checked; None: the Host header's, else the URL's host


class TrafficConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    url: str = Field(description="Base URL, e.g. http://127.0.0.1:30080")
    out: str = Field(description="Path of requests.jsonl")
    run_id: str
    rate: float = Field(200.0, gt=0, description="Target requests per second over all users")
    users: int = Field(20, ge=1)
    keepalive_share: float = Field(0.5, ge=0, le=1, description="Share of users on keep-alive connections")
    paths: list[str] = Field(default_factory=lambda: ["/"], min_length=1)
    # The scenario's traffic.requests; None: a GET of each of ``paths`` in turn.
    requests: list[PlannedRequest] | None = Field(None, min_length=1)
    # The scenario's traffic.locustfile, absolute: its RecordedUser classes send instead of the built-in users.
    locustfile: str | None = None
    host: str | None = Field(None, description="The Host header every request carries; None: the URL's")
    tls: TlsPlan = Field(default_factory=TlsPlan)
    timeout_s: float = Field(5.0, gt=0)
    connect_timeout_s: float = Field(3.0, gt=0)
    max_duration_s: float = Field(1800.0, gt=0, description="The process stops by itself after this long")
    # open: each connection mode sends on a fixed schedule whatever is outstanding (the loss a steady
    # stream of clients sees); closed: each user waits for its answer before it sends again.
    model: Literal["open", "closed"] = "open"
    arrivals: Literal["uniform", "poisson"] = Field("uniform", description="Open model: the schedule's gaps")
    seed: int = Field(0, ge=0, description="Seeds the Poisson schedule: the same seed, the same due times")
    max_in_flight: int | None = Field(None, ge=1, description="Open model: requests in flight per connection "
                                      "mode at most; default ceil(rate x timeout_s x 1.2) + users")
    # Only for measuring the cost of the records themselves (benchmarks): the same users, no records.
    record: bool = True

    def plan(self) -> list[PlannedRequest]:
        """Every request traffic may send, in the order the scenario names them."""
        if self.requests is not None:
            return list(self.requests)
        return [PlannedRequest(path=path) for path in self.paths]

    @property
    def server_name(self) -> str | None:
        """The name TLS sends (SNI) and checks the certificate against; None: the URL's host."""
        if self.tls.server_name is not None:
            return self.tls.server_name
        return urlsplit(f"//{self.host}").hostname if self.host is not None else None

    @property
    def spawn_rate(self) -> float:
        """Users start spread over one of their own periods (at most 10 s), so that slow, paced users
        do not all send in the same instant and leave the rest of each period empty."""
        period = self.users / self.rate  # seconds between two requests of one user
        return self.users / min(max(period, 0.1), 10.0)

    @property
    def users_by_mode(self) -> dict[str, int]:
        """How many users each connection mode gets; every user sends at ``rate / users``, so these
        fix each mode's configured rate exactly (the user classes use them as Locust's fixed_count)."""
        keepalive = round(self.users * self.keepalive_share)
        if 0 < self.keepalive_share < 1:
            keepalive = min(max(keepalive, 1), self.users - 1)
        split = {"keep-alive": keepalive, "new": self.users - keepalive}
        return {mode: n for mode, n in split.items() if n > 0}

    @property
    def mode_rates(self) -> dict[str, float]:
        return {mode: self.rate * n / self.users for mode, n in self.users_by_mode.items()}

    def in_flight_cap(self, mode: str) -> int:
        """Open model: how many requests of ``mode`` may be in flight at once."""
        if self.max_in_flight is not None:
            return self.max_in_flight
        return default_in_flight_cap(self.mode_rates[mode], self.timeout_s, self.users_by_mode[mode])
