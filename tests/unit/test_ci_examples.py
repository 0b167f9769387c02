"""The CI recipes in examples/ci/ stay true as the harness changes.

Every `harness ...` command line in the recipes and their README is checked against the CLI itself
(typer's click command): each command, option and argument must exist. The GitHub workflow passes
actionlint, the GitLab job has the structure GitLab needs, the nox session is run against a
recording session, and the snippet that names the node image is run with the harness's own Python.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import typer.main
import yaml

from harness.cli import app
from harness.cluster.nodeimage import node_image_ref
from harness.cluster.paths import cache_dir
from harness.cluster.versions import DEFAULT_K8S_VERSION, STOCK_K8S_VERSION, STOCK_NODE_IMAGE, node_versions
from harness.report.html import HTML_FILE
from harness.report.junit import JUNIT_FILE
from harness.report.markdown import MARKDOWN_FILE
from harness.report.release import GATE_FILE

ROOT = Path(__file__).resolve().parents[2]
CI_DIR = ROOT / "examples" / "ci"
WORKFLOW = CI_DIR / "github-actions.yml"
GITLAB = CI_DIR / "gitlab-ci.yml"
NOXFILE = CI_DIR / "noxfile.py"
README = CI_DIR / "README.md"
REPORT_FILES = (HTML_FILE, MARKDOWN_FILE, JUNIT_FILE, GATE_FILE)

# --------------------------------------------------------------------------------------------------
# The CLI check


def _is_group(command: Any) -> bool:
    return hasattr(command, "list_commands")


def _params(command: Any, ctx: Any, kind: str) -> list[Any]:
    # typer may carry its own copy of click, so parameters are told apart by click's own name for them.
    return [p for p in command.get_params(ctx) if p.param_type_name == kind]


def cli_problems(argv: Sequence[str]) -> list[str]:
    """What in `harness ARGV` the CLI lacks: a command, an option, an option's value, an argument."""
    command: Any = typer.main.get_command(app)
    path = ["harness"]
    positional: list[str] = []
    asked_help = False
    tokens = list(argv)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        where = " ".join(path)
        ctx = command.context_class(command, info_name=where)
        if token.startswith("-") and len(token) > 1 and token != "--":
            name, has_value, _ = token.partition("=")
            options = _params(command, ctx, "option")
            option = next((p for p in options if name in (*p.opts, *p.secondary_opts)), None)
            if option is None:
                known = sorted(o for p in options for o in p.opts)
                return [f"`{where}` has no option {name} (it has {', '.join(known)})"]
            asked_help = asked_help or option.is_eager
            takes_value = not (option.is_flag or option.count)
            if takes_value and not has_value:
                if i >= len(tokens):
                    return [f"`{where} {name}` needs a value"]
                i += 1
            elif has_value and not takes_value:
                return [f"`{where} {name}` takes no value"]
            continue
        if token == "--":
            positional.extend(tokens[i:])
            break
        if _is_group(command):
            sub = command.get_command(ctx, token)
            if sub is None:
                return [f"`{where}` has no command {token!r} (it has {', '.join(command.list_commands(ctx))})"]
            command = sub
            path.append(token)
            continue
        positional.append(token)
    where = " ".join(path)
    if _is_group(command):
        return [] if asked_help else [f"`{where}` needs a command"]
    arguments = _params(command, command.context_class(command, info_name=where), "argument")
    most = sum(a.nargs for a in arguments)
    if not any(a.nargs == -1 for a in arguments) and len(positional) > most:
        return [f"`{where}` takes {most} argument(s), not {len(positional)}: {positional}"]
    required = sum(1 for a in arguments if a.required)
    if not asked_help and len(positional) < required:
        return [f"`{where}` needs {required} argument(s), got {len(positional)}"]
    return []


# A `harness` (or `.../bin/harness`) that is a command word, not a word of prose: at the start of a
# line, a list item, a comment or a code span, or after a shell operator.
_HARNESS = re.compile(r"(?<![\w.-])(?:[\w.~$/-]*/)?harness(?=[ \t])")
_COMMAND_POSITION = re.compile(r"(?:^|[`;&|(]|\$\(|\bthen|\bdo|\bexec|\brun:|^\s*[-#$>])\s*$")


