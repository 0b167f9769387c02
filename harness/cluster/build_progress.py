"""Progress of the node-image build, whose first run takes about half an hour.

Each step says when it starts and ends (``[3/20] building kube-apiserver: done in 4 min 2 s``),
with how far the running one is (packages compiled of those ``go list`` found to compile, the
stage debootstrap is at), an estimate from the step timings the last successful build stored
next to the cache, and the log file that holds its full output. On a terminal a rich live display
shows the running step; without one (CI) a heartbeat line comes at most every 30 s, so a long
step never reads as a hung job.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pydantic import TypeAdapter, ValidationError
from rich.errors import LiveError
from rich.progress import BarColumn, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from harness.log import console, get_logger
from harness.progress import HEARTBEAT_S, Clock, Heartbeat, human_duration

__all__ = [
    "TIMINGS_FILE", "BuildProgress", "BuildSteps", "DebootstrapStages", "Estimate", "GoPackages", "LogTail",
    "StepWatch", "go_package_line", "load_timings", "save_timings", "stale_packages",
]

log = get_logger(__name__)

TIMINGS_FILE = "step-timings.json"
_POLL_S = 0.5
_TIMINGS = TypeAdapter(dict[str, float])

# What `go build -v` prints for a compiled package: its import path alone on the line. Anything
# with a space or a colon (`go: downloading ...`, compiler errors, `# pkg` headers) is not one.
_IMPORT_PATH = re.compile(r"[A-Za-z0-9_.~+-]+(?:/[A-Za-z0-9_.~+-]+)*")


def go_package_line(line: str) -> str | None:
    """The import path a ``go build -v`` output line names as compiled, or None for any other line."""
    text = line.strip()
    return text if _IMPORT_PATH.fullmatch(text) else None


def stale_packages(go_list_output: str) -> frozenset[str]:
    """The packages ``go list -deps -f '{{if .Stale}}{{.ImportPath}}{{end}}'`` printed: those a build
    will compile, the build cache holding all others."""
    return frozenset(line.strip() for line in go_list_output.splitlines() if line.strip())


class StepWatch(Protocol):
    """Reads a step's output lines and says how far the step is."""

    def feed(self, line: str) -> None: ...

    def counts(self) -> tuple[int, int | None]:
        """Units done and their total (None while it is not known)."""
        ...

    def detail(self, *, final: bool = False) -> str:
        """How far the step is; with ``final``, what it did, for the line at its end."""
        ...


@dataclass
class GoPackages:
    """Packages ``go build -v`` reported compiled, out of ``expected`` (the stale ones) when known."""

    expected: Collection[str] | None = None
    compiled: set[str] = field(default_factory=set)

    def feed(self, line: str) -> None:
        path = go_package_line(line)
        if path is not None and (self.expected is None or path in self.expected):
            self.compiled.add(path)

    def counts(self) -> tuple[int, int | None]:
        return len(self.compiled), None if self.expected is None else len(self.expected)

    def detail(self, *, final: bool = False) -> str:
        done, total = self.counts()
        # The count can end one short: go leaves a binary that is already up to date unlinked and unnamed.
        if final or total is None:
            return f"{done:,} packages compiled"
        return f"{done:,}/{total:,} packages"


# `I: Retrieving bash 5.2.15-2+b13` fetches a package; `I: Unpacking libc6:amd64...` handles one. Index
# fetches (`I: Retrieving InRelease`) and stage banners (`I: Unpacking required packages...`) match neither.
_RETRIEVING = re.compile(r"I: Retrieving (\S+) \S+")
_HANDLING = re.compile(r"I: (Extracting|Unpacking|Configuring) ([^\s:]+)(?::\S+)?\.\.\.")


@dataclass
class DebootstrapStages:
    """debootstrap's ``I:`` lines: packages retrieved, then extracted, unpacked and configured of those."""

    stage: str = "starting"
    seen: dict[str, set[str]] = field(default_factory=dict)

    def feed(self, line: str) -> None:
        text = line.strip()
        if match := _RETRIEVING.fullmatch(text):
            stage, name = "retrieving", match[1]
        elif match := _HANDLING.fullmatch(text):
            stage, name = match[1].lower(), match[2]
        else:
            return
        self.stage = stage
        self.seen.setdefault(stage, set()).add(name)

    def counts(self) -> tuple[int, int | None]:
        done = len(self.seen.get(self.stage, ()))
        if self.stage in ("starting", "retrieving"):
            return done, None
        total = len(self.seen.get("retrieving", ()))
        return min(done, total), total

    def detail(self, *, final: bool = False) -> str:
        done, total = self.counts()
        if final:
            return f"{len(self.seen.get('retrieving', ())):,} packages"
        if self.stage == "starting":
            return "resolving packages"
        return f"{self.stage} {done:,} packages" if total is None else f"{self.stage} {done:,}/{total:,} packages"


