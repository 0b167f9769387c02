"""A static lint of a variant: each way its objects can lose requests during a disruption, named with
its fix, before a cluster is involved.

Errors are configurations that lose requests or cannot roll at all; warnings weaken a guarantee
without breaking it on their own; "unknown" marks what lies in the process rather than the objects
(whether it keeps serving after SIGTERM), which only a run can show. The graceful variant must come
out clean and the naive one must not, so the lint itself is tested against both.

General rules hold for any server: probes, preStop against endpoint propagation, the grace period
against preStop, rollout capacity, replicas, image pulls. The sample-service rules read the
environment the sample service understands (SHUTDOWN_MODE, DRAIN_DELAY, SHUTDOWN_TIMEOUT, ...) and
apply only to a container that runs the sample service's image; for any other image those names
mean nothing. Only values written literally in the manifest are known.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from harness.image import SAMPLE_REPOSITORY
from harness.manifests.findings import Finding, Severity
from harness.manifests.load import K8sObject, ManifestDocument, load_documents, object_ref
from harness.manifests.render import pod_labels, selector_matches, workload_container
from harness.manifests.schema import schema_findings
from harness.manifests.scope import api_group, known_namespaced
from harness.manifests.values import is_percent, parse_go_duration, resolve_fenceposts, scaled_value
from harness.safe_yaml import shorten

__all__ = [
    "DEFAULT_GRACE_SECONDS",
    "Finding",
    "Severity",
    "check_documents",
    "check_manifests",
    "check_objects",
    "format_findings",
    "has_errors",
    "rejected_by_api",
    "runs_sample_service",
]

DEFAULT_GRACE_SECONDS = 30
# Kubernetes' defaults for a RollingUpdate without explicit parameters.
_DEFAULT_SURGE = "25%"
_DEFAULT_UNAVAILABLE = "25%"

_SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh"})
_SHELL_SLEEP = re.compile(r"\bsleep\s+([0-9.]+[smhd]?)\b")
_SLEEP_ARG = re.compile(r"^([0-9]*\.?[0-9]+)([smhd]?)$")
_SLEEP_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

_GOOD_PRE_STOP = "lifecycle.preStop.sleep.seconds: 5 (the sleep action needs no shell in the image)"
# Digits beyond these are no real setting, and Python refuses to turn very long digit strings into ints.
_MAX_DIGITS = 12
_DIGITS = re.compile(r"[0-9]{1,12}")


def check_manifests(directory: Path) -> list[Finding]:
    """Lint a variant directory. Raises ManifestError when it cannot be loaded at all."""
    return check_documents(load_documents(directory))


def check_objects(objects: Iterable[K8sObject]) -> list[Finding]:
    """Lint objects that did not come from files, such as the output of ``render``."""
    return check_documents([ManifestDocument(obj=obj) for obj in objects])


def check_documents(documents: Sequence[ManifestDocument]) -> list[Finding]:
    findings: list[Finding] = []
    services = [d for d in documents if d.obj.get("kind") == "Service"]
    budgets = [d for d in documents if d.obj.get("kind") == "PodDisruptionBudget"]
    deployments = [d for d in documents if d.obj.get("kind") == "Deployment"]
    for doc in documents:
        findings.extend(schema_findings(doc))
        findings.extend(_check_namespace(doc))
    for doc in deployments:
        findings.extend(_DeploymentCheck(doc, services, budgets).run())
    for doc in services:
        findings.extend(_check_service_selector(doc, deployments))
    # Errors first, then warnings, then what only a run can tell; within a severity, the order of the files.
    return sorted(findings, key=lambda f: _ORDER[f.severity])


_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.UNKNOWN: 2}


def runs_sample_service(container: Mapping[str, Any]) -> bool:
    """Whether the container runs the sample service's image, the one whose environment the sample
    rules read."""
    image = container.get("image")
    if not isinstance(image, str):
        return False
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    repository = name[: len(name) - len(last)] + last.split(":", 1)[0]
    return repository in (SAMPLE_REPOSITORY, f"docker.io/{SAMPLE_REPOSITORY}")


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity == Severity.ERROR for f in findings)


def rejected_by_api(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that keep the API server from accepting an object at all."""
    return [f for f in findings if f.api_rejects]


