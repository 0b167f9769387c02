"""``result.json``: the verdict as data, for CI, dashboards and re-rendering reports later."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from harness.errors import ConfigError
from harness.files import write_atomic
from harness.verdict import Verdict

__all__ = ["RESULT_FILE", "read_result_json", "verdict_to_json", "write_result_json"]

RESULT_FILE = "result.json"


def verdict_to_json(verdict: Verdict) -> str:
    return verdict.model_dump_json(indent=2) + "\n"


def write_result_json(out: Path, verdict: Verdict) -> Path:
    """Write the verdict to ``out`` (a run directory gets ``result.json``); return the file written."""
    target = out / RESULT_FILE if out.is_dir() else out
    return write_atomic(target, verdict_to_json(verdict))


def read_result_json(path: Path) -> Verdict:
    target = path / RESULT_FILE if path.is_dir() else path
    try:
        return Verdict.model_validate_json(target.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{target} does not exist", "judge the run first: harness report <run dir>") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ConfigError(f"{target}: field {where}: {first['msg']}",
                          "re-judge the run to rewrite result.json with this version of the harness") from exc
