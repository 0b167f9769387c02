"""`harness init`: a first scenario for the user's own service, read from the manifests they ship.

Three steps, the middle two pure: the manifests are read (a plain directory, a kustomization rendered
with ``kubectl kustomize``, or a Helm chart rendered with ``helm template``); :func:`plan_init` picks the
workload, its Service and port from those objects, refusing what is ambiguous with the choices and the
option that picks one; :func:`scenario_text` writes the plan as a commented scenario file.

A run applies every object of its manifests directory and tests the one Deployment there through the
Service and port the scenario names (``target.service``, ``target.port``); harness.exposure makes
that choice for init, validate and run alike. When the source is not such a directory as it stands
(it is rendered, or holds Deployments the choice leaves out), the chosen objects are written to a
directory of their own next to the scenario, and the scenario names that one.
"""

from __future__ import annotations

import math
import os
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from harness.cluster.kind import NODE_PORT
from harness.errors import ConfigError, ManifestError
from harness.exposure import ServicePort, choose_service, exposure_for
from harness.files import write_atomic
from harness.image import SAMPLE_REPOSITORY
from harness.images import pod_images
from harness.manifests import K8sObject, object_ref, workload_container
from harness.manifests.sources import (
    KUSTOMIZATION_FILES,
    ManifestSource,
    detect_source,
    parse_rendered,
    read_source,
)
from harness.safe_yaml import shorten

__all__ = [
    "KUSTOMIZATION_FILES",
    "InitPlan",
    "InitResult",
    "ManifestSource",
    "detect_source",
    "init_scenario",
    "manifests_text",
    "parse_rendered",
    "plan_init",
    "read_source",
    "report_lines",
    "scenario_text",
]

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
TESTED_KINDS = ("Deployment", "StatefulSet")
RENDERED_FILE = "manifests.yaml"

# The traffic and the gate of a first run: gentle enough for a laptop and any small service, long
# enough for a rolling restart of a few pods to be seen with requests in flight all the way.
RATE = 100
USERS = 10
WARMUP_S = 5
SETTLE_S = 5
TIMEOUT_S = 5
MAX_DURATION_S = 600
DEADLINE_S = 180
MIN_REQUESTS = 500

_NAME = re.compile(r"^[a-z0-9][-a-z0-9_.]*$")
_COMMENT_COLUMN = 36
_LINE = 110

@dataclass(frozen=True, slots=True)
class InitPlan:
    """What the scenario will say, and why: the choices made from the manifests."""

    name: str
    source: ManifestSource
    workload: str  # the workload's name
    container: str
    image: str  # "sample" builds the sample service; else an image reference
    image_from: Literal["option", "manifest", "sample"]
    replicas: int
    port: ServicePort  # the Service traffic is meant for, and its port (harness.exposure chose them)
    port_key: int | str  # target.port as the scenario writes it: the number, or the name --port gave
    # The Service traffic enters by on a harness cluster: the chosen one when it has nodePort 30080
    # itself, else the NodePort Service the harness adds; None: another Service claims nodePort
    # 30080, and the scenario does not validate until that changes.
    exposed_through: str | None
    # The objects to write to a manifests directory of its own; None: the source directory serves as is.
    objects: tuple[K8sObject, ...] | None
    left_out: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    kind: str = "Deployment"  # or StatefulSet

    @property
    def service(self) -> str:
        return self.port.service

    @property
    def service_type(self) -> str:
        return self.port.service_type


@dataclass(frozen=True, slots=True)
class InitResult:
    plan: InitPlan
    scenario: Path
    manifests: Path | None  # the manifests file written, when the plan has objects of its own


# Reading the manifests: harness.manifests.sources detects and renders them, for init and runs alike.


# The plan