def format_findings(findings: Sequence[Finding]) -> str:
    """Plain text, one block per finding and a count at the end."""
    if not findings:
        return "no problems found"
    blocks = []
    for f in findings:
        where = f"  ({f.file})" if f.file else ""
        blocks.append(
            f"{f.severity.value:<7} {f.object} [{f.rule}]{where}\n"
            f"        {f.problem}\n"
            f"        fix: {f.fix}"
        )
    errors = sum(1 for f in findings if f.severity == Severity.ERROR)
    unknown = sum(1 for f in findings if f.severity == Severity.UNKNOWN)
    warnings = len(findings) - errors - unknown
    summary = f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}"
    if unknown:
        summary += f", {unknown} unknown (a run shows them)"
    return "\n".join(blocks) + "\n" + summary


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _check_namespace(doc: ManifestDocument) -> list[Finding]:
    """How a run places the object (harness.manifests.scope), so that nothing it does there surprises."""
    ref, where = object_ref(doc.obj), doc.location
    kind = (api_group(doc.obj.get("apiVersion")), doc.obj.get("kind"))
    if kind == ("", "Namespace"):
        return [Finding(Severity.WARNING, "namespace", ref,
                        "a run drops this Namespace (and notes it): it deploys into a namespace of its own and "
                        "deletes that one at the end", "leave the Namespace out of the manifests", where)]
    if known_namespaced(doc.obj) is False:
        return [Finding(Severity.WARNING, "cluster-scoped", ref,
                        "a cluster-scoped object affects the whole cluster and outlives the run's namespace, so a "
                        "run refuses it unless the scenario says target.cluster_scoped: apply",
                        "install it beforehand and leave it out of the manifests, or set target.cluster_scoped: "
                        "apply (each run then applies it labelled with its run id and deletes it at cleanup)",
                        where)]
    namespace = _dict(doc.obj.get("metadata")).get("namespace")
    if namespace is None:
        return []
    return [
        Finding(
            Severity.WARNING,
            "namespace",
            ref,
            f"metadata.namespace is fixed to {shorten(namespace)}: a run moves the object into its own namespace "
            "(and notes it), but applied anywhere else it lands in that namespace whatever namespace is chosen",
            "remove metadata.namespace",
            where,
        )
    ]


def _check_service_selector(doc: ManifestDocument, deployments: Sequence[ManifestDocument]) -> list[Finding]:
    selector = _dict(_dict(doc.obj.get("spec")).get("selector"))
    if not selector or not deployments:
        return []
    if any(selector_matches({"matchLabels": selector}, pod_labels(d.obj)) for d in deployments):
        return []
    wanted = shorten(", ".join(f"{k}: {v}" for k, v in selector.items()), 120).strip("'\"")
    return [
        Finding(
            Severity.ERROR,
            "service-selector",
            object_ref(doc.obj),
            f"the selector ({wanted}) matches the pods of no Deployment here: the Service has no endpoints",
            "make spec.selector a subset of the Deployment's spec.template.metadata.labels",
            doc.location,
        )
    ]


@dataclass(frozen=True, slots=True)
class _Env:
    """A container's literal environment; values from valueFrom are unknown and left out."""

    values: dict[str, str]

    @classmethod
    def of(cls, container: Mapping[str, Any]) -> _Env:
        values: dict[str, str] = {}
        for item in _list(container.get("env")):
            entry = _dict(item)
            name, value = entry.get("name"), entry.get("value")
            # The sample service treats an empty value as unset.
            if isinstance(name, str) and isinstance(value, str) and value != "":
                values[name] = value
        return cls(values)

    def get(self, name: str) -> str | None:
        return self.values.get(name)


