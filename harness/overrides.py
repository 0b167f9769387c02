"""Scenario overrides: change fields of a loaded scenario by dotted path, and get a validated scenario.

A path names a field the way a scenario file nests it: ``target.pre_stop_seconds``,
``target.env.DRAIN_DELAY``, ``traffic.connection_modes``, ``traffic.rate``, ``steps.0.action``,
``steps.0.count``, ``gates.max_failed_ratio``. The common ones have short aliases (:data:`ALIASES`;
``env.NAME`` stands for ``target.env.NAME``). The changed scenario is validated again by the scenario
model, so an override can produce nothing a scenario file could not hold; a bad key or value raises
:class:`~harness.errors.ConfigError` naming it.

Values may be typed (from YAML) or text (from a command line). Text is converted by the type of the
field it lands in: ``"2"`` becomes 2 for an integer field, ``"25%"`` stays text for ``max_surge``,
``"keep-alive|new"`` becomes a list for ``connection_modes`` (a single mode, ``"new"``, a list of one),
``"null"`` clears an optional field (on ``target.env.NAME`` it removes the override). On a step:
``steps.0`` (alias ``disruption``) takes an action name, which replaces the step by that action with
the same start time and condition, or a mapping, which replaces the step as written; a new
``steps.N.action`` drops the fields the new action does not take.
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel

from harness.disruptions import REGISTRY
from harness.disruptions._base import StepBase
from harness.errors import ConfigError, ScenarioError
from harness.safe_yaml import shorten
from harness.scenario import Scenario, parse_scenario

__all__ = ["ALIASES", "apply_overrides", "canonical_key", "coerce_value", "format_value", "parse_assignment",
           "parse_vary"]

# Short names for the paths a user varies most; ``env.NAME`` also stands for ``target.env.NAME``.
ALIASES: dict[str, str] = {
    "pre_stop_seconds": "target.pre_stop_seconds",
    "pre_stop": "target.pre_stop_seconds",
    "grace": "target.termination_grace_period_seconds",
    "termination_grace_period_seconds": "target.termination_grace_period_seconds",
    "max_surge": "target.max_surge",
    "max_unavailable": "target.max_unavailable",
    "replicas": "target.replicas",
    "image": "target.image",
    "version": "target.version",
    "manifests": "target.manifests",
    "drain_delay": "target.env.DRAIN_DELAY",  # the sample service's drain after SIGTERM
    "request_delay_ms": "target.env.RESPONSE_DELAY_MS",  # the sample service's time per request
    "rate": "traffic.rate",
    "users": "traffic.users",
    "connection_modes": "traffic.connection_modes",
    "connection_mode": "traffic.connection_modes",
    "mode": "traffic.connection_modes",
    "timeout_s": "traffic.timeout_s",
    "warmup_s": "traffic.warmup_s",
    "settle_s": "traffic.settle_s",
    "traffic_model": "traffic.model",
    "arrivals": "traffic.arrivals",
    "disruption": "steps.0",
    "action": "steps.0.action",
}

_TOP_LEVEL = tuple(name for name in Scenario.model_fields if name != "source")
_NULL = ("null", "none", "~")
_INT = re.compile(r"[+-]?[0-9]+")
# The fields of a step that say when it starts; kept when the step is replaced by another action.
_TIMING = ("name", "at_s", "after_s", "when")

Parts = tuple[str | int, ...]


def canonical_key(key: str) -> str:
    """The dotted scenario path a key (or alias) names; ConfigError for a key that names nothing."""
    key = key.strip()
    if key in ALIASES:
        return ALIASES[key]
    if key.startswith("env.") and len(key) > len("env."):
        return "target." + key
    head = key.split(".", 1)[0]
    if head in _TOP_LEVEL and all(key.split(".")):
        return key
    raise ConfigError(
        f"override key {key!r} names no scenario field",
        f"use a dotted path starting with one of {', '.join(_TOP_LEVEL)} (e.g. target.pre_stop_seconds), "
        f"env.NAME, or an alias: {', '.join(ALIASES)}",
    )


def _parts(path: str) -> Parts:
    return tuple(int(p) if p.isdigit() else p for p in path.split("."))


def _strip_optional(annotation: Any) -> tuple[Any, bool]:
    """(the annotation without None, whether None is allowed)."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        nullable = len(args) < len(get_args(annotation))
        inner: Any = args[0] if len(args) == 1 else Union[tuple(args)]  # noqa: UP007
        return inner, nullable
    return annotation, False


def _step_model(data: Mapping[str, Any], index: int) -> type[StepBase] | None:
    steps = data.get("steps")
    if not isinstance(steps, list) or not 0 <= index < len(steps) or not isinstance(steps[index], dict):
        return None
    action = steps[index].get("action")
    return REGISTRY[action].params if isinstance(action, str) and action in REGISTRY else None