def harness_command_lines(text: str) -> Iterator[list[str]]:
    """The arguments of every `harness` command line in a shell script, a YAML file or Markdown."""
    joined = re.sub(r"\\\n\s*", " ", text)
    for line in joined.splitlines():
        for match in _HARNESS.finditer(line):
            if not _COMMAND_POSITION.search(line[:match.start()]):
                continue
            rest = line[match.end():].split("`", 1)[0]
            lexer = shlex.shlex(rest, posix=True, punctuation_chars=";&|()<>")
            lexer.whitespace_split = True
            try:
                words = list(lexer)
            except ValueError as exc:
                raise AssertionError(f"cannot read the command line `harness{rest}`: {exc}") from None
            cut = next((n for n, w in enumerate(words) if set(w) <= set(";&|()<>")), len(words))
            yield words[:cut]


def yaml_strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from yaml_strings(key)
            yield from yaml_strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from yaml_strings(item)


def yaml_comments(text: str) -> str:
    return "\n".join(line.split("#", 1)[1] for line in text.splitlines() if re.match(r"^\s*#|.*\s#\s", line))


# --------------------------------------------------------------------------------------------------
# The nox session, run against a recording session


class RecordingSession:
    """Stands for nox.Session: records what the session installs and runs; runs `python` for real."""

    def __init__(self, posargs: Sequence[str] = ()) -> None:
        self.posargs = list(posargs)
        self.installed: list[tuple[str, ...]] = []
        self.commands: list[list[str]] = []

    def install(self, *args: str, **_: Any) -> None:
        self.installed.append(args)

    def run(self, *args: str, silent: bool = False, env: dict[str, str] | None = None, **_: Any) -> str | None:
        if args[0] == "python":
            proc = subprocess.run([sys.executable, *args[1:]], env={**os.environ, **(env or {})},
                                  capture_output=True, text=True, check=False)
            assert proc.returncode == 0, proc.stderr
            return proc.stdout if silent else None
        self.commands.append(list(args))
        return "" if silent else None


@functools.cache  # nox registers its sessions on import, once
def load_noxfile() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rollout_ci_noxfile", NOXFILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def nox_commands(mode: str, posargs: Sequence[str] = ()) -> list[list[str]]:
    """Every command the two sessions run, with RH_NODE_IMAGE=mode."""
    module = load_noxfile()
    session = RecordingSession(posargs)
    old = os.environ.get("RH_NODE_IMAGE")
    os.environ["RH_NODE_IMAGE"] = mode
    try:
        module.rollout_gate(session)
        module.rollout_cluster_down(session)
    finally:
        if old is None:
            del os.environ["RH_NODE_IMAGE"]
        else:
            os.environ["RH_NODE_IMAGE"] = old
    assert session.installed, "the sessions install the harness"
    return session.commands


# --------------------------------------------------------------------------------------------------
# What each file holds


def workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


def gitlab() -> dict[Any, Any]:
    data = yaml.safe_load(GITLAB.read_text())
    assert isinstance(data, dict)
    return data


def all_command_lines() -> dict[str, list[list[str]]]:
    return {
        WORKFLOW.name: [*(c for s in yaml_strings(workflow()) for c in harness_command_lines(s)),
                        *harness_command_lines(yaml_comments(WORKFLOW.read_text()))],
        GITLAB.name: [*(c for s in yaml_strings(gitlab()) for c in harness_command_lines(s)),
                      *harness_command_lines(yaml_comments(GITLAB.read_text()))],
        NOXFILE.name: [*(c[1:] for mode in ("stock", "build") for c in nox_commands(mode, ["--only", "x"])),
                       *harness_command_lines(NOXFILE.read_text())],
        README.name: list(harness_command_lines(README.read_text())),
    }


def gate_out(lines: list[list[str]]) -> str:
    """The --out of the file's `harness gate` (exactly one, so its artifacts can be checked)."""
    gates = [line for line in lines if line[:1] == ["gate"]]
    outs = {line[line.index("--out") + 1] for line in gates if "--out" in line}
    assert len(outs) == 1, f"expected one `harness gate --out DIR`, found {gates}"
    return outs.pop()


def snippets(strings: Iterator[str]) -> list[str]:
    found = [m.group(1) for s in strings for m in re.finditer(r"<<'PY'[^\n]*\n(.*?)\nPY\b", s, re.S)]
    assert found, "the recipe names the node image with the harness's own Python"
    return found