def plan_init(objects: Sequence[K8sObject], source: ManifestSource, *, name: str | None = None,
              image: str | None = None, workload: str | None = None, service: str | None = None,
              port: str | None = None) -> InitPlan:
    """Choose the workload, its Service and port from ``objects``; refuse what is ambiguous."""
    deployment = _pick_workload(objects, workload)
    workload_name = str(deployment["metadata"]["name"])
    port_key = int(port) if port is not None and port.isdigit() else port
    chosen = _choose_service(objects, deployment, service, port_key)
    container = workload_container(deployment)
    if container is None or not isinstance(container.get("name"), str):
        raise ManifestError(f"{object_ref(deployment)} has no named container in spec.template.spec.containers",
                            "give the pod template the service's container")
    scenario_image, image_from = _pick_image(container, image, deployment)
    scenario_name = _scenario_name(name, workload_name)

    # A run tests the one Deployment or StatefulSet of its manifests: every other one is left out.
    others = [d for d in objects if d.get("kind") in TESTED_KINDS and d is not deployment]
    left_out = tuple(object_ref(o) for o in others)
    kept = [o for o in objects if all(o is not x for x in others)]
    namespaced = [o for o in kept if _dict(o.get("metadata")).get("namespace") is not None]
    # The source directory serves as it stands when a run would pick the same workload there.
    needs_own = source.kind != "directory" or bool(left_out) or bool(namespaced)
    exposed_through = _exposed_through(kept, chosen)
    notes = [*_port_notes(chosen, exposed_through, container),
             *_image_notes(scenario_image, container, deployment)]
    if left_out:
        notes.append(f"left out of the scenario's manifests: {', '.join(left_out)} (a run deploys one workload)")
    if needs_own and namespaced:
        notes.append("metadata.namespace removed from " + ", ".join(object_ref(o) for o in namespaced) +
                     ": each run deploys into a namespace of its own")
    replicas = _dict(deployment.get("spec")).get("replicas", 1)
    return InitPlan(
        name=scenario_name, source=source, workload=workload_name, container=str(container["name"]),
        image=scenario_image, image_from=image_from,
        replicas=replicas if isinstance(replicas, int) and not isinstance(replicas, bool) else 1,
        port=chosen, port_key=port_key if port_key is not None else chosen.port, exposed_through=exposed_through,
        objects=tuple(_without_namespace(o) for o in kept) if needs_own else None,
        left_out=left_out, notes=tuple(notes), kind=str(deployment.get("kind")),
    )


def _pick_workload(objects: Sequence[K8sObject], wanted: str | None) -> K8sObject:
    workloads = [o for o in objects if o.get("kind") in WORKLOAD_KINDS]
    if not workloads:
        raise ManifestError("the manifests hold no Deployment (nor any other workload)",
                            "pass the directory that holds the service's Deployment and Service")
    refs = ", ".join(object_ref(o) for o in workloads)
    if wanted is not None:
        matching = [o for o in workloads if wanted in (object_ref(o), _dict(o.get("metadata")).get("name"))]
        if not matching:
            raise ConfigError(f"--workload {shorten(wanted)}: no such workload in the manifests (they hold {refs})",
                              "name one of them with --workload NAME (or Kind/NAME)")
        if len(matching) > 1:
            raise ConfigError(f"--workload {shorten(wanted)} names several workloads: "
                              + ", ".join(object_ref(o) for o in matching), "name one with --workload Kind/NAME")
        workloads = matching
    elif len(workloads) > 1:
        raise ConfigError(f"the manifests hold {len(workloads)} workloads ({refs}); a scenario tests one",
                          "pick one with --workload NAME (or Kind/NAME)")
    chosen = workloads[0]
    if chosen.get("kind") not in TESTED_KINDS:
        raise ManifestError(f"{object_ref(chosen)} is a {chosen.get('kind')}: not supported; the harness rolls, "
                            "restarts and observes Deployments and StatefulSets",
                            "test a Deployment or a StatefulSet (pick one with --workload if the manifests hold one)")
    strategy = _dict(_dict(chosen.get("spec")).get("updateStrategy")).get("type")
    if chosen.get("kind") == "StatefulSet" and strategy == "OnDelete":
        raise ManifestError(f"{object_ref(chosen)} updates its pods OnDelete: a rolling restart replaces none of them",
                            "write the scenario by hand with delete-pod steps, or give it updateStrategy "
                            "RollingUpdate")
    return chosen


# How harness init's options set what a scenario names (choose_service's fixes name the fields).
_OPTIONS = (("target.service", "--service NAME"), ("target.port", "--port NUMBER (or its name)"))


def _choose_service(objects: Sequence[K8sObject], deployment: K8sObject, service: str | None,
                    port: int | str | None) -> ServicePort:
    """The Service and port as validate and run choose them; a refusal's fix also names init's option."""
    try:
        return choose_service(objects, deployment, service=service, port=port)
    except ManifestError as exc:
        options = [f"{option} writes {field}" for field, option in _OPTIONS if field in exc.problem + exc.fix]
        fix = f"{exc.fix}; for harness init, {' and '.join(options)}" if options else exc.fix
        raise ManifestError(exc.problem, fix) from None


