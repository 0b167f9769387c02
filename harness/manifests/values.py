"""Value forms Kubernetes and the sample service accept, resolved the way they resolve them."""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = [
    "IntOrPercent",
    "is_percent",
    "parse_go_duration",
    "resolve_fenceposts",
    "scaled_value",
]

IntOrPercent = int | str

_PERCENT = re.compile(r"^[0-9]+%$")
# Go's time.ParseDuration units; "ms" precedes "m" so that "5ms" is not read as minutes.
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def is_percent(value: Any) -> bool:
    """True for the string form of an IntOrString that Kubernetes accepts ("25%")."""
    return isinstance(value, str) and _PERCENT.match(value) is not None


def scaled_value(value: IntOrPercent, total: int, *, round_up: bool) -> int:
    """An IntOrString resolved against ``total`` as ``intstr.GetScaledValueFromIntOrPercent`` does.

    Raises ValueError for anything Kubernetes would reject (negative numbers, "3" as a string,
    booleans, which YAML 1.1 produces from an unquoted ``yes``).
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{value!r} is neither an integer nor a percentage")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{value} is negative")
        return value
    if not is_percent(value):
        raise ValueError(f"{value!r} is not an integer or a percentage such as '25%'")
    scaled = int(value[:-1]) * total
    # Integer arithmetic gives the same result as Kubernetes' float ceil/floor for every whole input.
    return -(-scaled // 100) if round_up else scaled // 100


def resolve_fenceposts(
    replicas: int, max_surge: IntOrPercent, max_unavailable: IntOrPercent
) -> tuple[int, int]:
    """(surge, unavailable) pods a RollingUpdate may use, as the Deployment controller resolves them.

    maxSurge rounds up, maxUnavailable rounds down; when both come to zero the controller falls back to
    one unavailable pod, so a percentage that rounds to nothing still lets a pod go.
    """
    surge = scaled_value(max_surge, replicas, round_up=True)
    unavailable = scaled_value(max_unavailable, replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration string ("5s", "1m30s", "500ms", "0"); ValueError if Go would reject it."""
    s = text.strip()
    sign = 1.0
    if s[:1] in ("+", "-"):
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(f"{text!r} is not a Go duration")
    total = 0.0
    pos = 0
    while pos < len(s):
        match = _DURATION_PART.match(s, pos)
        if match is None:
            raise ValueError(f"{text!r} is not a Go duration (use a number and a unit: 500ms, 5s, 1m30s)")
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not math.isfinite(total):
        raise ValueError(f"{text!r} is out of range")
    return sign * total