class _DeploymentCheck:
    def __init__(
        self,
        doc: ManifestDocument,
        services: Sequence[ManifestDocument],
        budgets: Sequence[ManifestDocument],
    ) -> None:
        self.doc = doc
        self.ref = object_ref(doc.obj)
        self.spec = _dict(doc.obj.get("spec"))
        self.pod_spec = _dict(_dict(self.spec.get("template")).get("spec"))
        self.labels = pod_labels(doc.obj)
        self.services = [
            s for s in services
            if (sel := _dict(_dict(s.obj.get("spec")).get("selector")))
            and selector_matches({"matchLabels": sel}, self.labels)
        ]
        self.budgets = [
            b for b in budgets
            if selector_matches(_dict(_dict(b.obj.get("spec")).get("selector")), self.labels)
        ]
        self.findings: list[Finding] = []

    def add(self, severity: Severity, rule: str, problem: str, fix: str, *, api_rejects: bool = False) -> None:
        self.findings.append(Finding(severity, rule, self.ref, problem, fix, self.doc.location, api_rejects))

    def run(self) -> list[Finding]:
        replicas = self._replicas()
        grace = self._grace()
        containers = [c for c in _list(self.pod_spec.get("containers")) if isinstance(c, dict)]
        init_containers = [c for c in _list(self.pod_spec.get("initContainers")) if isinstance(c, dict)]
        declared = self.pod_spec.get("containers")
        # A containers field of the wrong type is named by the schema check.
        if not containers and (declared is None or isinstance(declared, list)):
            self.add(Severity.ERROR, "containers", "the pod template has no containers",
                     "declare the service's container under spec.template.spec.containers", api_rejects=True)
        for container in init_containers:
            self._check_image(container)
        for container in containers:
            self._check_image(container)
            self._check_pull_policy(container)
            self._check_readiness(container)
            if runs_sample_service(container):
                self._check_sample_env(container)
            if grace is not None:
                self._check_grace(container, grace)
        main = workload_container(self.doc.obj)
        if main is not None and self.services:
            self._check_pre_stop(main)
        if replicas is not None:
            self._check_strategy(replicas)
            self._check_budgets(replicas)
            if replicas == 1:
                self.add(
                    Severity.WARNING, "replicas",
                    "one replica: deleting, evicting or draining its pod leaves the Service with no "
                    "ready pod",
                    "run at least 2 replicas (3 with maxUnavailable: 0 keeps two serving during a rollout)",
                )
        return self.findings

    def _replicas(self) -> int | None:
        replicas = self.spec.get("replicas", 1)
        if isinstance(replicas, bool) or not isinstance(replicas, int) or not 0 <= replicas < 2**31:
            self.add(Severity.ERROR, "replicas", f"spec.replicas {shorten(replicas)} is not a whole number >= 0",
                     "write spec.replicas as an unquoted integer, such as 3", api_rejects=True)
            return None
        return replicas

    def _grace(self) -> int | None:
        grace = self.pod_spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS)
        if isinstance(grace, bool) or not isinstance(grace, int) or not 0 <= grace < 2**63:
            self.add(Severity.ERROR, "grace-period",
                     f"terminationGracePeriodSeconds {shorten(grace)} is not a whole number >= 0",
                     "write it as an unquoted integer, such as 30", api_rejects=True)
            return None
        return grace

    def _name(self, container: Mapping[str, Any]) -> str:
        name = container.get("name", "?")
        return f"container {name if isinstance(name, str) and len(name) <= 63 else shorten(name)}"

    def _check_image(self, container: Mapping[str, Any]) -> None:
        image = container.get("image")
        who = self._name(container)
        if not isinstance(image, str) or not image.strip():
            self.add(Severity.ERROR, "image-tag", f"{who} has no image",
                     "set image to a tagged reference, such as rollout-harness/sample-service:0.1.0",
                     api_rejects=True)
            return
        if len(image) > 255:
            self.add(Severity.ERROR, "image-tag", f"{who}: image {shorten(image)} is longer than an image "
                     "reference can be", "use a reference such as rollout-harness/sample-service:0.1.0")
            return
        if "@" in image:
            return  # pinned by digest: immutable whatever the tag says
        last = image.rsplit("/", 1)[-1]
        tag = last.split(":", 1)[1] if ":" in last else None
        why = ("imagePullPolicy then defaults to Always, so a kind node without a registry cannot start the "
               "pod, and setting the same reference again rolls nothing")
        repository = image[: -len(tag) - 1] if tag is not None else image
        fix = (f"pin a version tag, such as {repository}:0.1.0; "
               "the harness overrides the tag per run")
        if tag is None:
            self.add(Severity.ERROR, "image-tag",
                     f"{who}: image {image} has no tag, which means :latest; {why}", fix)
        elif tag == "latest":
            self.add(Severity.ERROR, "image-tag", f"{who}: image {image} uses the latest tag; {why}", fix)

    def _check_pull_policy(self, container: Mapping[str, Any]) -> None:
        if container.get("imagePullPolicy") != "Always":
            return
        who, image = self._name(container), shorten(container.get("image"))
        why = ("the kubelet pulls the image from its registry at every pod start and ignores an image loaded "
               "into the nodes (as a run does for an image built on this machine)")
        if runs_sample_service(container):
            self.add(Severity.ERROR, "pull-policy",
                     f"{who}: imagePullPolicy Always with {image}, which is built locally and is in no registry: "
                     f"{why}, so every new pod fails with ErrImagePull and the rollout stalls",
                     "set imagePullPolicy: IfNotPresent")
            return
        self.add(Severity.WARNING, "pull-policy",
                 f"{who}: imagePullPolicy Always: {why}; a locally built image then fails with ErrImagePull, and a "
                 "slow or unreachable registry delays every new pod of the rollout",
                 "set imagePullPolicy: IfNotPresent (the harness sets a fresh tag per run anyway)")

    def _check_readiness(self, container: Mapping[str, Any]) -> None:
        if isinstance(container.get("readinessProbe"), dict):
            return
        self.add(
            Severity.ERROR, "readiness-probe",
            f"{self._name(container)} has no readinessProbe: its pod joins the Service's endpoints as soon "
            "as the process starts, before it can answer, and nothing takes it out while it stops",
            "add a readinessProbe that fails from the moment shutdown begins, e.g. httpGet /ready on port "
            "8080 with periodSeconds: 1 and failureThreshold: 1",
        )

    def _check_sample_env(self, container: Mapping[str, Any]) -> None:
        env = _Env.of(container)
        who = self._name(container)
        allowed = {
            "SHUTDOWN_MODE": ("graceful", "immediate", "ignore"),
            "READINESS_FLIP": ("true", "false"),
            "KEEPALIVE_CLOSE": ("polite", "abrupt"),
            "READY_LIES": ("true", "false"),
        }
        for name, choices in allowed.items():
            value = env.get(name)
            if value is not None and value not in choices:
                self.add(Severity.ERROR, "env-invalid",
                         f"{who}: {name}={shorten(value)} is not one of {', '.join(choices)}; the sample service "
                         "refuses to start and the pod crash-loops",
                         f"set {name} to one of {', '.join(choices)}")
        for name in ("DRAIN_DELAY", "SHUTDOWN_TIMEOUT", "STARTUP_DELAY"):
            if env.get(name) is not None and self._duration(env, name) is None:
                self.add(Severity.ERROR, "env-invalid",
                         f"{who}: {name}={shorten(env.get(name))} is not a Go duration >= 0; the sample service "
                         "refuses to start and the pod crash-loops",
                         f"write {name} as a Go duration, such as 0, 500ms, 5s or 1m30s")
        delay_ms = env.get("RESPONSE_DELAY_MS")
        if delay_ms is not None and _DIGITS.fullmatch(delay_ms) is None:
            self.add(Severity.ERROR, "env-invalid",
                     f"{who}: RESPONSE_DELAY_MS={shorten(delay_ms)} is not a whole number of milliseconds >= 0",
                     "write RESPONSE_DELAY_MS as an integer, such as 50")

        mode = env.get("SHUTDOWN_MODE")
        if mode == "immediate":
            self.add(
                Severity.ERROR, "shutdown-mode",
                f"{who}: SHUTDOWN_MODE=immediate exits on SIGTERM: requests in flight and keep-alive "
                "connections are cut, and new connections are refused until the endpoints catch up",
                "set SHUTDOWN_MODE=graceful (with READINESS_FLIP=true, DRAIN_DELAY and SHUTDOWN_TIMEOUT)",
            )
        elif mode == "ignore":
            self.add(
                Severity.ERROR, "shutdown-mode",
                f"{who}: SHUTDOWN_MODE=ignore ignores SIGTERM, so the kubelet SIGKILLs the process when the "
                "grace period ends, resetting every open connection, and each pod takes the full grace "
                "period to go",
                "set SHUTDOWN_MODE=graceful",
            )
        if env.get("READINESS_FLIP") == "false":
            self.add(
                Severity.WARNING, "readiness-flip",
                f"{who}: READINESS_FLIP=false keeps /ready answering 200 while the process shuts down; only "
                "the endpoint controller's reaction to the pod's deletion takes it out of rotation, and "
                "load balancers that probe the pod themselves keep sending to it",
                "set READINESS_FLIP=true so readiness fails from the moment SIGTERM arrives",
            )
        if env.get("KEEPALIVE_CLOSE") == "abrupt":
            self.add(
                Severity.ERROR, "keepalive-close",
                f"{who}: KEEPALIVE_CLOSE=abrupt resets open keep-alive connections at shutdown, so a client "
                "that sends on one at that moment gets a reset instead of a response",
                "set KEEPALIVE_CLOSE=polite (idle connections closed, busy ones answered with "
                "Connection: close)",
            )
        if env.get("READY_LIES") == "true":
            self.add(
                Severity.ERROR, "ready-lies",
                f"{who}: READY_LIES=true reports ready before the service can answer, so a new pod "
                "receives traffic it answers with 503 during a rollout",
                "set READY_LIES=false",
            )
        timeout = self._duration(env, "SHUTDOWN_TIMEOUT")
        delay = int(delay_ms) / 1000 if delay_ms is not None and _DIGITS.fullmatch(delay_ms) else None
        if delay is not None and timeout is not None and delay >= timeout:
            self.add(
                Severity.ERROR, "response-delay",
                f"{who}: RESPONSE_DELAY_MS={delay_ms} is not below "
                f"SHUTDOWN_TIMEOUT={env.get('SHUTDOWN_TIMEOUT')}: a request that starts just before "
                "shutdown is cut off at the deadline",
                "raise SHUTDOWN_TIMEOUT above the slowest response, and terminationGracePeriodSeconds "
                "with it",
            )

    def _duration(self, env: _Env, name: str) -> float | None:
        value = env.get(name)
        if value is None:
            return None
        try:
            seconds = parse_go_duration(value)
        except ValueError:
            return None
        # A duration Go cannot hold (above 290 years) is refused by the service like a malformed one.
        return seconds if 0 <= seconds < 2**63 / 1e9 else None

    def _check_grace(self, container: Mapping[str, Any], grace: int) -> None:
        env = _Env.of(container)
        pre_stop = _pre_stop_seconds(container) or 0.0
        if not math.isfinite(pre_stop):
            return  # the schema check names a sleep that is not a number
        parts = []
        if pre_stop:
            parts.append(f"preStop {_secs(pre_stop)}")
        drain = shutdown = 0.0
        # Only a graceful sample service drains and then waits out its shutdown deadline; how long any
        # other process takes after SIGTERM the manifests do not say, so only preStop counts for it.
        if runs_sample_service(container) and env.get("SHUTDOWN_MODE") in (None, "graceful"):
            drain = self._duration(env, "DRAIN_DELAY") or 0.0
            shutdown = self._duration(env, "SHUTDOWN_TIMEOUT") or 0.0
            if drain:
                parts.append(f"DRAIN_DELAY {_secs(drain)}")
            if shutdown:
                parts.append(f"SHUTDOWN_TIMEOUT {_secs(shutdown)}")
        needed = pre_stop + drain + shutdown
        if needed == 0 or grace > needed:
            return
        source = "the default " if "terminationGracePeriodSeconds" not in self.pod_spec else ""
        if not runs_sample_service(container):
            self.add(
                Severity.ERROR, "grace-period",
                f"{self._name(container)}: {source}terminationGracePeriodSeconds {grace} is not above its "
                f"preStop {_secs(pre_stop)}: the grace period counts from the deletion, preStop included, so "
                "the process gets SIGKILL before (or as soon as) it is asked to stop, and requests in flight "
                "are cut",
                f"set terminationGracePeriodSeconds above {_secs(pre_stop)} plus the time the process needs to "
                f"finish its requests after SIGTERM (e.g. {int(pre_stop) + 30}), or shorten the preStop sleep",
            )
            return
        self.add(
            Severity.ERROR, "grace-period",
            f"{self._name(container)}: {source}terminationGracePeriodSeconds {grace} is not above the "
            f"{_secs(needed)} the pod may need to stop ({' + '.join(parts)}); the grace period counts from "
            "the deletion, preStop included, and the kubelet SIGKILLs whatever is still running when it ends",
            f"set terminationGracePeriodSeconds above {_secs(needed)} (e.g. {int(needed) + 10}), "
            "or shorten the preStop sleep, DRAIN_DELAY or SHUTDOWN_TIMEOUT",
        )

    def _check_pre_stop(self, container: Mapping[str, Any]) -> None:
        if _pre_stop_seconds(container) is not None:
            return
        service = object_ref(self.services[0].obj)
        if not runs_sample_service(container):
            self.add(
                Severity.UNKNOWN, "pre-stop",
                f"{self._name(container)} has no preStop hook, and whether the process drains on SIGTERM "
                f"cannot be read from the manifests: {service} sends it traffic, and SIGTERM arrives at once "
                "while the endpoint removal still travels to every node's proxy, so a process that stops "
                "accepting at once refuses the connections that keep arriving",
                f"add {_GOOD_PRE_STOP}, unless the process keeps serving for a few seconds after SIGTERM on its "
                "own (a harness run shows which)",
            )
            return
        env = _Env.of(container)
        drain = self._duration(env, "DRAIN_DELAY") or 0.0
        if env.get("SHUTDOWN_MODE") in (None, "graceful") and drain > 0:
            return  # the process keeps serving on its own while the endpoints catch up
        self.add(
            Severity.ERROR, "pre-stop",
            f"{self._name(container)} has no preStop hook and does not drain, yet {service} sends it "
            "traffic: SIGTERM arrives at once while the endpoint removal still travels to every node's "
            "proxy, so connections keep arriving at a process that is stopping",
            f"add {_GOOD_PRE_STOP}, or have the process keep serving for a few seconds after SIGTERM "
            "(DRAIN_DELAY with SHUTDOWN_MODE=graceful)",
        )

    def _check_strategy(self, replicas: int) -> None:
        strategy = _dict(self.spec.get("strategy"))
        kind = strategy.get("type", "RollingUpdate")
        if kind is None:
            kind = "RollingUpdate"  # a null type is defaulted like a missing one
        if kind == "Recreate":
            self.add(
                Severity.ERROR, "rollout-strategy",
                "strategy Recreate stops every old pod before starting a new one: each rollout is an outage",
                "use strategy type RollingUpdate with maxSurge: 1 and maxUnavailable: 0",
            )
            return
        if kind != "RollingUpdate":
            self.add(Severity.ERROR, "rollout-strategy",
                     f"strategy type {shorten(kind)} is not a Deployment strategy; the API rejects it",
                     "use strategy type RollingUpdate with maxSurge: 1 and maxUnavailable: 0", api_rejects=True)
            return
        rolling = _dict(strategy.get("rollingUpdate"))
        # A null field is unset, and the API defaults it like a missing one.
        surge = _DEFAULT_SURGE if rolling.get("maxSurge") is None else rolling["maxSurge"]
        unavailable = (
            _DEFAULT_UNAVAILABLE if rolling.get("maxUnavailable") is None else rolling["maxUnavailable"]
        )
        bad = [
            f"{name} {shorten(value)}" for name, value in (("maxSurge", surge), ("maxUnavailable", unavailable))
            if not _valid_int_or_percent(value)
        ]
        if bad:
            self.add(Severity.ERROR, "rollout-strategy",
                     f"{' and '.join(bad)} is neither a whole number >= 0 nor a percentage; "
                     "the API rejects it",
                     "write an integer (maxSurge: 1) or a quoted percentage (maxUnavailable: \"25%\")",
                     api_rejects=True)
            return
        if _is_zero(surge) and _is_zero(unavailable):
            self.add(Severity.ERROR, "rollout-strategy",
                     "maxSurge and maxUnavailable are both 0: the rollout could neither add nor remove "
                     "a pod, and the API rejects it",
                     "set maxSurge: 1 and keep maxUnavailable: 0", api_rejects=True)
            return
        if is_percent(unavailable) and int(str(unavailable)[:-1]) > 100:
            self.add(Severity.ERROR, "rollout-strategy",
                     f"maxUnavailable {unavailable} is above 100%; the API rejects it",
                     "set maxUnavailable: 0 and maxSurge: 1", api_rejects=True)
            return
        if replicas == 0:
            return
        _, down = resolve_fenceposts(replicas, surge, unavailable)
        if down >= replicas:
            rounded = scaled_value(unavailable, replicas, round_up=False)
            if is_percent(unavailable):
                how = f"{unavailable} of {replicas} replicas rounds down to {rounded}"
            else:
                how = f"{unavailable} with {replicas} replicas"
            if rounded < down:
                how += f", and with maxSurge resolving to 0 the controller lets {down} go anyway"
            self.add(
                Severity.ERROR, "rollout-strategy",
                f"maxUnavailable {how}: the rollout may take down every old pod before a new one is ready, "
                "leaving no ready pod",
                "set maxUnavailable: 0 and maxSurge: 1, so each new pod is ready before an old one goes",
            )

    def _check_budgets(self, replicas: int) -> None:
        for budget in self.budgets:
            ref = object_ref(budget.obj)
            spec = _dict(budget.obj.get("spec"))
            min_available = spec.get("minAvailable")
            max_unavailable = spec.get("maxUnavailable")
            if min_available is not None and max_unavailable is not None:
                self.add(Severity.ERROR, "disruption-budget",
                         f"{ref} sets both minAvailable and maxUnavailable; the API rejects it",
                         "keep one of them (maxUnavailable: 1 works at any replica count)", api_rejects=True)
                continue
            value = min_available if min_available is not None else max_unavailable
            if value is None:
                continue
            if not _valid_int_or_percent(value):
                self.add(Severity.ERROR, "disruption-budget",
                         f"{ref}: {shorten(value)} is neither a whole number >= 0 nor a percentage; the API "
                         "rejects it", "write an integer (maxUnavailable: 1) or a quoted percentage",
                         api_rejects=True)
                continue
            # The disruption controller rounds both fields up.
            scaled = scaled_value(value, replicas, round_up=True)
            allowed = replicas - scaled if min_available is not None else scaled
            if replicas > 0 and allowed <= 0:
                field = "minAvailable" if min_available is not None else "maxUnavailable"
                self.add(
                    Severity.WARNING, "disruption-budget",
                    f"{ref} ({field} {value}) allows no eviction of the {replicas} replica(s): a node drain "
                    "waits forever instead of moving the pods",
                    f"use maxUnavailable: 1, or a minAvailable below {replicas}",
                )


