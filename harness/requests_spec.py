"""The scenario's own requests (``traffic.requests``) and TLS settings (``traffic.tls``).

A request names its method, path, headers, body (inline, or a file relative to the scenario file),
weight and the statuses that count as its answers. Everything a run would refuse is refused when the
scenario is loaded: a body file is read (and held to ``MAX_BODY_BYTES``) then too, so a run never
starts with a body it cannot send. ``planned_requests`` turns them into what the traffic process
sends (``harness.traffic.config.PlannedRequest``).
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator, model_validator

from harness.disruptions._base import Params
from harness.errors import ScenarioError
from harness.safe_yaml import shorten
from harness.traffic.config import PlannedRequest, TlsPlan

if TYPE_CHECKING:
    from harness.scenario import Scenario

__all__ = ["MAX_BODY_BYTES", "METHODS", "RequestSpec", "TlsSpec", "absolute_traffic_paths", "planned_requests",
           "probe_tls", "request_problems", "tls_plan", "unique_labels"]

MAX_BODY_BYTES = 1 << 20  # a request body, inline or from a file
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_NO_CONTROL = r"^[^\x00-\x1f\x7f]+$"
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 field name
_HEADER_VALUE = re.compile(r"[\x20-\x7e]*")  # printable ASCII: no control character can split a header
# Headers the harness sets itself on every request, and why a scenario may not.
_RESERVED = {
    "host": "set traffic.host instead (one Host header for every request)",
    "content-length": "it is computed from the body",
    "transfer-encoding": "bodies are sent with Content-Length",
    "connection": "the connection mode (traffic.connection_modes) decides it",
    "x-request-id": "the harness numbers every request with it",
}


class RequestSpec(Params):
    name: str | None = Field(None, min_length=1, max_length=80, pattern=_NO_CONTROL)
    method: str = "GET"
    path: str = Field(max_length=2048)
    headers: dict[str, str] = Field(default_factory=dict, max_length=50)
    body: str | None = Field(None, max_length=MAX_BODY_BYTES)
    body_file: str | None = Field(None, min_length=1, max_length=4096, pattern=_NO_CONTROL)
    weight: float = Field(1.0, gt=0, le=1_000_000)
    expect_status: list[int] | None = Field(None, min_length=1, max_length=50)

    @field_validator("method")
    @classmethod
    def _known_method(cls, method: str) -> str:
        if method not in METHODS:
            raise ValueError(f"not a method traffic sends; one of {', '.join(METHODS)} (upper case)")
        return method

    @field_validator("path")
    @classmethod
    def _request_path(cls, path: str) -> str:
        if not re.fullmatch(r"/[^\s\x00-\x1f\x7f]*", path):
            raise ValueError("not a request path: start with '/', no spaces or control characters")
        return path

    @field_validator("headers")
    @classmethod
    def _header_fields(cls, headers: dict[str, str]) -> dict[str, str]:
        seen: set[str] = set()
        for name, value in headers.items():
            if not _TOKEN.fullmatch(name):
                raise ValueError(f"header name {shorten(name)} is not an HTTP field name (letters, digits, - and "
                                 "a few marks; no spaces or colons)")
            lower = name.lower()
            if lower in _RESERVED:
                raise ValueError(f"header {name} is set by the harness: {_RESERVED[lower]}")
            if lower in seen:
                raise ValueError(f"header {name} is named twice (names are case-insensitive)")
            seen.add(lower)
            if not _HEADER_VALUE.fullmatch(value):
                raise ValueError(f"the value of header {name} holds a control or non-ASCII character")
        return headers

    @field_validator("body")
    @classmethod
    def _body_size(cls, body: str | None) -> str | None:
        if body is not None and len(body.encode("utf-8")) > MAX_BODY_BYTES:
            raise ValueError(f"the body is more than {MAX_BODY_BYTES} bytes in UTF-8")
        return body

    @field_validator("expect_status")
    @classmethod
    def _statuses(cls, statuses: list[int] | None) -> list[int] | None:
        if statuses is None:
            return None
        for status in statuses:
            if not 100 <= status <= 599:
                raise ValueError(f"{status} is not an HTTP status (100..599)")
        if len(set(statuses)) != len(statuses):
            raise ValueError("name each status once")
        return statuses

    @model_validator(mode="after")
    def _one_body(self) -> RequestSpec:
        if self.body is not None and self.body_file is not None:
            raise ValueError("body and body_file are both set; give the body inline or from a file, not both")
        return self

    @property
    def label(self) -> str:
        """What records and reports call this request: its name, else method and path."""
        return self.name if self.name is not None else f"{self.method} {self.path}"


class TlsSpec(Params):
    verify: bool = True
    ca_file: str | None = Field(None, min_length=1, max_length=4096, pattern=_NO_CONTROL)
    server_name: str | None = Field(None, max_length=253, pattern=r"^[A-Za-z0-9]([A-Za-z0-9.:-]*[A-Za-z0-9])?$")

    @model_validator(mode="after")
    def _ca_needs_verify(self) -> TlsSpec:
        if self.ca_file is not None and not self.verify:
            raise ValueError("ca_file is set but verify is false, so it would never be used; drop one of them")
        return self


def unique_labels(requests: list[RequestSpec] | None) -> list[RequestSpec] | None:
    """Records name their request by its label, so two requests may not share one."""
    if requests is None:
        return None
    seen: set[str] = set()
    for request in requests:
        if request.label in seen:
            raise ValueError(f"two requests are both called {shorten(request.label)}; give one a name")
        seen.add(request.label)
    return requests


_Problem = tuple[tuple[str | int, ...], Any, str]


def _file_problem(path: Path) -> str | None:
    try:
        if not path.is_file():
            return f"{path} does not exist or is not a file"
        size = path.stat().st_size
    except OSError as exc:
        return f"{path} cannot be read: {exc.strerror}"
    if size > MAX_BODY_BYTES:
        return f"{path} is {size} bytes, more than the {MAX_BODY_BYTES} a request body may have"
    return None


def request_problems(scenario: Scenario) -> Iterator[_Problem]:
    """What the requests need of the rest of the scenario and of the files they name."""
    traffic = scenario.traffic
    # Paths other than the default: a run's recorded scenario (replayed) holds the default ["/"] too.
    if traffic.requests is not None and scenario.target.paths != ["/"]:
        yield (("target", "paths"), scenario.target.paths,
               "traffic.requests and target.paths are both set; give the requests in traffic.requests alone "
               "(target.paths is the simple form: a GET of each path in turn)")
    for i, request in enumerate(traffic.requests or ()):
        if request.body_file is not None:
            problem = _file_problem(scenario.resolve(request.body_file))
            if problem is not None:
                yield (("traffic", "requests", i, "body_file"), request.body_file,
                       f"body_file {problem} (paths are relative to the scenario file's directory)")
    ca_file = traffic.tls.ca_file
    if ca_file is not None and not scenario.resolve(ca_file).is_file():
        yield (("traffic", "tls", "ca_file"), ca_file,
               f"{scenario.resolve(ca_file)} does not exist or is not a file (paths are relative to the scenario "
               "file's directory)")


def _body(scenario: Scenario, request: RequestSpec) -> bytes:
    if request.body_file is None:
        return (request.body or "").encode("utf-8")
    path = scenario.resolve(request.body_file)
    problem = _file_problem(path)
    if problem is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            problem = f"{path} cannot be read: {exc.strerror}"
        else:
            if len(data) <= MAX_BODY_BYTES:
                return data
            problem = f"{path} is {len(data)} bytes, more than the {MAX_BODY_BYTES} a request body may have"
    raise ScenarioError(f"traffic.requests ({request.label}): body_file {problem}",
                        "correct body_file (relative to the scenario file's directory) or the file")


def planned_requests(scenario: Scenario) -> list[PlannedRequest] | None:
    """The requests the traffic process sends, bodies read; None for the simple form (target.paths)."""
    requests = scenario.traffic.requests
    if requests is None:
        return None
    return [PlannedRequest(name=r.label, method=r.method, path=r.path, headers=dict(r.headers),
                           body=_body(scenario, r), weight=r.weight,
                           expect=None if r.expect_status is None else list(r.expect_status))
            for r in requests]


def tls_plan(scenario: Scenario) -> TlsPlan:
    tls = scenario.traffic.tls
    ca_file = None if tls.ca_file is None else str(scenario.resolve(tls.ca_file))
    return TlsPlan(verify=tls.verify, ca_file=ca_file, server_name=tls.server_name)


def absolute_traffic_paths(scenario: Scenario) -> dict[str, Any]:
    """The traffic section's file paths made absolute, as ``Scenario.with_absolute_paths`` records them."""
    traffic = scenario.traffic
    update: dict[str, Any] = {}
    if traffic.requests is not None:
        update["requests"] = [r if r.body_file is None else r.model_copy(
            update={"body_file": str(scenario.resolve(r.body_file))}) for r in traffic.requests]
    if traffic.tls.ca_file is not None:
        update["tls"] = traffic.tls.model_copy(update={"ca_file": str(scenario.resolve(traffic.tls.ca_file))})
    if traffic.locustfile is not None:
        update["locustfile"] = str(scenario.resolve(traffic.locustfile))
    return update


def probe_tls(scenario: Scenario) -> ssl.SSLContext:
    """The TLS context of the harness's own readiness probe (urllib, before traffic starts), as the
    traffic process checks: not at all when verify is false. The probe connects by the URL's host,
    so with a server_name set only the chain is checked there; traffic checks the name too."""
    plan = tls_plan(scenario)
    context = ssl.create_default_context(cafile=plan.ca_file)
    if not plan.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif plan.server_name is not None:
        context.check_hostname = False
    return context
