"""Node-image build progress: parsing recorded Go and debootstrap output, step accounting, the
estimate from stored timings, and the heartbeat, all driven by an injected clock."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from harness.cluster.build_progress import (
    TIMINGS_FILE,
    BuildProgress,
    BuildSteps,
    DebootstrapStages,
    Estimate,
    GoPackages,
    LogTail,
    go_package_line,
    load_timings,
    save_timings,
    stale_packages,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "build-output"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def lines(name: str) -> list[str]:
    return (DATA / name).read_text().splitlines()


# -- Go output -------------------------------------------------------------------------------------


def test_every_line_of_a_real_go_build_v_names_a_package() -> None:
    recorded = lines("go-build-v-fresh-cache.txt")
    assert [go_package_line(line) for line in recorded] == recorded
    assert "github.com/google/uuid" in recorded


def test_compile_errors_and_downloads_are_not_packages() -> None:
    assert [go_package_line(line) for line in lines("go-build-v-compile-error.txt")] == [
        "example.local/tiny/broken", None, None]
    assert [go_package_line(line) for line in lines("go-build-v-downloading.txt")] == [None, "example.local/tiny"]


def test_a_real_log_without_v_holds_no_package_line() -> None:
    log = lines("go-kubernetes-without-v.log")
    assert any(line.startswith("go: downloading ") for line in log)
    assert [line for line in log if go_package_line(line) is not None] == []


def test_packages_count_against_the_stale_set_from_go_list() -> None:
    stale = stale_packages((DATA / "go-list-stale-fresh-cache.txt").read_text())
    packages = GoPackages(stale)
    for line in lines("go-build-v-fresh-cache.txt"):
        packages.feed(line)
    # The main package is stale but go did not name it: its binary was already up to date.
    assert packages.counts() == (113, 114)
    assert packages.detail() == "113/114 packages"
    assert packages.detail(final=True) == "113 packages compiled"


def test_a_partly_cached_build_counts_only_what_it_compiles() -> None:
    stale = stale_packages((DATA / "go-list-stale-partly-cached.txt").read_text())
    first_build = set(lines("go-build-v-fresh-cache.txt"))
    assert "net/http" in stale and "fmt" not in stale and "fmt" in first_build
    packages = GoPackages(stale)
    for line in lines("go-build-v-partly-cached.txt"):
        packages.feed(line)
    assert packages.counts() == (75, 75)


def test_lines_outside_the_stale_set_do_not_count() -> None:
    packages = GoPackages(frozenset({"example.local/tiny"}))
    for line in [*lines("go-build-v-downloading.txt"), "fmt"]:
        packages.feed(line)
    assert packages.counts() == (1, 1)


def test_without_go_list_the_harness_log_gives_a_bare_count() -> None:
    packages = GoPackages()
    for line in lines("go-hello-harness.log"):
        packages.feed(line)
    # 69 lines: two `$ command` lines the harness wrote, 67 packages.
    assert packages.counts() == (67, None)
    assert packages.detail() == "67 packages compiled"


# -- debootstrap output ----------------------------------------------------------------------------


def test_debootstrap_stages_from_a_real_log() -> None:
    log = lines("debootstrap-proxy-base.log")
    stages = DebootstrapStages()
    assert stages.detail() == "resolving packages"
    first_extract = next(i for i, line in enumerate(log) if line.startswith("I: Extracting "))
    for line in log[:first_extract]:
        stages.feed(line)
    # Index fetches (InRelease, Packages) are not packages.
    assert stages.counts() == (105, None)
    assert stages.detail() == "retrieving 105 packages"
    stages.feed(log[first_extract])
    assert stages.counts() == (1, 105)
    for line in log[first_extract + 1:]:
        stages.feed(line)
    assert stages.detail() == "configuring 105/105 packages"
    assert stages.detail(final=True) == "105 packages"


def test_debootstrap_stage_banners_are_not_packages() -> None:
    stages = DebootstrapStages()
    for line in ("I: Retrieving bash 5.2.15-2+b13", "I: Unpacking required packages...",
                 "I: Configuring the base system..."):
        stages.feed(line)
    assert stages.stage == "retrieving"
    stages.feed("I: Unpacking libc6:amd64...")
    assert stages.seen["unpacking"] == {"libc6"}


# -- log tail --------------------------------------------------------------------------------------


def test_log_tail_reads_only_what_was_appended_and_whole_lines(tmp_path: Path) -> None:
    log = tmp_path / "go.log"
    log.write_text("$ go get earlier\nold/pkg\n")
    tail = LogTail(log)
    assert tail.read_lines() == []
    with log.open("a") as fh:
        fh.write("fmt\nnet/ht")
    assert tail.read_lines() == ["fmt"]
    with log.open("a") as fh:
        fh.write("tp\n")
    assert tail.read_lines() == ["net/http"]


def test_log_tail_of_a_file_not_yet_written(tmp_path: Path) -> None:
    log = tmp_path / "later.log"
    tail = LogTail(log)
    assert tail.read_lines() == []
    log.write_text("fmt\n")
    assert tail.read_lines() == ["fmt"]


# -- stored timings --------------------------------------------------------------------------------


def test_timings_round_trip(tmp_path: Path) -> None:
    path = tmp_path / TIMINGS_FILE
    save_timings(path, {"building kubelet": 301.234, "building pause": 2.0})
    assert load_timings(path) == {"building kubelet": 301.2, "building pause": 2.0}


def test_the_timings_a_real_build_stored_load() -> None:
    assert load_timings(DATA / "step-timings.json") == {
        "building hello": 7.6, "final step": 0.0, "resolving the hello modules": 0.7}


@pytest.mark.parametrize("content", ["not json", '["a list"]', '{"building kubelet": "slow"}'])
def test_unreadable_timings_are_none(tmp_path: Path, content: str) -> None:
    path = tmp_path / TIMINGS_FILE
    path.write_text(content)
    assert load_timings(path) == {}
    assert load_timings(tmp_path / "missing.json") == {}


# -- step accounting and the estimate --------------------------------------------------------------


def test_steps_done_of_total() -> None:
    clock = FakeClock()
    steps = BuildSteps(["a", "b", "c"], {}, clock)
    assert (steps.done, steps.total) == (0, 3)
    steps.skip("a")
    steps.start("b")
    clock.now += 12
    assert steps.finish() == 12
    assert (steps.done, steps.total, steps.number("c")) == (2, 3, 3)
    steps.start("unplanned")
    assert (steps.total, steps.number("unplanned")) == (4, 4)


def test_a_failed_step_records_no_timing() -> None:
    clock = FakeClock()
    steps = BuildSteps(["a", "b"], {"a": 5.0}, clock)
    steps.start("a")
    clock.now += 7
    steps.finish(ok=False)
    steps.start("b")
    clock.now += 3
    steps.finish()
    assert steps.done == 1
    assert steps.timings() == {"a": 5.0, "b": 3.0}


def test_estimate_from_the_last_build() -> None:
    clock = FakeClock()
    steps = BuildSteps(["a", "b", "c"], {"a": 10.0, "b": 20.0, "c": 30.0}, clock)
    assert steps.remaining() == Estimate(60.0, partial=False)
    steps.start("a")
    clock.now += 4
    assert steps.remaining() == Estimate(56.0, partial=False)
    steps.finish()
    steps.skip("b")
    assert steps.remaining() == Estimate(30.0, partial=False)


def test_estimate_is_partial_when_a_step_has_no_timing_and_none_without_any() -> None:
    steps = BuildSteps(["a", "b"], {"a": 10.0}, FakeClock())
    estimate = steps.remaining()
    assert estimate == Estimate(10.0, partial=True)
    assert estimate.text() == "at least 10 s left"
    assert BuildSteps(["a"], {}, FakeClock()).remaining() is None


def test_a_step_slower_than_last_time_says_so() -> None:
    clock = FakeClock()
    steps = BuildSteps(["a"], {"a": 60.0}, clock)
    steps.start("a")
    clock.now += 90
    estimate = steps.remaining()
    assert estimate == Estimate(0.0, partial=False, overrun=True)
    assert estimate.text() == "longer than the last build"


# -- the shown lines and the heartbeat -------------------------------------------------------------


def plain(
    tmp_path: Path, labels: list[str], clock: FakeClock, timings: dict[str, float] | None = None,
) -> BuildProgress:
    if timings is not None:
        save_timings(tmp_path / TIMINGS_FILE, timings)
    return BuildProgress("node image x", labels, tmp_path, clock=clock, terminal=False)


def test_heartbeat_at_most_every_30_s_while_a_step_runs(tmp_path: Path) -> None:
    clock = FakeClock()
    progress = plain(tmp_path, ["building kube-apiserver", "assembling"], clock)
    log = tmp_path / "go-kubernetes.log"
    log.write_text("$ go get k8s.io/kubernetes/cmd/kube-apiserver@v1.34.4\n")
    clock.now += 100
    assert progress.heartbeat_line() is None  # no step runs
    packages = GoPackages(frozenset({"fmt", "net/http", "k8s.io/kubernetes/cmd/kube-apiserver"}))
    with progress.step("building kube-apiserver", log_file=log, watch=packages):
        with log.open("a") as fh:
            fh.write("fmt\nnet/http\n")
        clock.now += 29.9
        assert progress.heartbeat_line() is None
        clock.now += 0.1
        assert progress.heartbeat_line() == f"still building kube-apiserver: 2/3 packages, 30 s, log: {log}"
        clock.now += 20
        assert progress.heartbeat_line() is None
        clock.now += 10
        assert progress.heartbeat_line() == f"still building kube-apiserver: 2/3 packages, 1 min 0 s, log: {log}"


def test_a_step_line_restarts_the_heartbeat_interval(tmp_path: Path) -> None:
    clock = FakeClock()
    progress = plain(tmp_path, ["a", "b"], clock)
    with progress.step("a"):
        clock.now += 25
    with progress.step("b"):
        clock.now += 25
        assert progress.heartbeat_line() is None
        clock.now += 5
        assert progress.heartbeat_line() == "still b, 30 s"


def test_heartbeat_with_the_estimate_and_a_note(tmp_path: Path) -> None:
    clock = FakeClock()
    progress = plain(tmp_path, ["making the node-base root filesystem", "assembling"], clock,
                     {"making the node-base root filesystem": 200.0, "assembling": 100.0})
    with progress.step("making the node-base root filesystem", watch=DebootstrapStages()):
        progress.note("importing into Docker")
        clock.now += 30
        assert progress.heartbeat_line() == ("still making the node-base root filesystem: resolving packages, "
                                             "importing into Docker, 30 s (about 4 min 30 s left in all)")


def test_step_start_and_end_lines(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    progress = plain(tmp_path, ["resolving the kubernetes modules", "building kubelet", "building pause"], clock,
                     {"building kubelet": 60.0})
    log = tmp_path / "go-kubernetes.log"
    packages = GoPackages()
    with caplog.at_level(logging.INFO, logger="harness"):
        assert progress.plan_line() == "node image x: 3 steps, at least 1 min 0 s by the steps an earlier build timed"
        progress.skip(["resolving the kubernetes modules"], "kubernetes v1.34.4: cached")
        with progress.step("building kubelet", log_file=log, watch=packages):
            log.write_text("fmt\nk8s.io/kubernetes/cmd/kubelet\n")
            clock.now += 65
        with pytest.raises(RuntimeError), progress.step("building pause", log_file=tmp_path / "pause.log"):
            clock.now += 2
            raise RuntimeError("gcc failed")
    assert [r.getMessage() for r in caplog.records] == [
        "[1/3] kubernetes v1.34.4: cached",
        f"[2/3] building kubelet: started, the last build took 1 min 0 s; log: {log}",
        "[2/3] building kubelet: done in 1 min 5 s (2 packages compiled)",
        f"[3/3] building pause: started; log: {tmp_path / 'pause.log'}",
        f"[3/3] building pause: failed after 2 s; see {tmp_path / 'pause.log'}",
    ]
    assert progress.steps.timings() == {"building kubelet": 65.0}


def test_skipping_a_run_of_steps_takes_one_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    progress = plain(tmp_path, ["resolving", "building kubelet", "building kubeadm", "pause"], FakeClock())
    with caplog.at_level(logging.INFO, logger="harness"):
        progress.skip(["resolving", "building kubelet", "building kubeadm"], "kubernetes v1.34.4: cached")
    assert [r.getMessage() for r in caplog.records] == ["[1-3/4] kubernetes v1.34.4: cached"]
    assert progress.steps.done == 3


def test_the_next_build_estimates_from_what_this_one_stored(tmp_path: Path) -> None:
    clock = FakeClock()
    first = plain(tmp_path, ["a", "b"], clock)
    assert first.plan_line() == "node image x: 2 steps, no step timings from an earlier build yet"
    for label, seconds in (("a", 90.0), ("b", 30.0)):
        with first.step(label):
            clock.now += seconds
    first.save_timings()
    second = plain(tmp_path, ["a", "b"], clock)
    assert second.plan_line() == "node image x: 2 steps, about 2 min 0 s by the last build"