def _exposed_through(objects: Sequence[K8sObject], chosen: ServicePort) -> str | None:
    try:
        return exposure_for(objects, chosen, NODE_PORT).service
    except ManifestError:
        return None  # validation, which init reports, says which Service is in the way and what to change


def _port_notes(port: ServicePort, exposed_through: str | None, container: Mapping[str, Any]) -> list[str]:
    notes = []
    if exposed_through is not None and exposed_through != port.service:
        notes.append(f"the harness exposes Service {port.service} port {port.port} on its cluster through its own "
                     f"NodePort Service {exposed_through}")
    target = port.target_port
    container_ports = [_dict(p) for p in _list(container.get("ports"))]
    if isinstance(target, str) and not target.isdigit() and all(p.get("name") != target for p in container_ports):
        notes.append(f"Service/{port.service} port {port.port} targets the port named {target!r}, which container "
                     f"{container.get('name')} does not declare: no endpoint would be ready")
    return notes


def _pick_image(container: Mapping[str, Any], given: str | None, deployment: K8sObject
                ) -> tuple[str, Literal["option", "manifest", "sample"]]:
    if given is not None:
        return given, "option"
    image = container.get("image")
    if not isinstance(image, str) or not image:
        raise ManifestError(f"{object_ref(deployment)}: container {container.get('name')} names no image",
                            "pass the image to test with --image REFERENCE")
    if _repository(image) == SAMPLE_REPOSITORY:
        return "sample", "sample"
    return image, "manifest"


def _image_notes(image: str, container: Mapping[str, Any], deployment: K8sObject) -> list[str]:
    # Every image of the pod template goes the same way in a run (sidecars and init containers too).
    own = container.get("image")
    images = [*([] if image == "sample" else [image]), *(i for i in pod_images([deployment]) if i != own)]
    if not images:
        return []
    which = f"image {images[0]} is" if len(images) == 1 else f"images {', '.join(images)} are"
    notes = [f"{which} loaded from the local Docker engine when there; else the cluster's nodes must pull it, which "
             "a run checks before it deploys"]
    if image == "sample":
        return notes
    policy = container.get("imagePullPolicy")
    tag = image.rsplit("/", 1)[-1].partition(":")[2] if "@" not in image else "digest"
    if policy == "Always" or (policy is None and tag in ("", "latest")):
        notes.append(f"container {container.get('name')} pulls its image on every start (imagePullPolicy "
                     f"{policy or 'Always, the default for a :latest or untagged image'}): a loaded local image "
                     "is not used; tag it and set imagePullPolicy: IfNotPresent")
    return notes


def _repository(image: str) -> str:
    without_digest = image.split("@", 1)[0]
    head, _, last = without_digest.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


def _scenario_name(given: str | None, workload: str) -> str:
    if given is not None:
        if not _NAME.match(given) or len(given) > 63:
            raise ConfigError(f"--name {shorten(given)} cannot name a scenario",
                              "use at most 63 of lowercase letters, digits, '-', '_' and '.', starting with a "
                              "letter or digit")
        return given
    suffix = "-rolling-restart"
    return workload[: 63 - len(suffix)].rstrip("-_.") + suffix


def _without_namespace(obj: K8sObject) -> K8sObject:
    metadata = _dict(obj.get("metadata"))
    if "namespace" not in metadata:
        return obj
    return {**obj, "metadata": {k: v for k, v in metadata.items() if k != "namespace"}}


# The scenario file


