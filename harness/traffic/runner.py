"""Starts, watches and stops the traffic process from the harness process (no gevent here)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from harness.errors import TrafficError
from harness.evidence import TrafficReport
from harness.log import get_logger
from harness.traffic.config import TrafficConfig
from harness.traffic.protocol import GO_LINE, HOLD_FLAG, TrafficStatus, parse_line

__all__ = ["TrafficProcess"]

log = get_logger(__name__)

# After the process exited, how long its last stdout lines may take to be read.
_READER_GRACE_S = 5.0


class TrafficProcess:
    """One traffic process. Use as a context manager so it is always stopped, by PID.

    ``status`` is its latest status line (all zero before the first); ``report`` its final report,
    once it sent one. Traffic must flow until ``stop()``: a process that ends before, for whatever
    reason, makes ``check_alive()`` and ``stop()`` raise TrafficError."""

    def __init__(self, config: TrafficConfig, workdir: Path) -> None:
        self.config = config
        self.workdir = workdir
        self.status = TrafficStatus()
        self.report: TrafficReport | None = None
        self._bad_message: str | None = None
        self._stop_requested = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._stderr_path = workdir / "traffic.log"
        self._held = False

    def start(self, *, hold: bool = False) -> None:
        """Start the process. With ``hold`` it loads everything and then waits for ``go()`` before its
        schedule begins, so that its start-up overlaps the deployment."""
        config_path = self.workdir / "traffic-config.json"
        config_path.write_text(self.config.model_dump_json(indent=2))
        Path(self.config.out).touch()
        stderr = self._stderr_path.open("ab")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "harness.traffic.worker", str(config_path), *([HOLD_FLAG] if hold else [])],
            stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.PIPE if hold else subprocess.DEVNULL,
        )
        self._held = hold
        stderr.close()
        self._reader = threading.Thread(target=self._read, name="traffic-status", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for raw in self._proc.stdout:
            try:
                msg = parse_line(raw)
            except ValueError as exc:
                if self._bad_message is None:
                    self._bad_message = f"{exc} in {raw[:200].decode(errors='replace').strip()}"
                    log.warning("the traffic process sent a message that does not hold what it must: %s",
                                self._bad_message)
                continue
            if isinstance(msg, TrafficStatus):
                self.status = msg
            elif isinstance(msg, TrafficReport):
                self.report = msg

    def wait_first_answers(self, count: int, timeout_s: float) -> None:
        """Block until ``count`` requests were answered, or fail naming why."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check_alive()
            if self.status.ok + self.status.failed >= count:
                return
            time.sleep(0.2)
        raise TrafficError(
            f"the traffic process got no answers within {timeout_s:.0f} s (status {self.status.model_dump()})",
            f"check that {self.config.url} answers (curl {self.config.url}/) and see {self._stderr_path}",
        )

    def check_alive(self) -> None:
        """Raise TrafficError if the process ended before ``stop()`` was called, whatever ended it:
        traffic that stops on its own before the run's steps end leaves the disruption unmeasured."""
        if self._proc is None or self._stop_requested:
            return
        code = self._proc.poll()
        if code is not None:
            raise self._ended_early(code)

    def _ended_early(self, code: int) -> TrafficError:
        self._join_reader()
        report = self.report
        if report is not None and report.ended == "max_duration":
            return TrafficError(
                f"the traffic process stopped by itself when its max_duration_s of "
                f"{self.config.max_duration_s:g} s ran out, before the run's steps ended "
                f"({report.sent} requests sent)",
                "raise traffic.max_duration_s in the scenario above the run's whole length (warm-up, steps, "
                "settle and min_duration_s)",
            )
        if report is not None:
            return TrafficError(
                f"the traffic process was stopped from outside the harness before the run's steps ended "
                f"(exit code {code}, {report.sent} requests sent)",
                f"make sure nothing else signals the traffic process; see {self._stderr_path}",
            )
        said = self._last_words()
        return TrafficError(
            f"the traffic process exited early with code {code}, before the run's steps ended and "
            "without its final report" + (f"; its last words: {said}" if said else ""),
            f"see {self._stderr_path}",
        )

    def _last_words(self) -> str | None:
        """The last line the process wrote to its log (a traceback's last line names the error)."""
        try:
            lines = [line.strip() for line in self._stderr_path.read_text(errors="replace").splitlines()]
        except OSError:
            return None
        said = [line for line in lines if line]
        return said[-1][:300] if said else None

    def stop(self, timeout_s: float | None = None) -> TrafficReport:
        """Stop sending, let in-flight requests finish, wait for the process to exit, and return its
        final report. Raises TrafficError when there is no trustworthy report, or when the process had
        already ended by itself (its report, if any, stays in ``report``)."""
        if self._proc is None:
            raise TrafficError("the traffic process was never started, so it has no report",
                               "start it (use TrafficProcess as a context manager) before stopping it")
        code = self._proc.poll()
        already_stopping = self._stop_requested
        self._stop_requested = True
        if code is not None and not already_stopping:
            raise self._ended_early(code)
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
        return self._final_report(self._proc.returncode)

    def _final_report(self, code: int) -> TrafficReport:
        if self._bad_message is not None:
            raise TrafficError(f"the traffic process sent an unreadable message: {self._bad_message}",
                               f"see {self._stderr_path}")
        report = self.report
        if report is None:
            raise TrafficError(
                f"the traffic process exited with code {code} without its final report",
                f"see {self._stderr_path}",
            )
        if code != 0:
            raise TrafficError(f"the traffic process exited with code {code} after its final report",
                               f"see {self._stderr_path}")
        if report.ended == "max_duration":
            raise TrafficError(
                f"the traffic process stopped sending when its max_duration_s of {self.config.max_duration_s:g} s "
                "ran out, not when it was told to",
                "raise traffic.max_duration_s in the scenario above the run's whole length",
            )
        return report

    def _join_reader(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=_READER_GRACE_S)

    def _close_pipe(self) -> None:
        self._join_reader()
        if self._proc is not None and self._proc.stdout is not None and not self._proc.stdout.closed:
            self._proc.stdout.close()

    def go(self) -> None:
        """Let a held process begin sending."""
        if self._held:
            self._held = False
            self._release(GO_LINE)

    def _release(self, line: bytes) -> None:
        stdin = self._proc.stdin if self._proc is not None else None
        if stdin is None or stdin.closed:
            return
        try:
            stdin.write(line)
            stdin.flush()
        except BrokenPipeError:
            pass  # the process ended already: check_alive says how
        finally:
            stdin.close()

    def __enter__(self) -> TrafficProcess:
        if self._proc is None:
            self.start()
        self.go()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop_requested = True
        if self._held:
            # Never released: closing its stdin ends it before it sends anything.
            self._held = False
            self._release(b"")
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=self.config.timeout_s + 15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._close_pipe()
