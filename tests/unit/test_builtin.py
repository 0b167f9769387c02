"""The built-in tree: what the wheel carries, `builtin:` names, the one path rule, the installed view."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import harness
from harness.builtin import builtin_root, builtin_scenario, builtin_scenarios, scenario_location
from harness.cli import app
from harness.cluster.versions import DEFAULT_K8S_VERSION, KIND_VERSION
from harness.errors import ClusterError, PrerequisiteMissingError, ScenarioError
from harness.scenario import default_scenario_path, load_scenario, parse_scenario
from harness.validate import validate_scenario_file
from tests.wheelbuild import ROOT, BuiltWheel, build_wheel

runner = CliRunner()
GOOD = ROOT / "manifests" / "sample-service"


def _checkout_sources() -> set[str]:
    """What the built-in tree must hold, read from the checkout itself."""
    files = {p.relative_to(ROOT).as_posix() for tree in ("scenarios", "manifests")
             for p in (ROOT / tree).rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    service = ROOT / "sample-service"
    files |= {f"sample-service/{p.name}" for p in service.iterdir()
              if p.is_file() and (p.suffix == ".go" or p.name in ("go.mod", "go.sum", "VERSION", "Dockerfile"))}
    return files


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> BuiltWheel:
    workdir = tmp_path_factory.mktemp("wheel")
    built = build_wheel(workdir)
    return built


@pytest.fixture(scope="module")
def unpacked(wheel: BuiltWheel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("unpacked")
    with zipfile.ZipFile(wheel.path) as archive:
        archive.extractall(target)
    return target


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent-default"))
    monkeypatch.setenv("RH_STATE_DIR", str(tmp_path / "state"))


# The wheel


def test_the_wheel_carries_every_scenario_manifest_and_sample_service_source(wheel: BuiltWheel) -> None:
    expected = _checkout_sources()
    assert {"scenarios/rolling-restart.yaml", "manifests/sample-service/deployment.yaml", "sample-service/go.mod",
            "sample-service/main.go", "scenarios/sweeps/shutdown-settings.yaml"} <= expected
    with zipfile.ZipFile(wheel.path) as archive:
        names = archive.namelist()
        shipped = {n.removeprefix("harness/_builtin/") for n in names if n.startswith("harness/_builtin/")}
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        for name in ("scenarios/rolling-restart.yaml", "sample-service/go.sum"):
            assert archive.read(f"harness/_builtin/{name}") == (ROOT / name).read_bytes()
    assert shipped == expected  # every source, and nothing else (no bin/, no build output)
    assert "License-Expression: Apache-2.0" in metadata
    assert f"\nVersion: {harness.__version__}\n" in metadata


def test_the_build_warns_of_nothing_in_the_metadata(wheel: BuiltWheel) -> None:
    lowered = wheel.output.lower()
    for word in ("deprecat", "license"):
        offending = [line for line in lowered.splitlines() if word in line and "warn" in line]
        assert offending == []


def test_a_build_output_in_the_checkout_stays_out_of_the_wheel(tmp_path: Path) -> None:
    # bin/ holds what `make build` leaves; a stale build/ tree what an earlier build left.
    built = build_wheel(tmp_path)
    with zipfile.ZipFile(built.path) as archive:
        before = set(archive.namelist())
    (built.source / "sample-service" / "bin").mkdir()
    (built.source / "sample-service" / "bin" / "sample-service").write_bytes(b"\x7fELF")
    (built.source / "sample-service" / "cover.out").write_text("mode: set\n")
    stale = built.source / "build" / "lib" / "harness" / "_builtin" / "scenarios" / "removed.yaml"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text("name: removed\n")
    built.path.unlink()
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                           str(built.path.parent), "."], cwd=built.source, capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(built.path) as archive:
        assert set(archive.namelist()) == before


_INSTALLED_CHECK = """
import json, sys
from pathlib import Path
import harness
from harness.builtin import builtin_root, builtin_scenario, builtin_scenarios
from harness.image import sample_service_dir
from harness.scenario import default_scenario_path
from harness.validate import validate_scenario_file
out = {"harness": harness.__file__, "root": str(builtin_root()), "service": str(sample_service_dir()),
       "default": str(default_scenario_path()), "scenarios": {}}
for name, description in builtin_scenarios():
    path = builtin_scenario(name)
    loaded = validate_scenario_file(path)
    out["scenarios"][name] = {"path": str(path), "manifests": str(loaded.manifests_dir()),
                              "description": description}
