"""`harness replay`: run a recorded scenario again the same way, and say what differs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness import __version__
from harness.errors import ConfigError
from harness.run import RunOptions, RunResult, run_scenario
from harness.scenario import parse_scenario

__all__ = ["replay_run"]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}",
                          "pass a run directory written by `harness run` (it holds scenario.json)") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} is not a JSON object", "pass a run directory written by `harness run`")
    return data


def replay_run(run_dir: Path, *, out: Path, context: str | None = None) -> tuple[RunResult, list[str]]:
    scenario_data = _read_json(run_dir / "scenario.json")
    recorded = _read_json(run_dir / "versions.json") if (run_dir / "versions.json").exists() else {}
    scenario_data.pop("source", None)
    scenario = parse_scenario(scenario_data, str(run_dir / "scenario.json"))
    owned = bool(recorded.get("owned_cluster", True))
    # The original target: the harness's own cluster again, or the context that was named then.
    named = context or (None if owned else recorded.get("context"))
    kubeconfig = recorded.get("kubeconfig") if named and named == recorded.get("context") else None
    result = run_scenario(scenario, RunOptions(out_dir=out, context=named,
                                               kubeconfig=Path(kubeconfig) if kubeconfig else None))
    now = _read_json(result.run_dir / "versions.json")
    differences = []
    for key in ("harness", "kubernetes", "image", "image_id", "context", "seed"):
        if key in recorded and recorded.get(key) != now.get(key):
            differences.append(f"{key}: recorded {recorded.get(key)!r}, now {now.get(key)!r}")
    if recorded.get("harness") is None:
        differences.append(f"the recorded run names no harness version (now {__version__})")
    return result, differences
