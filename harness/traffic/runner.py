"""Starts, watches and stops the traffic process from the harness process (no gevent here)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from harness.errors import TrafficError
from harness.log import get_logger
from harness.traffic.config import TrafficConfig

__all__ = ["TrafficProcess"]

log = get_logger(__name__)


class TrafficProcess:
    """One traffic process. Use as a context manager so it is always stopped, by PID."""

    def __init__(self, config: TrafficConfig, workdir: Path) -> None:
        self.config = config
        self.workdir = workdir
        self.status: dict[str, Any] = {}
        self.done: dict[str, Any] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._stderr_path = workdir / "traffic.log"

    def start(self) -> None:
        config_path = self.workdir / "traffic-config.json"
        config_path.write_text(self.config.model_dump_json(indent=2))
        Path(self.config.out).touch()
        stderr = self._stderr_path.open("ab")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "harness.traffic.worker", str(config_path)],
            stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL,
        )
        stderr.close()
        self._reader = threading.Thread(target=self._read, name="traffic-status", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for raw in self._proc.stdout:
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            if "status" in msg:
                self.status = msg["status"]
            if "done" in msg:
                self.done = msg["done"]

    def wait_first_answers(self, count: int, timeout_s: float) -> None:
        """Block until ``count`` requests were answered, or fail naming why."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check_alive()
            if self.status.get("ok", 0) + self.status.get("failed", 0) >= count:
                return
            time.sleep(0.2)
        raise TrafficError(
            f"the traffic process got no answers within {timeout_s:.0f} s (status {self.status})",
            f"check that {self.config.url} answers (curl {self.config.url}/) and see {self._stderr_path}",
        )

    def check_alive(self) -> None:
        if self._proc is not None and self._proc.poll() is not None and self.done is None:
            raise TrafficError(
                f"the traffic process exited early with code {self._proc.returncode}",
                f"see {self._stderr_path}",
            )

    def stop(self, timeout_s: float | None = None) -> dict[str, Any]:
        """Stop sending, let in-flight requests finish, and wait for the process to exit."""
        if self._proc is None:
            return {}
        limit = timeout_s if timeout_s is not None else self.config.timeout_s + 15
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
            raise TrafficError(
                f"the traffic process did not stop within {limit:.0f} s and was killed",
                f"see {self._stderr_path}; requests in flight at that moment may be missing",
            ) from None
        self._close_pipe()
        if self.done is None:
            raise TrafficError(
                f"the traffic process exited with code {self._proc.returncode} without its final report",
                f"see {self._stderr_path}",
            )
        return self.done

    def _close_pipe(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=5)
        if self._proc is not None and self._proc.stdout is not None and not self._proc.stdout.closed:
            self._proc.stdout.close()

    def __enter__(self) -> TrafficProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=self.config.timeout_s + 15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._close_pipe()
