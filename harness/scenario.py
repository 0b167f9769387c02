"""Scenario files: YAML validated into typed models.

Every value a run would refuse later is refused here, at load: unknown or misplaced fields, values out
of range or not finite, fields that contradict each other, steps that could only start once traffic is
over. An error names the file, the field, the value and what is allowed, in a dozen lines at most;
whatever the bytes of the file, the loader raises ScenarioError and nothing else.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field, ValidationError, field_serializer, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from harness.builtin import builtin_root, builtin_scenario, scenario_location
from harness.cluster.versions import DEFAULT_K8S_VERSION, STOCK_K8S_VERSION, SUPPORTED_K8S_VERSIONS
from harness.disruptions import ACTIONS, REGISTRY, DeadlineStep, Step, When
from harness.disruptions._base import MAX_PODS, MAX_RUN_S, MAX_STEP_S, Params
from harness.disruptions.delete_pod import DeletePod
from harness.disruptions.kill_pod import KillPod
from harness.disruptions.rollback import Rollback
from harness.disruptions.scale import Scale
from harness.disruptions.set_env import check_env_names
from harness.disruptions.set_image import SetImage
from harness.disruptions.wait import Wait
from harness.errors import ScenarioError
from harness.locustfile import locustfile_problems
from harness.manifests.values import scaled_value
from harness.requests_spec import RequestSpec, TlsSpec, absolute_traffic_paths, request_problems, unique_labels
from harness.safe_yaml import read_yaml, shorten
from harness.sweep.spec import RepeatSpec, SweepSpec
from harness.verdict import GateConfig

__all__ = [
    "DEFAULT_SCENARIO",
    "K8S_VERSIONS",
    "ClusterSection",
    "HelmSection",
    "Scenario",
    "Step",
    "TargetSection",
    "TrafficSection",
    "When",
    "default_scenario_path",
    "load_scenario",
    "parse_scenario",
]

DEFAULT_SCENARIO = "rolling-restart"
# The versions a node image exists for: built by the harness, or kind's stock image.
K8S_VERSIONS = tuple(sorted({*SUPPORTED_K8S_VERSIONS, STOCK_K8S_VERSION}))
_MAX_PROBLEMS = 9  # lines of one error; with the first, "... and N more" and the fix, 12 at most
_MAX_LINE = 220
_NO_CONTROL = r"^[^\x00-\x1f\x7f]+$"


class ClusterSection(Params):
    name: str = Field("rollout-harness", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=40)
    workers: int = Field(0, ge=0, le=5)
    k8s_version: str = DEFAULT_K8S_VERSION
    # An existing cluster: the harness disrupts it only because the scenario names it here.
    context: str | None = Field(None, max_length=253, pattern=_NO_CONTROL)
    kubeconfig: str | None = Field(None, max_length=4096, pattern=_NO_CONTROL)

    @field_validator("k8s_version")
    @classmethod
    def _known_version(cls, value: str) -> str:
        if value not in K8S_VERSIONS:
            raise ValueError(f"no node image of this version; one of {', '.join(K8S_VERSIONS)}")
        return value


def _int_or_percent(value: Any, field: str) -> Any:
    """An IntOrString as Kubernetes takes it, checked with the rules the manifests are rendered by."""
    if value is None:
        return value
    try:
        percent = scaled_value(value, 100, round_up=True)  # against 100: the number Kubernetes validates
    except ValueError as exc:
        raise ValueError(f"{exc}; give an integer >= 0 or a percentage such as '25%'") from None
    if field == "max_unavailable" and isinstance(value, str) and percent > 100:
        raise ValueError("may not be more than 100%")
    return value


class HelmSection(Params):
    """A Helm chart rendered with ``helm template`` (harness/manifests/sources.py); paths relative to the
    scenario file's directory."""

    chart: str = Field(max_length=4096, pattern=_NO_CONTROL)
    values: list[str] = Field(default_factory=list, max_length=20)
    set: dict[str, str | int | float | bool] = Field(default_factory=dict, max_length=100)
    release: str | None = Field(None, max_length=53, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

    @field_validator("values")
    @classmethod
    def _values_paths(cls, values: list[str]) -> list[str]:
        for value in values:
            if not value or not re.fullmatch(_NO_CONTROL, value) or len(value) > 4096:
                raise ValueError(f"{shorten(value)} is not a file path")
        return values

    @field_validator("set")
    @classmethod
    def _set_keys(cls, values: dict[str, str | int | float | bool]) -> dict[str, str | int | float | bool]:
        for key in values:
            # Helm's --set reads "a.b[0].c": no '=', ',' or spaces in a key.
            if not re.fullmatch(r"[A-Za-z0-9_.\[\]\-]+", key) or len(key) > 253:
                raise ValueError(f"{shorten(key)} is not a Helm value path such as image.tag or ports[0].name")
        return values


class TargetSection(Params):
    # A manifests directory, relative to the scenario file's directory: plain YAML, a kustomization
    # (rendered with kubectl kustomize) or a Helm chart; none: the sample service's manifests that ship
    # with the harness (the target the default image "sample" is built for).
    manifests: str | None = Field(None, max_length=4096, pattern=_NO_CONTROL)
    # A Helm chart with values, instead of manifests.
    helm: HelmSection | None = None
    # "sample" builds the sample service's image (at ``version``); anything else is an image reference.
    image: str = Field("sample", max_length=255, pattern=r"^[^\s\x00-\x1f\x7f]+$")
    version: str | None = Field(None, pattern=r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
    env: dict[str, str] = Field(default_factory=dict, max_length=100)
    replicas: int | None = Field(None, ge=1, le=MAX_PODS)
    max_surge: int | str | None = None
    max_unavailable: int | str | None = None
    termination_grace_period_seconds: int | None = Field(None, ge=0, le=int(MAX_STEP_S))
    pre_stop_seconds: int | None = Field(None, ge=0, le=int(MAX_STEP_S))
    # The Service traffic is meant for. Default: the only one that selects the Deployment's pods.
    service: str | None = Field(None, max_length=63, pattern=r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
    # The port of that Service traffic goes to, by number or name. Default: its only port.
    port: int | str | None = None
    url: str | None = Field(None, max_length=2048, pattern=r"^https?://[^\s/\x00-\x1f\x7f]+[^\s\x00-\x1f\x7f]*$")
    paths: list[str] = Field(default_factory=lambda: ["/"], min_length=1, max_length=100)
    # Cluster-scoped objects in the manifests: refused, or applied labelled with the run and deleted at cleanup.
    cluster_scoped: Literal["refuse", "apply"] = "refuse"

    _env_names = field_validator("env")(check_env_names)

    @field_validator("env")
    @classmethod
    def _env_values(cls, env: dict[str, str]) -> dict[str, str]:
        for name, value in env.items():
            if "\x00" in value:
                raise ValueError(f"the value of {name} holds a NUL character, which no container environment can")
        return env

    @field_validator("port")
    @classmethod
    def _service_port(cls, port: int | str | None) -> int | str | None:
        if isinstance(port, bool):
            raise ValueError("a port is a number (1..65535) or a port name")
        if isinstance(port, int) and not 1 <= port <= 65535:
            raise ValueError("a port number is 1..65535")
        if isinstance(port, str) and not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?", port):
            raise ValueError("a port name is 1..15 lowercase letters, digits and '-' (an IANA service name)")
        return port

    @field_validator("max_surge", "max_unavailable", mode="before")
    @classmethod
    def _rolling_value(cls, value: Any, info: Any) -> Any:
        return _int_or_percent(value, info.field_name)

    @field_validator("paths")
    @classmethod
    def _request_paths(cls, paths: list[str]) -> list[str]:
        for path in paths:
            if not re.fullmatch(r"/[^\s\x00-\x1f\x7f]*", path):
                raise ValueError(f"{shorten(path)} is not a request path: start with '/', no spaces")
        return paths

    @model_validator(mode="after")
    def _one_source(self) -> TargetSection:
        if self.helm is not None and self.manifests is not None:
            raise ValueError("target.manifests and target.helm both name the objects to deploy; keep one")
        return self

    @model_validator(mode="after")
    def _rollout_can_move(self) -> TargetSection:
        surge, unavailable = self.max_surge, self.max_unavailable
        if surge is not None and unavailable is not None and (
                scaled_value(surge, 100, round_up=True) == 0 == scaled_value(unavailable, 100, round_up=False)):
            raise ValueError("max_surge and max_unavailable are both 0, which Kubernetes refuses (no pod could "
                             "ever be replaced); let one of them be at least 1")
        return self


ConnectionModeName = Literal["keep-alive", "new"]


def _both_modes() -> list[ConnectionModeName]:
    return ["keep-alive", "new"]


class TrafficSection(Params):
    rate: float = Field(200.0, gt=0, le=5000, description="requests per second, all users together")
    users: int = Field(20, ge=1, le=500)
    connection_modes: list[ConnectionModeName] = Field(default_factory=_both_modes, min_length=1, max_length=2)
    warmup_s: float = Field(5.0, ge=0, le=300)
    settle_s: float = Field(5.0, ge=0, le=300)
    min_duration_s: float = Field(0.0, ge=0, le=MAX_RUN_S)
    max_duration_s: float = Field(900.0, gt=0, le=MAX_RUN_S)
    timeout_s: float = Field(5.0, gt=0, le=120)
    # open: each mode sends on a fixed schedule whatever is outstanding; closed: users wait for answers.
    model: Literal["open", "closed"] = "open"
    arrivals: Literal["uniform", "poisson"] = "uniform"  # open model: gaps of the schedule (poisson: by seed)
    max_in_flight: int | None = Field(None, ge=1, le=100_000)  # per mode; default ceil(rate x timeout_s x 1.2) + users
    # The service's own requests, sent in proportion to their weights (harness/requests_spec.py);
    # none: a GET of each of target.paths in turn.
    requests: list[RequestSpec] | None = Field(None, min_length=1, max_length=100)
    # The Host header of every request; none: the target URL's host and port.
    host: str | None = Field(None, max_length=261, pattern=r"^[^\s/\x00-\x1f\x7f]+$")
    tls: TlsSpec = Field(default_factory=TlsSpec)  # for an https target
    # A locustfile whose RecordedUser classes (harness.traffic.user) say what to send; its users are
    # closed-loop, so the model is closed unless the file says otherwise (and then it is refused).
    locustfile: str | None = Field(None, max_length=4096, pattern=_NO_CONTROL)

    _request_labels = field_validator("requests")(unique_labels)

    @model_validator(mode="before")
    @classmethod
    def _locust_users_are_closed(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("locustfile") is not None and "model" not in data:
            return {**data, "model": "closed"}
        return data

    @field_validator("connection_modes")
    @classmethod
    def _each_mode_once(cls, modes: list[ConnectionModeName]) -> list[ConnectionModeName]:
        if len(set(modes)) != len(modes):
            raise ValueError("name each connection mode once")
        return modes

    @model_validator(mode="after")
    def _durations(self) -> TrafficSection:
        if self.min_duration_s > self.max_duration_s:
            raise ValueError(f"min_duration_s {self.min_duration_s:g} > max_duration_s {self.max_duration_s:g}: "
                             "traffic stops by itself at max_duration_s")
        if self.warmup_s >= self.max_duration_s:
            raise ValueError(f"warmup_s {self.warmup_s:g} is not below max_duration_s {self.max_duration_s:g}: "
                             "traffic would be over before the first step")
        return self

    @property
    def keepalive_share(self) -> float:
        modes = set(self.connection_modes)
        return 0.5 if modes == {"keep-alive", "new"} else (1.0 if "keep-alive" in modes else 0.0)


_Problem = tuple[tuple[str | int, ...], Any, str]


def _written(model: BaseModel, field: str) -> bool:
    """Whether a field holds other than its default: a default upper bound contradicts nothing (and a
    value equal to the default reads the same after the JSON round trip of a replay)."""
    return bool(getattr(model, field) != type(model).model_fields[field].default)


class Scenario(Params):
    name: str = Field(pattern=r"^[a-z0-9][-a-z0-9_.]*$", max_length=63)
    description: str = Field("", max_length=4000)
    expect: Literal["pass", "fail"] = "pass"
    # Seeds every choice a disruption makes (which pods, which node), so a replay makes the same ones.
    seed: int = Field(0, ge=0, le=2**63 - 1)
    cluster: ClusterSection = Field(default_factory=ClusterSection)
    target: TargetSection = Field(default_factory=TargetSection)
    traffic: TrafficSection = Field(default_factory=TrafficSection)
    steps: list[Step] = Field(min_length=1, max_length=50)
    gates: GateConfig = Field(default_factory=GateConfig)
    # Repeated runs with a stated bound, and a settings sweep (harness/sweep/spec.py).
    repeat: RepeatSpec | None = None
    sweep: SweepSpec | None = None

    # Where the file was loaded from, for resolving relative paths; not part of the schema.
    source: str | None = Field(None, exclude=True)

    @field_serializer("gates")
    def _named_gates(self, gates: GateConfig) -> dict[str, Any]:
        # Only what the file named: the defaults the steps imply (gate_defaults) are worked out again
        # when a replay parses this, as they were for the run.
        return gates.model_dump(mode="json", exclude_unset=True)

    @model_validator(mode="after")
    def _coherent(self) -> Scenario:
        problems = [*self._timing_problems(), *self._step_problems(), *request_problems(self),
                    *locustfile_problems(self)]
        if problems:
            raise ValidationError.from_exception_data("Scenario", [
                InitErrorDetails(type=PydanticCustomError("scenario_contradiction", "{message}", {"message": msg}),
                                 loc=loc, input=value)
                for loc, value, msg in problems])
        return self

    def _timing_problems(self) -> Iterator[_Problem]:
        """Each step must be able to start (and a wait to end) while traffic still flows."""
        limit = self.traffic.max_duration_s
        clock = self.traffic.warmup_s  # the first step starts once the warm-up is over
        for i, step in enumerate(self.steps):
            if step.at_s is not None:
                clock, field, value = max(clock, step.at_s), "at_s", step.at_s
            else:
                clock, field, value = clock + step.after_s, "after_s", step.after_s
            if clock >= limit:
                yield (("steps", i, field), value,
                       f"the step starts {clock:g} s after traffic began at the earliest (warm-up, then the steps "
                       f"before it), not before traffic.max_duration_s {limit:g}; start it earlier or raise that")
            if isinstance(step, Wait):
                clock += step.seconds
                if clock > limit and step.seconds:
                    yield (("steps", i, "seconds"), step.seconds,
                           f"the wait ends {clock:g} s after traffic began at the earliest, after "
                           f"traffic.max_duration_s {limit:g}")
            if isinstance(step, DeadlineStep) and step.deadline_s > limit and _written(step, "deadline_s"):
                yield (("steps", i, "deadline_s"), step.deadline_s,
                       f"longer than traffic.max_duration_s {limit:g}: traffic would end before the deadline")
            if step.when is not None:
                yield from self._when_problems(i, step.when)

    def _when_problems(self, i: int, when: When) -> Iterator[_Problem]:
        limit = self.traffic.max_duration_s
        if when.timeout_s > limit and _written(when, "timeout_s"):
            yield (("steps", i, "when", "timeout_s"), when.timeout_s,
                   f"longer than traffic.max_duration_s {limit:g}: traffic would end first")
        reachable = self.traffic.rate * limit
        if when.requests_at_least is not None and when.requests_at_least > reachable:
            yield (("steps", i, "when", "requests_at_least"), when.requests_at_least,
                   f"more than traffic sends in all ({self.traffic.rate:g} req/s for {limit:g} s = {reachable:.0f})")

    def _step_problems(self) -> Iterator[_Problem]:
        """What a step needs of the steps before it and of the target."""
        rolled = False
        replicas = self.target.replicas  # None: the manifest's, unknown here
        for i, step in enumerate(self.steps):
            if isinstance(step, SetImage) and step.version is not None and self.target.image != "sample":
                yield (("steps", i, "version"), step.version,
                       f"a version is built from the sample service, but target.image is {shorten(self.target.image)}"
                       "; name the image to roll to with image: instead")
            if isinstance(step, Rollback) and not rolled:
                yield (("steps", i, "action"), step.action,
                       "nothing to roll back to: put a step that rolls (" +
                       ", ".join(a for a, d in REGISTRY.items() if d.rolls and a != "rollback") + ") before it")
            if isinstance(step, DeletePod | KillPod) and replicas is not None and step.count > replicas:
                yield (("steps", i, "count"), step.count,
                       f"more pods than the {replicas} replica(s) the workload has by then")
            if isinstance(step, Scale):
                replicas = step.replicas
            rolled = rolled or REGISTRY[step.action].rolls

    def resolve(self, relative: str) -> Path:
        """A path the scenario names, relative to the directory of its file and nothing else: a scenario
        means the same wherever the harness runs from. With no file (a scenario built in code), relative
        to the working directory."""
        path = Path(relative).expanduser()
        if path.is_absolute():
            return path
        base = Path(self.source).parent if self.source else Path()
        return (base / path).resolve()

    def manifests_dir(self, target: TargetSection | None = None) -> Path:
        """The manifests directory of ``target`` (default: this scenario's)."""
        manifests = (target or self.target).manifests
        if manifests is None:
            return builtin_root() / "manifests" / "sample-service"
        return self.resolve(manifests)

    def with_absolute_paths(self) -> Scenario:
        """This scenario with every path it names made absolute, as a run records it: a replay reads the
        record from the run directory, where the file's relative paths would mean something else."""
        helm = self.target.helm
        update: dict[str, Any] = {"target": self.target.model_copy(update={
            "manifests": None if self.target.manifests is None else str(self.manifests_dir()),
            "helm": None if helm is None else helm.model_copy(update={
                "chart": str(self.resolve(helm.chart)), "values": [str(self.resolve(v)) for v in helm.values]})})}
        if self.cluster.kubeconfig is not None:
            update["cluster"] = self.cluster.model_copy(update={
                "kubeconfig": str(self.resolve(self.cluster.kubeconfig))})
        traffic = absolute_traffic_paths(self)
        if traffic:
            update["traffic"] = self.traffic.model_copy(update=traffic)
        return self.model_copy(update=update)


# Errors: one line per problem, naming the field path, the value and what is allowed.

Loc = tuple[int | str, ...]


def _location(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _value_at(data: Any, loc: Loc) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _without_tag(loc: Loc) -> Loc:
    """A step's errors carry its action as a location part (steps.0.set-image.version); drop it."""
    if len(loc) > 2 and loc[0] == "steps" and isinstance(loc[1], int) and loc[2] in REGISTRY:
        return loc[:2] + loc[3:]
    return loc


def _model_at(loc: Loc, data: Any) -> tuple[str, type[BaseModel]] | None:
    """The model (and how to call it) whose fields ``loc`` points into, or None if it names a value."""
    label: str = "a scenario"
    model: type[BaseModel] = Scenario
    i = 0
    while i < len(loc):
        part = loc[i]
        if model is Scenario and part == "steps" and i + 1 < len(loc):
            action = _value_at(data, ("steps", loc[i + 1], "action"))
            if not isinstance(action, str) or action not in REGISTRY:
                return None
            label, model, i = f"action {action}", REGISTRY[action].params, i + 2
            continue
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            return None
        nested = [a for a in (field.annotation, *get_args(field.annotation))
                  if isinstance(a, type) and issubclass(a, BaseModel)]
        if not nested:
            return None
        label, model, i = str(part), nested[0], i + 1
    return label, model


def _describe(err: Any, data: Any) -> str:
    loc = _without_tag(tuple(err["loc"]))
    kind, msg, value = err["type"], str(err["msg"]), err.get("input")
    show = kind not in ("missing", "union_tag_not_found")
    if kind == "union_tag_invalid":
        loc, value = (*loc, "action"), _value_at(data, (*loc, "action"))
        msg = f"not an action; one of {', '.join(ACTIONS)}"
    elif kind == "union_tag_not_found":
        msg = f"a step needs an action: one of {', '.join(ACTIONS)}"
    elif kind == "extra_forbidden":
        owner = _model_at(loc[:-1], data)
        if owner is not None:
            label, model = owner
            fields = ", ".join(f for f in model.model_fields if f != "source")
            msg = (f"does not apply to {label}, which takes {fields}" if label.startswith("action ")
                   else f"unknown field; {label} takes {fields}")
    elif kind == "string_type" and isinstance(value, int | float | dt.date):
        msg += f" (YAML read it as {type(value).__name__}; quote it to keep it text: '{value}')"
    elif kind in ("value_error", "assertion_error"):
        msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        show = _model_at(loc, data) is None  # a rule across fields: the fields are named in the message
    shown = f" (value {shorten(value)})" if show else ""
    line = f"  {_location(loc)}{shown}: {msg}"
    return line if len(line) <= _MAX_LINE else line[: _MAX_LINE - 3] + "..."


def parse_scenario(data: Any, source: str) -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario must be a mapping, not {type(data).__name__}",
                            "start the file with `name: <scenario-name>` and `steps:`")
    try:
        return Scenario.model_validate({**data, "source": source})
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        lines = [_describe(err, data) for err in errors[:_MAX_PROBLEMS]]
        if len(errors) > _MAX_PROBLEMS:
            lines.append(f"  ... and {len(errors) - _MAX_PROBLEMS} more")
        count = f" ({len(errors)} problems)" if len(errors) > 1 else ""
        raise ScenarioError(
            f"{source}: invalid scenario{count}\n" + "\n".join(lines),
            "correct the fields named above; see scenarios/README.md for every field and its allowed values",
        ) from None


def load_scenario(path: Path) -> Scenario:
    """The scenario in ``path``; ``builtin:NAME`` loads a scenario that ships with the harness."""
    path = scenario_location(path)
    if not path.exists():
        raise ScenarioError(f"scenario file {path} does not exist", "check the path (scenarios live in scenarios/)")
    if path.is_dir():
        raise ScenarioError(f"{path} is a directory, not a scenario file",
                            "name a file, such as scenarios/rolling-restart.yaml")
    try:
        documents = read_yaml(path, error=ScenarioError)
    except ScenarioError:
        raise
    except Exception as exc:
        # PyYAML's constructors raise whatever converting a tagged scalar raises: a date such as
        # 2024-13-45, `!!int x`, `!!bool maybe` give ValueError, KeyError, AttributeError.
        raise ScenarioError(f"{path}: a value cannot be read as YAML: {type(exc).__name__}: {shorten(str(exc), 120)}",
                            "quote the value to keep it a string, or correct it") from None
    if not documents:
        raise ScenarioError(f"{path}: the file is empty", "start the file with `name: <scenario-name>` and `steps:`")
    if len(documents) > 1:
        raise ScenarioError(f"{path}:{documents[1].line}: a second YAML document; a scenario file holds one",
                            "remove the '---' and what follows, or put it in a file of its own")
    return parse_scenario(documents[0].data, str(path))


def default_scenario_path() -> Path:
    return builtin_scenario(DEFAULT_SCENARIO)