def _pre_stop_seconds(container: Mapping[str, Any]) -> float | None:
    """How long the preStop hook holds the pod before SIGTERM; None when there is no hook.

    An exec hook counts its ``sleep`` commands; an HTTP hook's duration is unknown and counts as 0.
    """
    pre_stop = _dict(_dict(container.get("lifecycle")).get("preStop"))
    if not pre_stop:
        return None
    sleep = _dict(pre_stop.get("sleep"))
    seconds = sleep.get("seconds")
    if isinstance(seconds, int | float) and not isinstance(seconds, bool):
        return float(seconds) if abs(seconds) < 2**63 else math.inf
    command = _dict(pre_stop.get("exec")).get("command")
    if isinstance(command, list) and command and all(isinstance(arg, str) for arg in command):
        return _exec_sleep_seconds(command)
    return 0.0


def _exec_sleep_seconds(argv: list[str]) -> float:
    program = PurePosixPath(argv[0]).name
    if program == "busybox" and len(argv) > 1:
        argv, program = argv[1:], argv[1]
    if program == "sleep":
        return sum(_sleep_arg(arg) for arg in argv[1:])
    if program in _SHELLS and "-c" in argv[:-1]:
        script = argv[argv.index("-c") + 1]
        return sum(_sleep_arg(m.group(1)) for m in _SHELL_SLEEP.finditer(script))
    return 0.0


def _sleep_arg(arg: str) -> float:
    match = _SLEEP_ARG.match(arg)
    if match is None or len(match.group(1)) > _MAX_DIGITS:
        return 0.0  # not a sleep the harness can read, so it counts as none
    return float(match.group(1)) * _SLEEP_UNITS[match.group(2)]


def _valid_int_or_percent(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return 0 <= value < 2**31
    return is_percent(value) and len(value) <= _MAX_DIGITS and not value.endswith("\n")


def _is_zero(value: Any) -> bool:
    return (isinstance(value, int) and value == 0) or value == "0%"


def _secs(seconds: float) -> str:
    return f"{seconds:g}s"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
