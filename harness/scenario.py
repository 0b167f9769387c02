"""Scenario files: YAML validated into typed models.

An error names the file, the field, the value and what is allowed; never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.errors import ScenarioError
from harness.verdict import GateConfig

__all__ = [
    "DEFAULT_SCENARIO",
    "ClusterSection",
    "Scenario",
    "Step",
    "TargetSection",
    "TrafficSection",
    "default_scenario_path",
    "load_scenario",
]

DEFAULT_SCENARIO = "rolling-restart"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClusterSection(_Model):
    name: str = Field("rollout-harness", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=40)
    workers: int = Field(0, ge=0, le=5)
    k8s_version: str = "v1.34.4"
    # An existing cluster: the harness disrupts it only because the scenario names it here.
    context: str | None = None
    kubeconfig: str | None = None


class TargetSection(_Model):
    # A manifests directory, relative to the scenario file or the working directory.
    manifests: str = "manifests/sample-service"
    # "sample" builds the sample service's image (at ``version``); anything else is an image reference.
    image: str = "sample"
    version: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    replicas: int | None = Field(None, ge=1)
    max_surge: int | str | None = None
    max_unavailable: int | str | None = None
    termination_grace_period_seconds: int | None = Field(None, ge=0)
    pre_stop_seconds: int | None = Field(None, ge=0)
    service: str | None = None  # default: the Service that selects the Deployment
    url: str | None = None  # default: http://127.0.0.1:<cluster host port>
    paths: list[str] = Field(default_factory=lambda: ["/"], min_length=1)


ConnectionModeName = Literal["keep-alive", "new"]


def _both_modes() -> list[ConnectionModeName]:
    return ["keep-alive", "new"]


class TrafficSection(_Model):
    rate: float = Field(200.0, gt=0, le=5000, description="requests per second, all users together")
    users: int = Field(20, ge=1, le=500)
    connection_modes: list[ConnectionModeName] = Field(default_factory=_both_modes, min_length=1)
    warmup_s: float = Field(5.0, ge=0, le=300)
    settle_s: float = Field(5.0, ge=0, le=300)
    min_duration_s: float = Field(0.0, ge=0, le=3600)
    max_duration_s: float = Field(900.0, gt=0, le=7200)
    timeout_s: float = Field(5.0, gt=0, le=120)

    @property
    def keepalive_share(self) -> float:
        modes = set(self.connection_modes)
        return 0.5 if modes == {"keep-alive", "new"} else (1.0 if "keep-alive" in modes else 0.0)


StepAction = Literal[
    "rollout-restart", "set-image", "set-env", "scale", "delete-pod", "kill-pod", "drain", "rollback", "wait",
]


class When(_Model):
    """A condition that starts a step once it holds (checked twice a second, after ``at_s``/``after_s``)."""

    ready_pods_at_least: int | None = Field(None, ge=0)
    ready_pods_at_most: int | None = Field(None, ge=0)
    terminating_pods_at_least: int | None = Field(None, ge=1)
    requests_at_least: int | None = Field(None, ge=1)
    timeout_s: float = Field(120.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _one_condition(self) -> When:
        if all(v is None for v in (self.ready_pods_at_least, self.ready_pods_at_most,
                                    self.terminating_pods_at_least, self.requests_at_least)):
            raise ValueError("name a condition: ready_pods_at_least, ready_pods_at_most, "
                             "terminating_pods_at_least or requests_at_least")
        return self


class Step(_Model):
    action: StepAction
    name: str | None = None
    # When it starts: at a time since traffic began, or some seconds after the previous step ended,
    # and then, if given, once a condition holds.
    at_s: float | None = Field(None, ge=0)
    after_s: float = Field(0.0, ge=0)
    when: When | None = None
    deadline_s: float = Field(180.0, gt=0, le=3600, description="the rollout must complete within this")
    version: str | None = None  # set-image: sample service version to build and roll to
    image: str | None = None  # set-image: an image reference instead
    env: dict[str, str] = Field(default_factory=dict)  # set-env
    replicas: int | None = Field(None, ge=0)  # scale
    count: int = Field(1, ge=1)  # delete-pod / kill-pod: how many pods
    grace_period_s: int | None = Field(None, ge=0)  # delete-pod
    node: str | None = None  # drain: node name (default: the node with most target pods)
    seconds: float = Field(0.0, ge=0)  # wait

    @model_validator(mode="after")
    def _fields_for_action(self) -> Step:
        need = {
            "set-image": self.version is not None or self.image is not None,
            "set-env": bool(self.env),
            "scale": self.replicas is not None,
        }
        if not need.get(self.action, True):
            fields = {"set-image": "version or image", "set-env": "env", "scale": "replicas"}[self.action]
            raise ValueError(f"action {self.action!r} needs {fields}")
        return self

    @property
    def label(self) -> str:
        return self.name or self.action


class Scenario(_Model):
    name: str = Field(pattern=r"^[a-z0-9][-a-z0-9_.]*$", max_length=63)
    description: str = ""
    expect: Literal["pass", "fail"] = "pass"
    seed: int = 0
    cluster: ClusterSection = Field(default_factory=ClusterSection)
    target: TargetSection = Field(default_factory=TargetSection)
    traffic: TrafficSection = Field(default_factory=TrafficSection)
    steps: list[Step] = Field(min_length=1)
    gates: GateConfig = Field(default_factory=GateConfig)

    # Where the file was loaded from, for resolving relative paths; not part of the schema.
    source: str | None = Field(None, exclude=True)

    def resolve(self, relative: str) -> Path:
        path = Path(relative)
        if path.is_absolute():
            return path
        candidates = []
        if self.source:
            candidates.append(Path(self.source).resolve().parent / path)
            candidates.append(Path(self.source).resolve().parent.parent / path)
        candidates.append(Path.cwd() / path)
        candidates.append(Path(__file__).resolve().parents[1] / path)
        for candidate in candidates:
            if candidate.exists():
                return candidate
        return candidates[0]


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _value_at(data: Any, loc: tuple[int | str, ...]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def parse_scenario(data: Any, source: str) -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario must be a mapping, not {type(data).__name__}",
                            "start the file with `name: <scenario-name>` and `steps:`")
    try:
        return Scenario.model_validate({**data, "source": source})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            value = _value_at(data, loc)
            shown = "" if value is None else f" (value {value!r})"
            lines.append(f"  {_location(loc)}{shown}: {err['msg']}")
        raise ScenarioError(
            f"{source}: invalid scenario\n" + "\n".join(lines),
            "correct the fields named above; see scenarios/README.md for every field and its allowed values",
        ) from None


def load_scenario(path: Path) -> Scenario:
    if not path.exists():
        raise ScenarioError(f"scenario file {path} does not exist", "check the path (scenarios live in scenarios/)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(f"{path}:{where}: not valid YAML: {problem}",
                            "fix the YAML syntax at that position") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read scenario file {path}: {exc}", "check the file's permissions") from None
    return parse_scenario(data, str(path))


def default_scenario_path() -> Path:
    for base in (Path.cwd(), Path(__file__).resolve().parents[1]):
        candidate = base / "scenarios" / f"{DEFAULT_SCENARIO}.yaml"
        if candidate.exists():
            return candidate
    raise ScenarioError(
        f"the default scenario scenarios/{DEFAULT_SCENARIO}.yaml was not found",
        "run from a checkout of rollout-harness, or name a scenario file: harness run FILE",
    )