_STEP = object()  # the annotation of a whole step: an action name or a mapping


def _annotation_at(data: Mapping[str, Any], parts: Parts) -> Any:
    """The type a value at ``parts`` must have, read from the scenario model (None: unknown)."""
    annotation: Any = Scenario
    for depth, part in enumerate(parts):
        annotation, _ = _strip_optional(annotation)
        if annotation is _STEP:
            index = parts[depth - 1]
            model = _step_model(data, index) if isinstance(index, int) else None
            field = model.model_fields.get(part) if model is not None and isinstance(part, str) else None
            annotation = None if field is None else field.annotation
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation is Scenario and part == "steps":
                annotation = list
                continue
            field = annotation.model_fields.get(part) if isinstance(part, str) else None
            annotation = None if field is None else field.annotation
        elif annotation is list and depth and parts[depth - 1] == "steps":
            annotation = _STEP
        elif get_origin(annotation) is list:
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
        else:
            return None
        if annotation is None:
            return None
    return annotation


def _accepts(annotation: Any, kind: type) -> bool:
    inner, _ = _strip_optional(annotation)
    options = get_args(inner) if get_origin(inner) in (Union, types.UnionType) else (inner,)
    return kind in options


def coerce_value(key: str, value: object, scenario: Scenario | None = None) -> object:
    """``value`` converted for the field ``key`` names (text by the field's type; see the module doc)."""
    path = canonical_key(key)
    data = scenario.model_dump(mode="json", exclude_unset=True) if scenario is not None else {}
    return _coerce(path, value, _annotation_at(data, _parts(path)))


def _coerce(path: str, value: object, annotation: Any) -> object:
    if annotation is None:
        return _parse_text(value) if isinstance(value, str) else value
    inner, nullable = _strip_optional(annotation)
    if isinstance(value, str) and value.strip().lower() in _NULL and (nullable or path.startswith("target.env.")):
        return None
    if annotation is _STEP:
        if isinstance(value, str):
            parsed = _parse_text(value)
            return parsed if isinstance(parsed, dict) else value.strip()
        return value
    origin = get_origin(inner)
    if origin is list:
        item = get_args(inner)[0]
        if isinstance(value, str):
            text = value.strip()
            return [] if text in ("", "[]") else [_coerce(path, v.strip(), item) for v in text.split("|")]
        return value
    if not isinstance(value, str):
        if isinstance(value, int | float) and not isinstance(value, bool) and _accepts(inner, str) and not (
                _accepts(inner, int) or _accepts(inner, float)):
            return str(value)  # an unquoted YAML number for a text field such as an env value
        return value
    text = value.strip()
    if origin is dict or (isinstance(inner, type) and issubclass(inner, BaseModel)):
        return _parse_text(text)
    if _accepts(inner, bool) and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if _accepts(inner, int) and _INT.fullmatch(text):
        return int(text)
    if _accepts(inner, float):
        try:
            return float(text)
        except ValueError:
            if not _accepts(inner, str) and get_origin(inner) is not Literal:
                raise ConfigError(f"override {path}={shorten(value)}: not a number",
                                  f"give {path} a number, such as 2 or 0.5") from None
    if _accepts(inner, int) and not _accepts(inner, str) and get_origin(inner) is not Literal:
        raise ConfigError(f"override {path}={shorten(value)}: not an integer", f"give {path} a whole number")
    return value if path.startswith("target.env.") else text