print(json.dumps(out))
"""


def test_every_shipped_scenario_validates_from_the_unpacked_wheel(unpacked: Path, tmp_path: Path) -> None:
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    env = {**os.environ, "PYTHONPATH": str(unpacked)}
    proc = subprocess.run([sys.executable, "-c", _INSTALLED_CHECK], cwd=empty, env=env, capture_output=True,
                          text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout)
    builtin = unpacked / "harness" / "_builtin"
    assert Path(seen["harness"]).is_relative_to(unpacked)  # the wheel's package, not the checkout's
    assert Path(seen["root"]) == builtin
    assert Path(seen["service"]) == builtin / "sample-service"
    assert Path(seen["default"]) == builtin / "scenarios" / "rolling-restart.yaml"
    shipped = {p.relative_to(ROOT / "scenarios").with_suffix("").as_posix()
               for p in (ROOT / "scenarios").rglob("*.yaml")}
    assert set(seen["scenarios"]) == shipped
    for name, found in seen["scenarios"].items():
        assert Path(found["path"]).is_relative_to(builtin), name
        manifests = Path(found["manifests"])
        assert manifests.is_relative_to(builtin / "manifests") and manifests.is_dir(), (name, manifests)
        assert found["description"], name
    assert seen["scenarios"]["naive-rolling-restart"]["manifests"].endswith("manifests/sample-service-naive")


# builtin: names


def test_in_a_checkout_the_builtin_tree_is_the_checkout() -> None:
    assert builtin_root() == ROOT
    assert default_scenario_path() == ROOT / "scenarios" / "rolling-restart.yaml"


def test_builtin_names_resolve_to_the_shipped_files() -> None:
    assert builtin_scenario("rolling-restart") == ROOT / "scenarios" / "rolling-restart.yaml"
    assert builtin_scenario("sweeps/shutdown-settings") == ROOT / "scenarios" / "sweeps" / "shutdown-settings.yaml"
    assert scenario_location(Path("builtin:pod-delete")) == ROOT / "scenarios" / "pod-delete.yaml"
    assert scenario_location(Path("builtin:")) == ROOT / "scenarios"
    assert scenario_location(Path("scenarios/x.yaml")) == Path("scenarios/x.yaml")
    loaded = load_scenario(Path("builtin:naive-rolling-restart"))
    assert loaded.name == "naive-rolling-restart"
    assert loaded.manifests_dir() == ROOT / "manifests" / "sample-service-naive"


def test_an_unknown_builtin_name_lists_the_ones_that_exist() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(Path("builtin:rolling-restrat"))
    assert "'rolling-restrat'" in info.value.problem
    assert "rolling-restart" in info.value.problem and "pod-delete" in info.value.problem
    assert "harness scenarios" in info.value.fix
    with pytest.raises(ScenarioError):
        builtin_scenario("../manifests/sample-service/deployment")  # only listed names, never a path


def test_every_listed_scenario_has_its_description() -> None:
    listed = dict(builtin_scenarios())
    for name, description in listed.items():
        data = yaml.safe_load(builtin_scenario(name).read_text())
        assert description == " ".join(data["description"].split()), name


def test_the_scenarios_command_lists_each_with_how_to_run_it() -> None:
    result = runner.invoke(app, ["scenarios"])
    assert result.exit_code == 0, result.output
    for name, description in builtin_scenarios():
        assert any(line.startswith(name) and description in line for line in result.output.splitlines()), name
    assert "harness run builtin:rolling-restart" in result.output


def test_validate_and_gate_accept_builtin_names() -> None:
    one = runner.invoke(app, ["validate", "builtin:rolling-restart"])
    assert one.exit_code == 0, one.output
    assert one.output.strip().endswith("scenarios/rolling-restart.yaml: OK")
    every = runner.invoke(app, ["validate", "builtin:"])
    assert every.exit_code == 0, every.output
    assert len(every.output.splitlines()) == len(list((ROOT / "scenarios").glob("*.yaml")))
    bad = runner.invoke(app, ["validate", "builtin:nope"])
    assert bad.exit_code == 2
    assert "no built-in scenario 'nope'" in bad.output


def test_run_on_a_named_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.run

    seen: list[str] = []

    def stop(scenario: object, options: object) -> None:
        seen.append(scenario.cluster.name)  # type: ignore[attr-defined]
        raise ClusterError("stopped here", "nothing to fix: the test stops the run")

    monkeypatch.setattr(harness.run, "run_scenario", stop)
    result = runner.invoke(app, ["run", "builtin:rolling-restart", "--cluster", "rh-other"])
    assert result.exit_code == 2, result.output
    assert seen == ["rh-other"]
    default = runner.invoke(app, ["run", "builtin:rolling-restart"])
    assert default.exit_code == 2
    assert seen == ["rh-other", "rollout-harness"]


# The one path rule


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working directory, and its parent, that hold the manifests the old rule would have found."""
    cwd = tmp_path / "cwd"
    for base in (cwd, tmp_path):
        shutil.copytree(GOOD, base / "m")
    monkeypatch.chdir(cwd)
    yield tmp_path