def scenario_text(plan: InitPlan, manifests: str, source: str | None = None) -> str:
    """The scenario as YAML text, every field with a comment; ``manifests`` is the manifests directory
    relative to the scenario file's directory, ``source`` the source directory as the header names it."""
    header = (f"A rolling restart of {plan.kind}/{plan.workload} under steady traffic: every request must get a "
              f"complete answer while every pod is replaced. Written by `harness init` from "
              f"{plan.source.describe(source)}; edit it freely (scenarios/README.md describes every field).")
    out = _Lines([f"# {line}" for line in _wrap(header, _LINE - 2)])
    out.field(0, "name", plan.name, "the run and report name")
    out.field(0, "description", f"Rolling restart of {plan.workload} under {RATE} req/s; nothing may be lost.",
              "free text, shown in reports")
    out.field(0, "expect", "pass", "pass: no request may fail (fail: a negative control that must FAIL)")
    out.field(0, "seed", 1, "seeds every choice a disruption makes, so a replay makes the same ones")
    out.section("cluster", "where the run happens")
    out.field(1, "name", "rollout-harness", "the harness's own kind cluster (created or reused)")
    out.field(1, "workers", 0, "worker nodes besides the control plane (0..5)")
    out.section("target", "the service under test")
    out.field(1, "manifests", manifests, _manifests_comment(plan))
    out.field(1, "image", plan.image, _image_comment(plan))
    # Both always: the scenario then says where its traffic goes, and a Service or port added to the
    # manifests later does not make a run refuse the choice as ambiguous.
    out.field(1, "service", plan.service, f"the Service traffic is meant for ({plan.service_type})")
    out.field(1, "port", plan.port_key, _port_comment(plan))
    out.field(1, "paths", ["/"], "request paths traffic sends in turn; the first must answer 200")
    out.section("traffic", "the load that runs through the restart")
    out.field(1, "rate", RATE, "requests per second over all users")
    out.field(1, "users", USERS, "concurrent users")
    out.field(1, "connection_modes", ["keep-alive", "new"], "reused connections, and a new one per request")
    out.field(1, "warmup_s", WARMUP_S, "steady traffic before the restart; failures here make the run ERROR")
    out.field(1, "settle_s", SETTLE_S, "traffic after the last step, once no pod is terminating")
    out.field(1, "timeout_s", TIMEOUT_S, "per request: a slower answer counts as a timeout")
    out.field(1, "max_duration_s", MAX_DURATION_S, "the traffic process stops by itself after this")
    out.section("steps", "the disruptions, run in order")
    out.field(1, "- action", "rollout-restart", "what `kubectl rollout restart` does: new pods for all")
    out.field(2, "deadline_s", DEADLINE_S, f"the {plan.kind} must be whole again within this")
    out.section("gates", "what a PASS needs besides no lost request")
    out.field(1, "min_requests", MIN_REQUESTS, "fewer requests make the run INCONCLUSIVE, never PASS")
    return "\n".join(out.lines) + "\n"


class _Lines:
    """YAML lines with their comments in one column."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def section(self, key: str, comment: str) -> None:
        self._add(f"{key}:", comment)

    def field(self, depth: int, key: str, value: Any, comment: str) -> None:
        self._add(f"{'  ' * depth}{key}: {_scalar(value)}", comment)

    def _add(self, text: str, comment: str) -> None:
        line = f"{text.ljust(_COMMENT_COLUMN - 1)} # {comment}"
        if len(line) <= _LINE:
            self.lines.append(line)
            return
        # Too long for one line: the comment goes above the field, at its indentation.
        indent = " " * (len(text) - len(text.lstrip(" -")))
        self.lines.extend(f"{indent}# {part}" for part in _wrap(comment, _LINE - len(indent) - 2))
        self.lines.append(text)


def _wrap(text: str, width: int) -> list[str]:
    # Names and paths hold hyphens: a line never breaks inside one.
    return textwrap.wrap(text, width, break_on_hyphens=False, break_long_words=False)


def _scalar(value: Any) -> str:
    """``value`` as one line of YAML that reads back as the same value (quoted where YAML needs it)."""
    dumped = yaml.safe_dump(value, default_flow_style=True, width=math.inf, allow_unicode=True)
    return dumped.removesuffix("\n").removesuffix("\n...").strip()


def _manifests_comment(plan: InitPlan) -> str:
    if plan.objects is None:
        return "the directory of the manifests, relative to this file's directory"
    return f"written by init: the objects of {plan.source.describe(plan.source.path.name)} that this tests"


def _image_comment(plan: InitPlan) -> str:
    if plan.image_from == "sample":
        return "sample: the harness builds and loads the sample service"
    origin = "given to init" if plan.image_from == "option" else f"the image of container {plan.container}"
    return (f"{origin}; a run sets it as that container's image, loaded from the local Docker engine when "
            "there, else pulled by the nodes")


def _port_comment(plan: InitPlan) -> str:
    port = plan.port
    where = f"the port traffic goes to (targetPort {port.target_port})"
    if plan.exposed_through is None:
        return (f"{where}; nodePort {NODE_PORT}, which the harness's cluster publishes, is claimed elsewhere in "
                "the manifests: `harness validate` says what to change")
    if plan.exposed_through == port.service:
        return f"{where}; its nodePort {NODE_PORT} is the one the harness's cluster publishes on the host"
    return f"{where}; on its cluster the harness publishes it through its own NodePort Service {plan.exposed_through}"


def _describe_port(port: ServicePort) -> str:
    parts = [f"name {port.name}" if port.name else "", f"targetPort {port.target_port}",
             f"nodePort {port.node_port}" if port.node_port is not None else ""]
    return f"{port.port} ({', '.join(p for p in parts if p)})"


def manifests_text(plan: InitPlan) -> str:
    """The plan's own objects as one multi-document YAML file."""
    if plan.objects is None:
        raise ValueError("the plan uses its source directory as it stands")
    header = (f"# The objects of {plan.source.describe(plan.source.path.name)} that the scenario tests,\n"
              "# written by `harness init`; run it again with --force after changing the source.\n")
    body = yaml.safe_dump_all(list(plan.objects), sort_keys=False, default_flow_style=False, allow_unicode=True)
    return header + body


