"""The scenarios, manifests and sample service that ship with the harness.

In an installed harness they are package data under ``harness/_builtin/`` (copied there when the wheel
is built, see setup.py); in a checkout they are the checkout's own ``scenarios/``, ``manifests/`` and
``sample-service/``. Either way the tree has the same shape, so a shipped scenario's relative paths
(``../manifests/sample-service``) hold in both.

``builtin:NAME`` names a shipped scenario wherever a scenario file is accepted; ``builtin:`` alone
names the directory of them.
"""

from __future__ import annotations

from pathlib import Path

import harness
from harness.errors import ConfigError, ScenarioError

__all__ = ["PREFIX", "builtin_root", "builtin_scenario", "builtin_scenarios", "scenario_location"]

PREFIX = "builtin:"
_PACKAGED = Path(harness.__file__).resolve().parent / "_builtin"
_CHECKOUT = Path(harness.__file__).resolve().parents[1]
_SUBDIRS = ("sweeps",)  # shipped scenarios kept apart so that `harness gate builtin:` skips them


def builtin_root() -> Path:
    """The directory holding ``scenarios/``, ``manifests/`` and ``sample-service/``."""
    if _PACKAGED.is_dir():
        return _PACKAGED
    if (_CHECKOUT / "scenarios").is_dir():
        return _CHECKOUT
    raise ConfigError(
        f"the built-in scenarios are missing: neither {_PACKAGED} nor {_CHECKOUT / 'scenarios'} exists",
        "reinstall rollout-harness from a wheel built with its setup.py (`pip install .` in a checkout), "
        "or name a scenario file of your own",
    )


def _scenario_files() -> dict[str, Path]:
    scenarios = builtin_root() / "scenarios"
    found = {p.stem: p for p in scenarios.glob("*.yaml")}
    for sub in _SUBDIRS:
        found.update({f"{sub}/{p.stem}": p for p in (scenarios / sub).glob("*.yaml")})
    return {name: path for name, path in sorted(found.items()) if not path.name.startswith(".")}


def builtin_scenario(name: str) -> Path:
    """The file of the shipped scenario ``name`` (as `harness scenarios` lists it)."""
    files = _scenario_files()
    wanted = name.removesuffix(".yaml")
    if wanted in files:
        return files[wanted]
    shown = name or "(no name)"
    raise ScenarioError(
        f"no built-in scenario {shown!r}; the built-in ones are {', '.join(files) or 'none'}",
        "name one of them, e.g. builtin:rolling-restart (`harness scenarios` lists them with what each does)",
    )


def _describe(path: Path) -> str:
    """A scenario's description: field, else its first comment line; read without validating it."""
    import yaml

    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("description"), str) and data["description"].strip():
        return " ".join(data["description"].split())
    comments = [line.lstrip("# ").strip() for line in text.splitlines() if line.startswith("#")]
    return next((c for c in comments if c), "")


def builtin_scenarios() -> list[tuple[str, str]]:
    """Every shipped scenario: its name (for ``builtin:NAME``) and what it does."""
    return [(name, _describe(path)) for name, path in _scenario_files().items()]


def scenario_location(path: Path) -> Path:
    """The file or directory a scenario argument names: ``builtin:NAME`` a shipped scenario, ``builtin:``
    the directory of them, anything else the path as given."""
    text = str(path)
    if not text.startswith(PREFIX):
        return path
    name = text.removeprefix(PREFIX)
    return builtin_root() / "scenarios" if not name else builtin_scenario(name)
