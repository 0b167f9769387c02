"""The CLI as a user meets it: help, exit codes, and errors without tracebacks."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from harness.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_help_lists_exactly_the_commands_that_exist() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("run", "gate", "replay", "report", "cluster", "image", "manifests"):
        assert command in result.output


def test_manifests_check_passes_good_and_names_problems_of_naive() -> None:
    good = runner.invoke(app, ["manifests", "check", str(ROOT / "manifests" / "sample-service")])
    assert good.exit_code == 0, good.output
    assert "no problems found" in good.output
    naive = runner.invoke(app, ["manifests", "check", str(ROOT / "manifests" / "sample-service-naive")])
    assert naive.exit_code == 1
    assert "SHUTDOWN_MODE" in naive.output and "preStop" in naive.output


def test_broken_scenario_is_a_clear_error_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nsteps:\n  - action: teleport\n")
    result = runner.invoke(app, ["run", str(bad)])
    assert result.exit_code == 2
    assert "steps[0].action" in result.output
    assert "fix:" in result.output
    assert "Traceback" not in result.output


def test_report_on_a_missing_run_directory_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "fix:" in result.output


def test_report_rejudges_a_recorded_run(tmp_path: Path) -> None:
    import gzip
    import shutil

    source = ROOT / "tests" / "unit" / "data" / "recorded" / "naive-rolling-restart"
    run_dir = tmp_path / "run"
    shutil.copytree(source, run_dir)
    gz = run_dir / "requests.jsonl.gz"
    if gz.exists():
        (run_dir / "requests.jsonl").write_bytes(gzip.decompress(gz.read_bytes()))
    result = runner.invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 1  # a FAIL, so not 0
    assert "FAIL" in result.output
    assert (run_dir / "junit.xml").is_file() and (run_dir / "result.json").is_file()