# Writing the files


def init_scenario(manifests: Path, *, out: Path | None = None, image: str | None = None, name: str | None = None,
                  workload: str | None = None, service: str | None = None, port: str | None = None,
                  force: bool = False) -> InitResult:
    """Read ``manifests``, plan, and write the scenario (and the manifests it needs) to ``out``."""
    source = detect_source(manifests)
    objects = read_source(source)
    plan = plan_init(objects, source, name=name, image=image, workload=workload, service=service, port=port)
    scenario = out if out is not None else Path(f"{plan.name}.yaml")
    if scenario.is_dir():
        raise ConfigError(f"--out {scenario} is a directory", f"name the scenario file, such as {scenario / 'x.yaml'}")
    _refuse_overwrite(scenario, force)
    if not scenario.parent.is_dir():
        raise ConfigError(f"--out {scenario}: the directory {scenario.parent} does not exist",
                          "create it first, or name a file in an existing directory")
    written: Path | None = None
    if plan.objects is not None:
        own = scenario.parent / f"{scenario.stem}-manifests"
        written = own / RENDERED_FILE
        _refuse_overwrite(written, force)
        others = sorted(p.name for p in own.glob("*.y*ml") if p.name != RENDERED_FILE) if own.is_dir() else []
        if others:
            raise ConfigError(f"{own} already holds {', '.join(others)}, which a run would apply too",
                              "remove them, or name another scenario file with --out")
        own.mkdir(exist_ok=True)
        write_atomic(written, manifests_text(plan))
        directory = own
    else:
        directory = source.path
        if scenario.parent.resolve() == directory.resolve() and scenario.suffix in (".yaml", ".yml"):
            raise ConfigError(f"the scenario {scenario} would be in the manifests directory {directory}, where a "
                              "run would apply it as a manifest", "name a file outside it with --out, such as "
                              f"--out {_outside(directory, scenario.name)}")
    write_atomic(scenario, scenario_text(plan, _relative(directory, scenario), _relative(source.path, scenario)))
    return InitResult(plan=plan, scenario=scenario, manifests=written)


def _relative(path: Path, scenario: Path) -> str:
    """``path`` relative to the directory of the scenario file: the base of every path a scenario names."""
    return Path(os.path.relpath(path.resolve(), scenario.parent.resolve())).as_posix()


def _outside(directory: Path, name: str) -> str:
    return str(Path(os.path.relpath(directory.resolve().parent, Path.cwd())) / name)


def _refuse_overwrite(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists", "pass --force to overwrite it, or name another file with --out")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def report_lines(result: InitResult) -> tuple[list[str], bool]:
    """What init tells its user: what it wrote and chose, its notes, and whether the scenario validates
    (as `harness validate` checks it); the flag is that last answer."""
    from harness.validate import validate_scenario_file

    plan = result.plan
    lines = [f"wrote {result.scenario}"]
    if result.manifests is not None:
        lines.append(f"wrote {result.manifests}: the objects of {plan.source.describe()} that the scenario tests")
    lines.append(f"  workload: {plan.kind}/{plan.workload} ({plan.replicas} replica(s)), container {plan.container}")
    lines.append(f"  image: {plan.image}")
    lines.append(f"  service: {plan.service} ({plan.service_type}), port {_describe_port(plan.port)}")
    lines.extend(f"note: {note}" for note in plan.notes)
    try:
        validate_scenario_file(result.scenario)
    except ConfigError as exc:
        lines.append(f"it does not validate yet: {exc.problem}")
        if exc.fix:
            lines.append(f"  fix: {exc.fix}")
        return lines, False
    lines.append(f"it validates; run it with: harness run {result.scenario}")
    return lines, True
