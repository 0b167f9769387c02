"""The ``repeat:`` and ``sweep:`` sections of a scenario file.

```yaml
repeat:                        # or just `repeat: 5`
  runs: 5                      # run the scenario this many times on one cluster
  confidence: 0.95             # the level of the stated upper bound on the failure probability
  max_failure_rate_upper: 0.001   # optional: that bound (over all runs) must be at most this
sweep:
  vary:                        # each key a scenario path or alias (harness/overrides.py), with its values
    pre_stop_seconds: [0, 2, 5]
    env.DRAIN_DELAY: ["0s", "5s"]
  max_minutes: 60              # optional: stop after the cell that crosses it
```

The keys of ``vary`` are checked against the scenario when the sweep is planned (``harness validate``
and ``harness sweep`` do it before any cluster work), since they name fields of the scenario itself.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from harness.disruptions._base import Params

__all__ = ["MAX_CELLS", "MAX_RUNS", "RepeatSpec", "SweepSpec"]

MAX_RUNS = 1000  # repeats of one scenario or one cell
MAX_CELLS = 1000  # combinations of one sweep
_MAX_VALUES = 50  # values of one varied key
_MAX_KEYS = 8


class RepeatSpec(Params):
    runs: int = Field(1, ge=1, le=MAX_RUNS)
    confidence: float = Field(0.95, ge=0.5, le=0.9999)
    # The one-sided exact upper bound on the per-request failure probability over all runs must not
    # exceed this; judged over the repeats (harness.repeat), never by a single run's gates.
    max_failure_rate_upper: float | None = Field(None, gt=0, lt=1)

    @model_validator(mode="before")
    @classmethod
    def _count_alone(cls, data: Any) -> Any:
        # `repeat: 5` is short for `repeat: {runs: 5}`; a bool is no count, whatever YAML makes of it.
        if isinstance(data, int) and not isinstance(data, bool):
            return {"runs": data}
        return data


class SweepSpec(Params):
    vary: dict[str, list[Any]] = Field(min_length=1, max_length=_MAX_KEYS)
    max_minutes: float | None = Field(None, gt=0, le=7 * 24 * 60)

    @field_validator("vary")
    @classmethod
    def _values(cls, vary: dict[str, list[Any]]) -> dict[str, list[Any]]:
        cells = 1
        for key, values in vary.items():
            if not values:
                raise ValueError(f"{key}: give at least one value")
            if len(values) > _MAX_VALUES:
                raise ValueError(f"{key}: {len(values)} values, at most {_MAX_VALUES}")
            cells *= len(values)
        if cells > MAX_CELLS:
            raise ValueError(f"{cells} combinations, at most {MAX_CELLS}: vary fewer keys or fewer values")
        return vary
