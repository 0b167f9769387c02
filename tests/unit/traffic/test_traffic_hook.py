"""The traffic process disables geventhttpclient's silent re-send through a private hook; this fails
the moment a geventhttpclient release removes or reshapes that hook."""

from __future__ import annotations

import subprocess
import sys


def test_the_private_retry_hook_exists_with_its_tested_shape() -> None:
    # In a child process: importing gevent-based modules here must not leak into the test process.
    code = (
        "import inspect, geventhttpclient.client as c\n"
        "hook = c._may_retry_after_send_error\n"
        "assert callable(hook)\n"
        "print(list(inspect.signature(hook).parameters))\n"
        "print(hook('GET'), hook('POST'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "['method']"
    assert out[1] == "True False", "the hook no longer decides re-sends of idempotent requests"


def test_the_worker_replaces_the_hook_with_never_retry() -> None:
    code = (
        "import harness.traffic.worker, geventhttpclient.client as c\n"
        "print(c._may_retry_after_send_error('GET'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
