"""``harness fix-check``: apply a failed run's recommendations as overrides of the same scenario, run
it again, and say whether the failures are gone.

Only recommendations that carry scenario overrides can be checked this way (preStop, the grace
period, the rollout strategy); a change to the service's code cannot, and is listed as such."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from harness.diagnosis.model import Diagnosis, Recommendation
from harness.errors import ConfigError
from harness.files import write_atomic
from harness.scenario import Scenario
from harness.verdict.model import GateStatus, Verdict

__all__ = ["FIX_CHECK_FILE", "FixPlan", "FixResult", "MechanismChange", "failed_count", "load_failed_run", "plan_fix",
           "summarize_fix"]

FIX_CHECK_FILE = "fix-check.json"
RESULT_FILE = "result.json"


@dataclass
class FixPlan:
    overrides: dict[str, int | str]
    applied: list[Recommendation] = field(default_factory=list)
    not_applicable: list[Recommendation] = field(default_factory=list)
    # Mechanisms with at least one recommendation applied as a setting: the re-run checks those.
    checked: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class MechanismChange:
    """One mechanism's failed requests before and after the recommended settings."""

    mechanism: str
    before: int
    after: int
    checked: bool  # a recommendation for it was applied; else it needs a change no setting makes

    @property
    def status(self) -> str:
        if self.before == 0:
            return "new"
        if self.after == 0:
            return "gone"
        return "fewer" if self.after < self.before else "remains"

    def describe(self) -> str:
        how = "setting applied" if self.checked else "no setting applies: change the service"
        return f"{self.mechanism}: {self.before} before, {self.after} after ({self.status}; {how})"


def _mechanisms(verdict: Verdict) -> dict[str, int]:
    return {f.mechanism.value: f.count for f in (verdict.diagnosis.findings if verdict.diagnosis else [])}


@dataclass
class FixResult:
    before: Verdict
    after: Verdict
    plan: FixPlan

    @property
    def fixed(self) -> bool:
        return self.after.outcome is GateStatus.PASS

    def changes(self) -> list[MechanismChange]:
        """Every mechanism of either run, in the order of the run before, then the new ones."""
        before, after = _mechanisms(self.before), _mechanisms(self.after)
        names = list(before) + [m for m in after if m not in before]
        return [MechanismChange(m, before.get(m, 0), after.get(m, 0), m in self.plan.checked) for m in names]

    @property
    def settings_worked(self) -> bool:
        """Every mechanism a setting was applied for is gone, and no new one came."""
        return all(c.after == 0 for c in self.changes() if c.checked or c.status == "new")


def load_failed_run(run_dir: Path) -> tuple[Scenario, Verdict]:
    """The scenario and verdict of a saved run, or a ConfigError saying what is missing."""
    result, saved = run_dir / RESULT_FILE, run_dir / "scenario.json"
    for path in (result, saved):
        if not path.is_file():
            raise ConfigError(f"{path} does not exist", "point at a run directory written by `harness run`")
    try:
        verdict = Verdict.model_validate_json(result.read_text(encoding="utf-8"))
        data = json.loads(saved.read_text(encoding="utf-8"))
        scenario = Scenario.model_validate({**data, "source": verdict.facts.scenario_file})
    except (ValidationError, ValueError) as exc:
        raise ConfigError(f"{run_dir}: the saved verdict or scenario cannot be read ({exc})",
                          "re-run the scenario with this version of the harness") from exc
    return scenario, verdict


def plan_fix(diagnosis: Diagnosis | None) -> FixPlan:
    """The overrides of every recommendation that has some; where two ask for the same setting, the
    larger number wins (each is a lower bound)."""
    plan = FixPlan(overrides={})
    if diagnosis is None:
        return plan
    for finding in diagnosis.findings:
        for rec in finding.recommendations:
            if not rec.overrides:
                plan.not_applicable.append(rec)
                continue
            plan.applied.append(rec)
            plan.checked.add(finding.mechanism.value)
            for key, value in rec.overrides.items():
                old = plan.overrides.get(key)
                if isinstance(old, int) and isinstance(value, int):
                    plan.overrides[key] = max(old, value)
                else:
                    plan.overrides[key] = value
    return plan


def failed_count(verdict: Verdict) -> int:
    return verdict.counts.outcomes.failed(allow_4xx=verdict.config.allow_4xx)


def summarize_fix(result: FixResult) -> dict[str, object]:
    """What fix-check.json holds: the overrides, and the run before and after."""
    def side(v: Verdict) -> dict[str, object]:
        return {"run_id": v.run_id, "outcome": v.outcome.value, "failed": failed_count(v), "requests": v.counts.total,
                "mechanisms": _mechanisms(v)}

    return {
        "fixed": result.fixed,
        "settings_worked": result.settings_worked,
        "mechanisms": [{"mechanism": c.mechanism, "before": c.before, "after": c.after, "status": c.status,
                        "checked": c.checked} for c in result.changes()],
        "overrides": result.plan.overrides,
        "applied": [r.text for r in result.plan.applied],
        "not_applicable": [r.text for r in result.plan.not_applicable],
        "before": side(result.before),
        "after": side(result.after),
    }


def write_fix_check(run_dir: Path, result: FixResult) -> Path:
    path = run_dir / FIX_CHECK_FILE
    write_atomic(path, json.dumps(summarize_fix(result), indent=2) + "\n")
    return path