class LogTail:
    """The lines appended to a log file since this tail was made; a last line without its newline
    waits for the next read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = path.stat().st_size if path.exists() else 0
        self._partial = b""

    def read_lines(self) -> list[str]:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        self._offset += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        return [line.decode(errors="replace") for line in lines]


def load_timings(path: Path) -> dict[str, float]:
    """Step timings a successful build stored, by step label; nothing when there are none or they are unreadable."""
    try:
        return _TIMINGS.validate_json(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValidationError) as exc:
        log.debug("ignoring unreadable step timings %s: %s", path, exc)
        return {}


def save_timings(path: Path, timings: Mapping[str, float]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({k: round(v, 1) for k, v in sorted(timings.items())}, indent=2) + "\n")
    tmp.replace(path)


@dataclass(frozen=True)
class Estimate:
    seconds: float
    partial: bool  # some steps still to run have no timing from an earlier build
    overrun: bool = False  # the running step already took longer than in the last build

    def text(self) -> str:
        if self.overrun and self.seconds < 1:
            return "longer than the last build"
        return f"{'at least' if self.partial else 'about'} {human_duration(self.seconds)} left"


@dataclass
class _Running:
    label: str
    started: float
    log_file: Path | None
    watch: StepWatch | None
    tail: LogTail | None
    note: str = ""


class BuildSteps:
    """Which steps of a build are done, skipped (cached) and running, and what is left by the last
    build's timings. Pure accounting; ``BuildProgress`` shows it."""

    def __init__(self, labels: Sequence[str], previous: Mapping[str, float], clock: Clock = time.monotonic) -> None:
        self.labels = list(dict.fromkeys(labels))
        self.previous = dict(previous)
        self.finished: dict[str, float] = {}  # label -> seconds, the steps that ran in this build
        self.skipped: set[str] = set()
        self.running: _Running | None = None
        self._clock = clock

    @property
    def total(self) -> int:
        return len(self.labels)

    @property
    def done(self) -> int:
        return len(self.finished) + len(self.skipped)

    def number(self, label: str) -> int:
        """The step's place in the build, 1-based, as shown in ``[3/20]``."""
        return self.labels.index(label) + 1

    def _known(self, label: str) -> None:
        # A step the plan did not name still shows (and counts) rather than break the build.
        if label not in self.labels:
            self.labels.append(label)

    def start(self, label: str, *, log_file: Path | None = None, watch: StepWatch | None = None) -> None:
        self._known(label)
        self.running = _Running(label, self._clock(), log_file, watch,
                                LogTail(log_file) if log_file is not None and watch is not None else None)

    def feed(self) -> None:
        """Pass the running step's new log lines to its watch."""
        running = self.running
        if running is not None and running.tail is not None and running.watch is not None:
            for line in running.tail.read_lines():
                running.watch.feed(line)

    def elapsed(self) -> float:
        return 0.0 if self.running is None else self._clock() - self.running.started

    def finish(self, *, ok: bool = True) -> float:
        """End the running step; only a step that succeeded records its time."""
        assert self.running is not None, "finish() without a running step"
        seconds = self.elapsed()
        if ok:
            self.finished[self.running.label] = seconds
        self.running = None
        return seconds

    def skip(self, label: str) -> None:
        self._known(label)
        self.skipped.add(label)

    def remaining(self) -> Estimate | None:
        """Time left by the last build's timings of the steps still to run; None without any."""
        pending = [label for label in self.labels
                   if label not in self.finished and label not in self.skipped]
        known = [label for label in pending if label in self.previous]
        if not known:
            return None
        seconds = sum(self.previous[label] for label in known)
        overrun = False
        if self.running is not None and self.running.label in self.previous:
            last = self.previous[self.running.label]
            overrun = self.elapsed() > last
            seconds -= min(self.elapsed(), last)
        return Estimate(seconds, partial=len(known) < len(pending), overrun=overrun)

    def timings(self) -> dict[str, float]:
        """What to store after a successful build: this build's timings over the earlier ones."""
        return {**self.previous, **self.finished}


