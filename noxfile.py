"""Sessions: lint, typecheck, tests (Python unit tests and the Go tests), browser (reports in Chromium),
e2e (a real kind cluster).

Sessions run in the environment that scripts/setup prepared (.venv), so nothing is installed twice.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.needs_version = ">=2024.10.9"
nox.options.default_venv_backend = "none"
nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
REPORTS = ROOT / "reports"


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the package, tests, benchmarks and this file; gofmt and go vet over the service."""
    session.run("ruff", "check", "harness", "tests", "benchmarks", "noxfile.py")
    with session.chdir(ROOT / "sample-service"):
        unformatted = session.run("gofmt", "-l", ".", silent=True, external=True)
        if unformatted and str(unformatted).strip():
            session.error(f"gofmt would change: {unformatted}")
        session.run("go", "vet", "./...", external=True)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over harness/."""
    session.run("mypy")


@nox.session
def tests(session: nox.Session) -> None:
    """Unit tests (pure logic on recorded evidence) and the sample service's Go tests."""
    REPORTS.mkdir(exist_ok=True)
    session.run("pytest", "tests/unit", f"--junitxml={REPORTS / 'unit.xml'}", *session.posargs)
    with session.chdir(ROOT / "sample-service"):
        session.run("go", "test", "-count=1", "./...", external=True)


@nox.session(default=False)
def browser(session: nox.Session) -> None:
    """The reports in a real headless Chromium (Playwright), offline."""
    REPORTS.mkdir(exist_ok=True)
    session.run("pytest", "tests/browser", "-m", "browser", f"--junitxml={REPORTS / 'browser.xml'}", *session.posargs)


@nox.session(default=False)
def e2e(session: nox.Session) -> None:
    """End-to-end tests on a real kind cluster with real pods and real traffic.

    They never skip: without Docker or the node image build's tools they fail, naming what is missing.
    """
    for tool in ("docker", "go"):
        if shutil.which(tool) is None:
            session.error(f"e2e needs `{tool}` on PATH; run scripts/setup first")
    REPORTS.mkdir(exist_ok=True)
    env = {"RH_E2E": "1"}
    if "RH_KEEP_CLUSTER" in os.environ:
        env["RH_KEEP_CLUSTER"] = os.environ["RH_KEEP_CLUSTER"]
    session.run("pytest", "tests/e2e", "-m", "e2e", "--rollout-cluster", "rh-e2e", f"--junitxml={REPORTS / 'e2e.xml'}",
                *session.posargs, env=env)