def _parse_text(text: str) -> object:
    """A value of unknown type: read as one YAML flow value (``{action: delete-pod, count: 1}``, 3, x)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def format_value(value: object) -> str:
    """A value as one would write it back on a command line (lists with ``|``)."""
    if isinstance(value, list):
        return "|".join(format_value(v) for v in value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {format_value(v)}" for k, v in value.items()) + "}"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _split_top_level(text: str) -> list[str]:
    """Split at commas outside brackets, braces and quotes: ``{action: x, count: 1},y`` is two values."""
    parts: list[str] = []
    depth, quote, current = 0, "", ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        current += char
    parts.append(current)
    return [p.strip() for p in parts]


def parse_vary(text: str, scenario: Scenario | None = None) -> tuple[str, list[object]]:
    """``"key=v1,v2"`` -> (the canonical path, the values converted for its field)."""
    key, sep, values = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{shorten(text)} is not key=value[,value...]",
                          "write each varied setting as KEY=V1,V2, e.g. pre_stop_seconds=0,2,5")
    path = canonical_key(key)
    raw = _split_top_level(values)
    if any(v == "" for v in raw):
        raise ConfigError(f"{shorten(text)}: an empty value", f"list the values of {path} separated by commas")
    parsed = [coerce_value(path, v, scenario) for v in raw]
    _no_repeats(path, parsed)
    return path, parsed


def parse_assignment(text: str, scenario: Scenario | None = None) -> tuple[str, object]:
    """``"key=value"`` -> (the canonical path, the value converted for its field); one value only."""
    path, values = parse_vary(text, scenario)
    if len(values) != 1:
        raise ConfigError(f"{shorten(text)}: {len(values)} values where one is expected",
                          f"give {path} one value (lists are written with '|': keep-alive|new)")
    return path, values[0]


def _no_repeats(path: str, values: Sequence[object]) -> None:
    seen: list[object] = []
    for value in values:
        if value in seen:
            raise ConfigError(f"{path}: the value {format_value(value)} is listed twice", "list each value once")
        seen.append(value)


def _set(data: dict[str, Any], parts: Parts, value: object, path: str) -> None:
    """Put ``value`` at ``parts`` in the scenario's data, making the mappings on the way."""
    node: Any = data
    for depth, part in enumerate(parts[:-1]):
        where = ".".join(str(p) for p in parts[: depth + 1])
        if isinstance(node, list):
            node = _item(node, part, where, path)
            continue
        if not isinstance(node, dict) or not isinstance(part, str):
            raise ConfigError(f"override {path}: {where} is not a mapping", f"check the path {path}")
        if node.get(part) is None:
            node[part] = [] if isinstance(parts[depth + 1], int) else {}
        node = node[part]
    last = parts[-1]
    if isinstance(node, list) and isinstance(last, int):
        _item(node, last, path, path)
        node[last] = value
    elif isinstance(node, dict) and isinstance(last, str):
        if value is None and path.startswith("target.env."):
            node.pop(last, None)
        else:
            node[last] = value
    else:
        raise ConfigError(f"override {path}: the field before {last} holds no fields", f"check the path {path}")


def _item(node: list[Any], part: str | int, where: str, path: str) -> Any:
    if not isinstance(part, int) or not 0 <= part < len(node):
        raise ConfigError(f"override {path}: {where} is past the end (the list holds {len(node)})",
                          f"use an index from 0 to {len(node) - 1}" if node else "the list is empty")
    return node[part]


def _replace_step(data: dict[str, Any], index: int, value: object, path: str) -> None:
    steps = data.get("steps")
    if not isinstance(steps, list):
        raise ConfigError(f"override {path}: the scenario has no steps", "name a step that exists")
    old = _item(steps, index, f"steps.{index}", path)
    if isinstance(value, str):
        if value not in REGISTRY:
            raise ConfigError(f"override {path}={shorten(value)}: not an action",
                              f"one of {', '.join(REGISTRY)}")
        fields = REGISTRY[value].params.model_fields
        kept = {k: v for k, v in old.items() if k in _TIMING or (k in fields and k != "action")}
        steps[index] = {"action": value, **kept}
    elif isinstance(value, dict):
        steps[index] = dict(value)
    else:
        raise ConfigError(f"override {path}={_short(format_value(value))}: a step is an action name or a mapping",
                          "e.g. disruption=delete-pod, or steps.0={action: delete-pod, count: 1}")


def apply_overrides(scenario: Scenario, assignments: Mapping[str, object]) -> Scenario:
    """``scenario`` with each path set to its value, validated again as a scenario file would be.

    Keys are dotted paths or aliases (:func:`canonical_key`); text values are converted by their field's
    type (:func:`coerce_value`). Raises ConfigError naming the key and value of a bad override.
    """
    if not assignments:
        return scenario
    data = scenario.model_dump(mode="json", exclude_unset=True)
    written: list[str] = []
    for key, raw in assignments.items():
        path = canonical_key(key)
        parts = _parts(path)
        value = _coerce(path, raw, _annotation_at(data, parts))
        written.append(f"{path}={_short(format_value(value))}")
        if path == "source":
            raise ConfigError("override source: not a scenario field", "override the fields of the file")
        whole_step = len(parts) == 2 or (len(parts) == 3 and parts[2] == "action")
        if parts[0] == "steps" and len(parts) > 1 and isinstance(parts[1], int) and whole_step:
            _replace_step(data, parts[1], value, path)
        else:
            _set(data, parts, value, path)
    try:
        changed = parse_scenario(data, scenario.source or scenario.name)
    except ScenarioError as exc:
        detail = exc.problem.split("\n", 1)[1] if "\n" in exc.problem else exc.problem
        named = f"the override {written[0]} makes" if len(written) == 1 else f"the overrides {', '.join(written)} make"
        raise ConfigError(f"{named} an invalid scenario:\n{detail}",
                          "choose a value the field allows (scenarios/README.md lists every field)") from None
    return changed.model_copy(update={"source": scenario.source})