class BuildProgress:
    """Shows a build's ``BuildSteps`` as it goes: log lines at each step start and end; a live rich
    display on a terminal, a heartbeat line at most every ``HEARTBEAT_S`` without one."""

    def __init__(
        self, title: str, labels: Sequence[str], cache: Path, *, clock: Clock = time.monotonic,
        terminal: bool | None = None, heartbeat_s: float = HEARTBEAT_S,
    ) -> None:
        self.title = title
        self.timings_file = cache / TIMINGS_FILE
        self.steps = BuildSteps(labels, load_timings(self.timings_file), clock)
        self.terminal = console.is_terminal if terminal is None else terminal
        self._heartbeat = Heartbeat(heartbeat_s, clock)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._live: RichProgress | None = None
        self._overall: TaskID | None = None
        self._current: TaskID | None = None

    # -- lines -----------------------------------------------------------------------------------

    def _tag(self, label: str) -> str:
        return f"[{self.steps.number(label)}/{self.steps.total}] {label}"

    def _say(self, line: str) -> None:
        self._heartbeat.reset()
        log.info("%s", line)

    def plan_line(self) -> str:
        estimate = self.steps.remaining()
        if estimate is None:
            when = "no step timings from an earlier build yet"
        elif estimate.partial:
            when = f"at least {human_duration(estimate.seconds)} by the steps an earlier build timed"
        else:
            when = f"about {human_duration(estimate.seconds)} by the last build"
        return f"{self.title}: {self.steps.total} steps, {when}"

    def heartbeat_line(self) -> str | None:
        """The heartbeat line when one is due while a step runs, else None."""
        with self._lock:
            self.steps.feed()
            running = self.steps.running
            if running is None or not self._heartbeat.due():
                return None
            detail = self._detail(running)
            line = f"still {running.label}" + (f": {detail}" if detail else "")
            line += f", {human_duration(self.steps.elapsed())}"
            if running.log_file is not None:
                line += f", log: {running.log_file}"
            estimate = self.steps.remaining()
            if estimate is not None:
                line += f" ({estimate.text()} in all)"
            return line

    @staticmethod
    def _detail(running: _Running, *, final: bool = False) -> str:
        detail = running.watch.detail(final=final) if running.watch is not None else ""
        # A note says what the step is at, which is nothing once it has ended.
        return ", ".join(part for part in (detail, "" if final else running.note) if part)

    # -- steps -----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def step(self, label: str, *, log_file: Path | None = None, watch: StepWatch | None = None) -> Iterator[None]:
        with self._lock:
            self.steps.start(label, log_file=log_file, watch=watch)
            last = self.steps.previous.get(label)
            took = f", the last build took {human_duration(last)}" if last is not None else ""
            where = f"; log: {log_file}" if log_file is not None else ""
            self._say(f"{self._tag(label)}: started{took}{where}")
            self._live_start(label)
        try:
            yield
        except BaseException:
            with self._lock:
                seconds = self.steps.finish(ok=False)
                where = f"; see {log_file}" if log_file is not None else ""
                self._say(f"{self._tag(label)}: failed after {human_duration(seconds)}{where}")
                self._live_end()
            raise
        with self._lock:
            self.steps.feed()
            running = self.steps.running
            detail = self._detail(running, final=True) if running is not None else ""
            seconds = self.steps.finish()
            self._say(f"{self._tag(label)}: done in {human_duration(seconds)}" + (f" ({detail})" if detail else ""))
            self._live_end()

    def note(self, text: str) -> None:
        """What the running step is at when its output says nothing (``importing into Docker``)."""
        with self._lock:
            if self.steps.running is not None:
                self.steps.running.note = text

    def skip(self, labels: Sequence[str], reason: str) -> None:
        """Steps the cache already holds: one line for all of them."""
        with self._lock:
            for label in labels:
                self.steps.skip(label)
            if labels:
                first, last = self.steps.number(labels[0]), self.steps.number(labels[-1])
                span = f"{first}" if first == last else f"{first}-{last}"
                self._say(f"[{span}/{self.steps.total}] {reason}")
            self._live_overall()

    def save_timings(self) -> None:
        """Store this build's step timings for the next build's estimate; call after success only."""
        save_timings(self.timings_file, self.steps.timings())

    # -- display ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def show(self) -> Iterator[BuildProgress]:
        log.info("%s", self.plan_line())
        if self.terminal:
            live = RichProgress(
                SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(), console=console, transient=True,
            )
            try:
                live.start()
            except LiveError:  # another live display owns the console (rich < 14.1): plain lines
                self.terminal = False
            else:
                self._live = live
                self._overall = live.add_task(self.title, total=self.steps.total, detail="")
                self._live_overall()
        tick = self._refresh if self.terminal else self._beat
        thread = threading.Thread(target=self._loop, args=(tick,), name="build-progress", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(timeout=2)
            if self._live is not None:
                self._live.stop()
                self._live = None

    def _loop(self, tick: Callable[[], None]) -> None:
        while not self._stop.wait(_POLL_S):
            tick()

    def _beat(self) -> None:
        line = self.heartbeat_line()
        if line is not None:
            log.info("%s", line)

    def _refresh(self) -> None:
        with self._lock:
            self.steps.feed()
            running = self.steps.running
            if self._live is not None and self._current is not None and running is not None:
                done, total = running.watch.counts() if running.watch is not None else (0, None)
                self._live.update(self._current, completed=done, total=total, detail=self._detail(running))
            self._live_overall()

    def _live_overall(self) -> None:
        if self._live is None or self._overall is None:
            return
        estimate = self.steps.remaining()
        detail = f"step {min(self.steps.done + 1, self.steps.total)}/{self.steps.total}"
        if estimate is not None:
            detail += f", {estimate.text()}"
        self._live.update(self._overall, completed=self.steps.done, total=self.steps.total, detail=detail)

    def _live_start(self, label: str) -> None:
        if self._live is not None:
            self._current = self._live.add_task(f"  {label}", total=None, detail="")
            self._live_overall()

    def _live_end(self) -> None:
        if self._live is not None and self._current is not None:
            self._live.remove_task(self._current)
            self._current = None
            self._live_overall()