def workflow_steps() -> list[dict[str, Any]]:
    steps = workflow()["jobs"]["gate"]["steps"]
    assert isinstance(steps, list)
    return steps


def steps_using(action: str) -> list[dict[str, Any]]:
    return [s for s in workflow_steps() if str(s.get("uses", "")).startswith(action + "@")]


# --------------------------------------------------------------------------------------------------
# Tests


def test_every_harness_command_line_exists_in_the_cli() -> None:
    lines = all_command_lines()
    problems = [f"{name}: harness {shlex.join(line)}: {problem}"
                for name, file_lines in lines.items() for line in file_lines for problem in cli_problems(line)]
    assert not problems, "\n".join(problems)
    for name, file_lines in lines.items():
        commands = {tuple(line[:2]) for line in file_lines}
        assert ("cluster", "up") in commands, f"{name} creates the cluster with `harness cluster up`"
        assert any(c[:1] == ("gate",) for c in commands), f"{name} runs `harness gate`"
        assert ("cluster", "down") in commands, f"{name} says how the cluster is removed"


@pytest.mark.parametrize(("argv", "problem"), [
    (["gate", "--bogus"], "has no option --bogus"),
    (["gat"], "has no command 'gat'"),
    (["cluster", "up", "--node-image"], "needs a value"),
    (["cluster", "up", "--force"], "has no option --force"),
    (["cluster", "image", "--force=1"], "takes no value"),
    (["report"], "needs 1 argument"),
    (["gate", "a", "b"], "takes 1 argument(s), not 2"),
    (["cluster"], "needs a command"),
])
def test_the_cli_check_finds_what_does_not_exist(argv: list[str], problem: str) -> None:
    (found,) = cli_problems(argv)
    assert problem in found


@pytest.mark.parametrize("argv", [
    ["--version"], ["gate", "--help"], ["gate", "-v", "builtin:", "--out=gate-report"],
    ["cluster", "image", "--no-force"], ["validate", "a.yaml", "b.yaml"], ["report", "runs/x"],
])
def test_the_cli_check_accepts_what_exists(argv: list[str]) -> None:
    assert cli_problems(argv) == []


def test_command_lines_are_told_from_prose() -> None:
    text = ("the harness writes reports; pip install rollout-harness==0.1.0 && harness gate --out x\n"
            "- `harness cluster up --name a` then `.venv/bin/harness cluster down`\n"
            "# harness gate scenarios/ | tee log\n"
            "run: /opt/rollout-harness/bin/harness cluster status --name a || true\n"
            "python3 -m venv /opt/rollout-harness\n")
    assert list(harness_command_lines(text)) == [
        ["gate", "--out", "x"], ["cluster", "up", "--name", "a"], ["cluster", "down"], ["gate", "scenarios/"],
        ["cluster", "status", "--name", "a"],
    ]


def test_github_workflow_passes_actionlint() -> None:
    beside = Path(sys.executable).parent / "actionlint"
    actionlint = str(beside) if beside.is_file() else shutil.which("actionlint")
    if actionlint is None:
        pytest.fail("actionlint is missing: run scripts/setup, which installs actionlint v1.7.12 into .venv/bin")
    proc = subprocess.run([actionlint, "-no-color", "-oneline", str(WORKFLOW)], capture_output=True, text=True,
                          check=False, timeout=120)
    assert proc.returncode == 0, f"actionlint {WORKFLOW}:\n{proc.stdout}{proc.stderr}"


def test_github_workflow_publishes_what_the_gate_writes() -> None:
    out = gate_out(all_command_lines()[WORKFLOW.name])
    uploaded = [line.strip() for s in steps_using("actions/upload-artifact") for line in s["with"]["path"].splitlines()]
    for name in REPORT_FILES:
        assert f"{out}/{name}" in uploaded
    assert f"{out}/runs/" in uploaded
    (report,) = steps_using("mikepenz/action-junit-report")
    assert report["with"]["report_paths"] == f"{out}/{JUNIT_FILE}"
    for step in [*steps_using("actions/upload-artifact"), report]:
        assert "cancelled()" in step["if"], "the results are published when the gate fails too"
    assert f"{out}/{MARKDOWN_FILE}" in "".join(str(s.get("run", "")) for s in workflow_steps())


