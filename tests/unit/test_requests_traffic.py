"""The real traffic process sends the scenario's own requests: method, headers, body, the Host header,
and TLS as traffic.tls says, in both traffic models, against a small local server that notes what
it received."""

from __future__ import annotations

import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

import pytest

from harness.evidence import REQUESTS_FILE, read_requests
from harness.traffic.config import PlannedRequest, TlsPlan, TrafficConfig
from harness.traffic.runner import TrafficProcess

BODY = b'{"order": 42}'
REQUESTS = [
    PlannedRequest(name="POST /post", method="POST", path="/post", body=BODY, weight=3,
                   headers={"Content-Type": "application/json", "X-Mine": "yes"}),
    PlannedRequest(name="GET /status/418", path="/status/418", expect=[418]),
    PlannedRequest(name="HEAD /", method="HEAD", path="/"),
]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, str | None, str | None, bytes]]

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append((self.command, self.path, self.headers.get("Host"), self.headers.get("X-Mine"), body))
        status = 418 if self.path == "/status/418" else 200
        answer = b"short and stout" if status == 418 else b'{"ok":true}'
        self.send_response(status)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer)

    do_GET = do_POST = do_HEAD = _answer  # noqa: N815 - the names http.server calls

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for shop.example (its own CA)."""
    key, crt = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(crt),
                    "-days", "1", "-subj", "/CN=shop.example", "-addext", "subjectAltName=DNS:shop.example"],
                   check=True, capture_output=True, timeout=60)
    return key, crt


def _serve(tls: tuple[Path, Path] | None) -> tuple[ThreadingHTTPServer, list[Any], str]:
    seen: list[Any] = []
    handler = type("Handler", (_Handler,), {"seen": seen})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    scheme = "http"
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile=str(tls[1]), keyfile=str(tls[0]))
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        scheme = "https"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, seen, f"{scheme}://127.0.0.1:{httpd.server_address[1]}"


@pytest.fixture
def plain() -> Iterator[tuple[list[Any], str]]:
    httpd, seen, url = _serve(None)
    yield seen, url
    httpd.shutdown()
    httpd.server_close()


def _traffic(url: str, tmp_path: Path, *, model: Literal["open", "closed"] = "open", tls: TlsPlan | None = None,
             wait: bool = True) -> list[Any]:
    tmp_path.mkdir(exist_ok=True)
    cfg = TrafficConfig(url=url, out=str(tmp_path / REQUESTS_FILE), run_id="q1", rate=40, users=4, timeout_s=2.0,
                        requests=REQUESTS, host="shop.example:8443", seed=3, model=model,
                        tls=tls or TlsPlan())
    with TrafficProcess(cfg, tmp_path) as traffic:
        if wait:
            traffic.wait_first_answers(20, 30)
        else:
            time.sleep(2.0)
        traffic.stop()
    return list(read_requests(tmp_path / REQUESTS_FILE))


@pytest.mark.parametrize("model", ["open", "closed"])
def test_each_request_is_sent_as_the_scenario_says(plain: tuple[list[Any], str], tmp_path: Path,
                                                 model: Literal["open", "closed"]) -> None:
    seen, url = plain
    records = _traffic(url, tmp_path, model=model)
    assert records and all(r.error is None for r in records), [r.detail for r in records if r.error][:3]
    by_name = {r.name: r for r in REQUESTS}
    for rec in records:
        sent = by_name[rec.req]
        assert rec.expect == sent.expect
        assert rec.ok, rec  # the 418 is what its request expects
    assert {r.status for r in records if r.req == "GET /status/418"} == {418}
    got = {(method, path, host, mine, body) for method, path, host, mine, body in seen}
    assert ("POST", "/post", "shop.example:8443", "yes", BODY) in got
    assert ("GET", "/status/418", "shop.example:8443", None, b"") in got
    assert ("HEAD", "/", "shop.example:8443", None, b"") in got
    assert {host for _, _, host, _, _ in seen} == {"shop.example:8443"}


def test_a_self_signed_certificate_is_accepted_only_as_traffic_tls_says(cert: tuple[Path, Path],
                                                                         tmp_path: Path) -> None:
    httpd, seen, url = _serve(cert)
    try:
        loose = _traffic(url, tmp_path / "loose", tls=TlsPlan(verify=False))
        assert loose and all(r.ok for r in loose), [r.detail for r in loose if not r.ok][:3]
        assert seen and {host for _, _, host, _, _ in seen} == {"shop.example:8443"}
        pinned = _traffic(url, tmp_path / "pinned", model="closed",
                          tls=TlsPlan(verify=True, ca_file=str(cert[1]), server_name="shop.example"))
        assert pinned and all(r.ok for r in pinned), [r.detail for r in pinned if not r.ok][:3]
        strict = _traffic(url, tmp_path / "strict", wait=False)  # the system's CAs do not know it
        assert strict and not any(r.ok for r in strict)
        assert all("CERTIFICATE_VERIFY_FAILED" in (r.detail or "") for r in strict), strict[0].detail
    finally:
        httpd.shutdown()
        httpd.server_close()