def _scenario_at(path: Path, **target: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"name": "s", "target": target, "steps": [{"action": "rollout-restart"}]}))
    return path


def test_a_path_is_relative_to_the_scenario_file_and_nothing_else(elsewhere: Path) -> None:
    path = _scenario_at(elsewhere / "scenarios" / "s.yaml", manifests="m")
    problem, _ = _manifest_problem(path)
    tried = elsewhere / "scenarios" / "m"  # not the working directory's m/, not the parent's
    assert f"target.manifests 'm': {tried} does not exist" in problem
    # Next to the file, it is found wherever the harness runs from.
    shutil.copytree(GOOD, tried)
    assert validate_scenario_file(path).manifests_dir() == tried


def _manifest_problem(path: Path) -> tuple[str, str]:
    from harness.errors import ConfigError

    try:
        validate_scenario_file(path)
    except ConfigError as exc:
        return exc.problem, exc.fix
    raise AssertionError(f"{path} validated")


def test_the_fix_says_how_paths_are_read(elsewhere: Path) -> None:
    problem, fix = _manifest_problem(_scenario_at(elsewhere / "a" / "s.yaml", manifests="../nowhere"))
    assert f"{elsewhere / 'nowhere'} does not exist" in problem
    assert "relative to the directory of the scenario file" in fix


def test_kubeconfig_is_read_relative_to_the_scenario_file(elsewhere: Path) -> None:
    path = elsewhere / "a" / "s.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump({"name": "s", "cluster": {"context": "prod", "kubeconfig": "kc"},
                                    "steps": [{"action": "rollout-restart"}]}))
    problem, _ = _manifest_problem(path)
    assert str(elsewhere / "a" / "kc") in problem


def test_a_scenario_with_no_manifests_targets_the_shipped_sample_service() -> None:
    scenario = parse_scenario({"name": "s", "steps": [{"action": "rollout-restart"}]}, "/nowhere/s.yaml")
    assert scenario.target.manifests is None
    assert scenario.manifests_dir() == ROOT / "manifests" / "sample-service"


def test_a_recorded_scenario_names_its_paths_absolutely(elsewhere: Path) -> None:
    scenario = load_scenario(ROOT / "scenarios" / "rolling-restart.yaml")
    assert scenario.target.manifests == "../manifests/sample-service"
    recorded = json.loads(scenario.with_absolute_paths().model_dump_json())
    assert recorded["target"]["manifests"] == str(GOOD)
    # Read back from a run directory, as a replay reads it, it names the same manifests.
    again = parse_scenario(recorded, str(elsewhere / "runs" / "r" / "scenario.json"))
    assert again.manifests_dir() == GOOD


# Version and prerequisites


def test_version_names_the_pinned_tools() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    go_directive = next(line.split()[1] for line in (ROOT / "sample-service" / "go.mod").read_text().splitlines()
                        if line.startswith("go "))
    lines = dict(line.split(": ", 1) for line in result.output.splitlines())
    assert lines["rollout-harness"] == "0.1.0"
    assert lines["kind"].startswith(KIND_VERSION)
    assert lines["kubernetes (nodes)"].startswith(DEFAULT_K8S_VERSION)
    assert lines["go"].startswith(f">= {go_directive}")


def test_a_missing_go_is_named_as_the_prerequisite(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from harness import image

    monkeypatch.setattr(image.docker, "docker_available", lambda: None)
    monkeypatch.setenv("PATH", str(tmp_path))  # holds no go
    with pytest.raises(PrerequisiteMissingError) as info:
        image.build_sample_image()
    assert "Go >= 1." in info.value.problem and "`go` is not on PATH" in info.value.problem
    assert "https://go.dev/dl" in info.value.fix