def test_github_workflow_caches_the_node_image_and_the_build_cache(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    caches = [*steps_using("actions/cache/restore"), *steps_using("actions/cache/save")]
    by_path: dict[str, set[str]] = {}
    for step in caches:
        by_path.setdefault(step["with"]["path"], set()).add(step["with"]["key"])
    assert len(by_path) == 2 and all(len(keys) == 1 for keys in by_path.values()), by_path
    assert all("env.RH_NODE_IMAGE_REF" in key for keys in by_path.values() for key in keys)
    # The build cache path is the harness's own default cache directory.
    monkeypatch.delenv("RH_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert any(Path(os.path.expanduser(p)) == cache_dir() for p in by_path)
    (image_dir,) = (p for p in by_path if Path(os.path.expanduser(p)) != cache_dir())
    runs = "\n".join(str(s.get("run", "")) for s in workflow_steps())
    assert f"docker save -o {image_dir}/" in runs and f"docker load -i {image_dir}/" in runs


def test_gitlab_job_structure() -> None:
    data = gitlab()
    stages = data["stages"]
    jobs = {name: job for name, job in data.items() if isinstance(job, dict) and "script" in job}
    assert list(jobs) == ["rollout-gate"]
    job = jobs["rollout-gate"]
    assert job["stage"] in stages
    services = [s if isinstance(s, str) else s["name"] for s in job["services"]]
    assert any(re.fullmatch(r"docker:[\w.-]*dind", s) for s in services), services
    assert job["variables"]["DOCKER_HOST"].startswith("tcp://docker:")
    script = [words for item in job["script"] for words in harness_command_lines(item)]
    assert any(line[:1] == ["gate"] for line in script), "the job's script runs `harness gate`"
    out = gate_out(script)
    artifacts = job["artifacts"]
    assert artifacts["when"] == "always"
    for name in REPORT_FILES:
        assert f"{out}/{name}" in artifacts["paths"]
    assert artifacts["reports"]["junit"] == f"{out}/{JUNIT_FILE}"
    # The cache holds the harness's build cache and the node image tarballs, both inside the project.
    variables = job["variables"]
    cached = {p.rstrip("/") for p in job["cache"]["paths"]}
    for var in ("RH_CACHE_DIR", "RH_NODE_IMAGE_DIR"):
        assert variables[var].removeprefix("$CI_PROJECT_DIR/") in cached
    script_text = "\n".join(job["script"])
    assert 'docker load -i "$tarball"' in script_text and 'docker save -o "$tarball"' in script_text


def test_nox_session_runs_only_existing_harness_commands() -> None:
    for mode in ("stock", "build"):
        commands = nox_commands(mode, ["--only", "rolling-restart"])
        assert all(c[0] == "harness" for c in commands), commands
        problems = [p for c in commands for p in cli_problems(c[1:])]
        assert not problems, problems
        (up,) = [c for c in commands if c[1:3] == ["cluster", "up"]]
        assert up[up.index("--node-image") + 1] == mode
        expected = STOCK_K8S_VERSION if mode == "stock" else DEFAULT_K8S_VERSION
        assert up[up.index("--k8s-version") + 1] == expected
        (gate,) = [c for c in commands if c[1] == "gate"]
        assert gate[-2:] == ["--only", "rolling-restart"], "arguments after -- go to `harness gate`"


@pytest.mark.parametrize("mode", ["stock", "build"])
def test_node_facts_snippets_name_the_harness_node_image(mode: str) -> None:
    k8s = STOCK_K8S_VERSION if mode == "stock" else DEFAULT_K8S_VERSION
    image = STOCK_NODE_IMAGE if mode == "stock" else node_image_ref(node_versions(k8s))[0]
    found = [*snippets(yaml_strings(workflow())), *snippets(yaml_strings(gitlab())), load_noxfile().NODE_FACTS]
    for code in found:
        proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, "RH_NODE_IMAGE": mode},
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == [f"RH_K8S_VERSION={k8s}", f"RH_NODE_IMAGE_REF={image}"]
    bad = subprocess.run([sys.executable, "-c", found[0]], env={**os.environ, "RH_NODE_IMAGE": "latest"},
                         capture_output=True, text=True, check=False)
    assert bad.returncode != 0 and "use stock or build" in bad.stderr


def test_readme_names_the_files_the_harness_writes() -> None:
    text = README.read_text()
    out = gate_out(list(harness_command_lines(text)))
    for name in REPORT_FILES:
        assert f"`{out}/{name}`" in text
