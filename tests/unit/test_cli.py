"""The CLI as a user meets it: help, exit codes, and errors without tracebacks."""

from __future__ import annotations

from pathlib import Path

import pytest
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


# harness validate, and validation as the first step of run, gate and replay


def test_validate_lists_every_shipped_scenario_as_ok() -> None:
    result = runner.invoke(app, ["validate", str(ROOT / "scenarios")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == len(list((ROOT / "scenarios").glob("*.yaml")))
    assert all(line.endswith(": OK") for line in lines)


def test_validate_prints_one_block_per_bad_file_and_exits_2(tmp_path: Path) -> None:
    shipped = (ROOT / "scenarios" / "rolling-restart.yaml").read_text()
    good = tmp_path / "good.yaml"
    good.write_text(shipped.replace("../manifests/sample-service", str(ROOT / "manifests" / "sample-service")))
    bad = tmp_path / "bad.yaml"
    bad.write_text(shipped.replace("../manifests/sample-service", "manifests/absent"))
    result = runner.invoke(app, ["validate", str(tmp_path), str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2
    # The one path tried: relative to the scenario file's directory.
    assert result.output.splitlines()[0].startswith(
        f"{bad}: target.manifests 'manifests/absent': {tmp_path / 'manifests' / 'absent'} does not exist")
    assert f"{good}: OK" in result.output
    assert f"{tmp_path / 'missing.yaml'}: no such file or directory" in result.output
    assert result.output.count("  fix: ") == 2


def test_run_validates_before_it_touches_a_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.target

    called: list[str] = []
    monkeypatch.setattr(harness.target, "resolve_target", lambda *a, **k: called.append("target"))
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "scenarios" / "rolling-restart.yaml").read_text()
                   + "cluster:\n  context: nowhere\n  kubeconfig: /nonexistent/kubeconfig\n")
    result = runner.invoke(app, ["run", str(bad)])
    assert result.exit_code == 2
    assert "context 'nowhere' is named, but the kubeconfig '/nonexistent/kubeconfig' does not exist" in result.output
    assert "fix: pass the file that holds the context" in result.output
    assert called == []


def test_error_text_is_never_read_as_console_markup(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.errors import ConfigError

    def refuse(*args: object, **kwargs: object) -> None:
        raise ConfigError("value [/] and [bold]x[/bold] in the input", "fix [red]this[/red]")

    monkeypatch.setattr("harness.image.build_sample_image", refuse)
    result = runner.invoke(app, ["image", "build"])
    assert result.exit_code == 2
    assert "value [/] and [bold]x[/bold] in the input" in result.output
    assert "fix [red]this[/red]" in result.output
    assert "internal error" not in result.output


def test_importing_the_package_main_runs_nothing() -> None:
    import importlib

    module = importlib.import_module("harness.__main__")
    assert module.main is not None  # imported, not run: running would have exited
