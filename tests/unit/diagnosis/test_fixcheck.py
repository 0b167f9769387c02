"""fix-check's plan and its judgement, on the diagnoses of recorded runs: the settings recommended
for a mechanism, and whether each mechanism is gone after they were applied."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.fixcheck import FixResult, load_failed_run, plan_fix, summarize_fix
from harness.scenario import load_scenario
from harness.verdict import GateStatus
from tests.unit.recorded_verdicts import RECORDED, recorded_verdict

NO_DRAIN = recorded_verdict("naive-no-drain")
IGNORES_SIGTERM = recorded_verdict("naive-ignore-sigterm")
ABRUPT = recorded_verdict("naive-abrupt-close")
GRACEFUL = recorded_verdict("rolling-restart")


def test_the_plan_applies_every_recommendation_that_is_a_setting() -> None:
    plan = plan_fix(NO_DRAIN.diagnosis)
    assert NO_DRAIN.diagnosis is not None
    top = NO_DRAIN.diagnosis.findings[0]
    wanted = top.recommendations[0].overrides
    assert wanted and all(plan.overrides[k] == v or (isinstance(v, int) and int(plan.overrides[k]) >= v)
                          for k, v in wanted.items())
    assert top.mechanism.value in plan.checked
    assert all(r.overrides for r in plan.applied) and all(not r.overrides for r in plan.not_applicable)


def test_a_grace_kill_asks_for_a_longer_grace_period() -> None:
    plan = plan_fix(IGNORES_SIGTERM.diagnosis)
    assert int(plan.overrides["target.termination_grace_period_seconds"]) > 0
    assert "killed-at-grace-end" in plan.checked


def test_code_changes_are_listed_but_not_applied() -> None:
    plan = plan_fix(ABRUPT.diagnosis)
    assert plan.not_applicable  # "send Connection: close" is a change to the service
    assert "keepalive-closed-at-shutdown" not in plan.checked


def test_no_diagnosis_gives_nothing_to_apply() -> None:
    plan = plan_fix(None)
    assert plan.overrides == {} and not plan.applied and not plan.checked


def test_a_passing_run_after_the_fix_is_fixed_and_every_mechanism_gone() -> None:
    result = FixResult(before=NO_DRAIN, after=GRACEFUL, plan=plan_fix(NO_DRAIN.diagnosis))
    assert result.fixed and result.settings_worked
    changes = result.changes()
    assert changes and all(c.status == "gone" and c.after == 0 for c in changes)
    summary = summarize_fix(result)
    assert summary["fixed"] is True
    assert [m["mechanism"] for m in summary["mechanisms"]] == [c.mechanism for c in changes]  # type: ignore[index,union-attr]
    json.dumps(summary)


def test_what_a_setting_cannot_fix_remains_and_is_said_so() -> None:
    # After: a run whose only loss is kept-alive connections closed abruptly (a code change).
    plan = plan_fix(NO_DRAIN.diagnosis)
    result = FixResult(before=NO_DRAIN, after=ABRUPT, plan=plan)
    assert not result.fixed
    by_name = {c.mechanism: c for c in result.changes()}
    assert by_name["shutdown-before-endpoint-removal"].status == "gone"
    keepalive = by_name["keepalive-closed-at-shutdown"]
    assert keepalive.after > 0 and not keepalive.checked
    assert "change the service" in keepalive.describe()
    assert result.settings_worked is (keepalive.status != "new")


def test_a_mechanism_a_setting_was_applied_for_that_remains_means_it_did_not_work() -> None:
    result = FixResult(before=NO_DRAIN, after=NO_DRAIN.model_copy(update={"run_id": "again"}),
                       plan=plan_fix(NO_DRAIN.diagnosis))
    assert not result.fixed and not result.settings_worked
    assert {c.status for c in result.changes()} == {"remains"}
    assert NO_DRAIN.outcome is GateStatus.FAIL


def test_a_run_directory_without_its_evidence_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_failed_run(tmp_path)
    assert "result.json does not exist" in caught.value.problem
    assert "harness run" in caught.value.fix


def test_a_run_directory_loads_with_its_scenario(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(RECORDED / "naive-no-drain", run_dir)
    # As harness/run.py writes it at the start of a run (the recordings keep only the evidence).
    shipped = load_scenario(Path(__file__).resolve().parents[3] / "scenarios" / "naive-no-drain.yaml")
    (run_dir / "scenario.json").write_text(shipped.model_dump_json(indent=2))
    scenario, verdict = load_failed_run(run_dir)
    assert scenario.name == verdict.scenario == "naive-no-drain"
    assert scenario.target == shipped.target
