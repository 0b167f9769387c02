"""The shapes the API server refuses: wrong types, missing required fields, values out of range,
names it cannot store. A run with such an object fails at deploy time, after a cluster was made
ready and an image built, so each is named here beforehand, with the field's path.

Only the fields the harness reads or commonly written fields are checked; this is not the whole
OpenAPI schema, and what it does not know it leaves alone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeGuard

from harness.manifests.findings import Finding, Severity
from harness.manifests.load import ManifestDocument, object_ref
from harness.manifests.render import selector_matches
from harness.safe_yaml import shorten

__all__ = ["schema_findings"]

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_IANA_SVC_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")
# Relaxed environment variable names (the default since Kubernetes 1.32): printable ASCII but '='.
_ENV_NAME = re.compile(r"[ -<>-~]+")
_PROTOCOLS = ("TCP", "UDP", "SCTP")
_SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
_PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
_HOOK_HANDLERS = ("exec", "httpGet", "tcpSocket", "sleep")
_SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
_DEFAULT_GRACE = 30


def schema_findings(doc: ManifestDocument) -> list[Finding]:
    """Every shape of ``doc`` the API server would reject, as errors with ``api_rejects`` set."""
    shape = _Shape(doc)
    shape.metadata(doc.obj.get("metadata"), "metadata", kind=str(doc.obj.get("kind")))
    check = _KINDS.get(str(doc.obj.get("kind")))
    if check is not None:
        check(shape, doc.obj)
    return shape.findings


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number" if math.isfinite(value) else "not a finite number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


class _Shape:
    """Collects the problems of one object; each helper returns the value when it has the right type."""

    def __init__(self, doc: ManifestDocument) -> None:
        self.doc = doc
        self.ref = object_ref(doc.obj)
        self.findings: list[Finding] = []

    def bad(self, rule: str, path: str, problem: str, fix: str) -> None:
        self.findings.append(Finding(
            Severity.ERROR, rule, self.ref, f"{path} {problem}; the API server rejects it", fix,
            self.doc.location, api_rejects=True,
        ))

    def wrong_type(self, rule: str, path: str, value: Any, wanted: str, fix: str) -> None:
        self.bad(rule, path, f"is {shorten(value)} ({_kind(value)}), not {wanted}", fix)

    def mapping(self, value: Any, path: str, rule: str = "field-type", *, required: bool = False
                ) -> dict[str, Any] | None:
        if value is None:
            if required:
                self.bad(rule, path, "is missing", f"add {path}, as in the Kubernetes API reference")
            return None
        if not isinstance(value, dict):
            self.wrong_type(rule, path, value, "a mapping", f"write {path} as a mapping (key: value lines)")
            return None
        return value

    def listing(self, value: Any, path: str, rule: str, fix: str) -> list[Any] | None:
        if value is None:
            return None
        if not isinstance(value, list):
            self.wrong_type(rule, path, value, "a list", fix)
            return None
        return value

    def items(self, value: Any, path: str, rule: str, fix: str) -> list[tuple[str, dict[str, Any]]]:
        """The mapping entries of a list field, each with its path; other entries are named."""
        entries = []
        for i, item in enumerate(self.listing(value, path, rule, fix) or []):
            if isinstance(item, dict):
                entries.append((f"{path}[{i}]", item))
            else:
                self.wrong_type(rule, f"{path}[{i}]", item, "a mapping", fix)
        return entries

    def integer(self, value: Any, path: str, rule: str, *, minimum: int = 0, maximum: int = INT32_MAX,
                required: bool = False) -> int | None:
        if value is None:
            if required:
                self.bad(rule, path, "is missing", f"set {path} to a whole number >= {minimum}")
            return None
        if not _is_int(value):
            self.wrong_type(rule, path, value, "a whole number", f"write {path} as an unquoted integer")
            return None
        if not minimum <= value <= maximum:
            self.bad(rule, path, f"is {shorten(value)}, outside {minimum}..{maximum}",
                     f"set {path} to a whole number from {minimum} to {maximum}")
            return None
        return int(value)

    def string(self, value: Any, path: str, rule: str, fix: str, *, required: bool = False) -> str | None:
        if value is None:
            if required:
                self.bad(rule, path, "is missing", fix)
            return None
        if not isinstance(value, str):
            self.wrong_type(rule, path, value, "a string", fix)
            return None
        return value

    def string_map(self, value: Any, path: str, rule: str, *, labels: bool) -> dict[str, str] | None:
        """A map of strings; with ``labels``, keys and values also follow the label syntax."""
        fix = (f"write {path} as key: \"value\" lines, quoting values YAML would read as numbers or "
               "booleans (\"0.1\", \"true\")")
        mapping = self.mapping(value, path, rule)
        if mapping is None:
            return None
        good: dict[str, str] = {}
        entries: dict[Any, Any] = mapping  # YAML keys may be numbers or booleans, whatever the type says
        for key, item in entries.items():
            if not isinstance(key, str):
                self.wrong_type(rule, f"{path} key", key, "a string", fix)
            elif not isinstance(item, str):
                self.wrong_type(rule, f"{path}[{_cut(key)}]", item, "a string", fix)
            elif not _qualified_name(key):
                self.bad(rule, f"{path} key {shorten(key)}",
                         "is not a valid name (an optional DNS prefix and '/', then at most 63 of "
                         "[A-Za-z0-9-_.], alphanumeric at both ends)", "rename the key")
            elif labels and not _label_value(item):
                self.bad(rule, f"{path}[{_cut(key)}]",
                         f"is {shorten(item)}: a label value has at most 63 of [A-Za-z0-9-_.] and starts "
                         "and ends alphanumeric", "shorten or rename the value")
            else:
                good[key] = item
        return good if len(good) == len(mapping) else None

    def metadata(self, value: Any, path: str, *, kind: str | None = None) -> None:
        meta = self.mapping(value, path)
        if meta is None:
            return
        if kind is not None:
            self.object_name(meta.get("name"), f"{path}.name", kind)
        self.string_map(meta.get("labels"), f"{path}.labels", "labels", labels=True)
        self.string_map(meta.get("annotations"), f"{path}.annotations", "labels", labels=False)

    def object_name(self, name: Any, path: str, kind: str) -> None:
        if not isinstance(name, str):
            return  # loading refuses a missing or non-string name with its own message
        if kind == "Service":
            ok, what = len(name) <= 63 and _DNS_1035.fullmatch(name) is not None, (
                "a Service name has at most 63 of [a-z0-9-], starts with a letter and ends alphanumeric")
        else:
            ok, what = len(name) <= 253 and _SUBDOMAIN.fullmatch(name) is not None, (
                "a name has at most 253 of [a-z0-9-.], alphanumeric at both ends of each '.' part")
        if not ok:
            self.bad("object-name", path, f"{shorten(name)} is not a valid name: {what}",
                     "rename the object, such as sample-service")

    def selector(self, value: Any, path: str, rule: str, *, required: bool) -> dict[str, Any] | None:
        """A LabelSelector: matchLabels (labels) and matchExpressions (key, operator, values)."""
        selector = self.mapping(value, path, rule, required=required)
        if selector is None:
            return None
        ok = self.string_map(selector.get("matchLabels"), f"{path}.matchLabels", rule, labels=True) is not None \
            or selector.get("matchLabels") is None
        fix = "write each expression as {key: name, operator: In|NotIn|Exists|DoesNotExist, values: [..]}"
        for where, expr in self.items(selector.get("matchExpressions"), f"{path}.matchExpressions", rule, fix):
            operator = expr.get("operator")
            values = expr.get("values")
            if not isinstance(expr.get("key"), str) or not _qualified_name(expr["key"]):
                self.wrong_type(rule, f"{where}.key", expr.get("key"), "a label key", fix)
                ok = False
            if operator not in _SELECTOR_OPERATORS:
                self.bad(rule, f"{where}.operator", f"is {shorten(operator)}, not one of "
                         f"{', '.join(_SELECTOR_OPERATORS)}", fix)
                ok = False
            elif (operator in ("In", "NotIn")) != bool(values):
                self.bad(rule, f"{where}.values", f"must {'' if operator in ('In', 'NotIn') else 'not '}be given "
                         f"with operator {operator}", fix)
                ok = False
            if values is not None and (not isinstance(values, list) or not all(isinstance(v, str) for v in values)):
                self.wrong_type(rule, f"{where}.values", values, "a list of strings", fix)
                ok = False
        return selector if ok else None


def _qualified_name(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or _SUBDOMAIN.fullmatch(prefix) is None):
        return False
    return 0 < len(name) <= 63 and _LABEL_NAME.fullmatch(name) is not None


def _label_value(value: str) -> bool:
    return value == "" or (len(value) <= 63 and _LABEL_NAME.fullmatch(value) is not None)


def _iana_port_name(name: str) -> bool:
    return (len(name) <= 15 and _IANA_SVC_NAME.fullmatch(name) is not None and "--" not in name
            and any(c.isalpha() for c in name))


def _cut(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def _deployment(shape: _Shape, obj: Mapping[str, Any]) -> None:
    spec = shape.mapping(obj.get("spec"), "spec", required=True)
    if spec is None:
        return
    for field in ("minReadySeconds", "progressDeadlineSeconds", "revisionHistoryLimit"):
        shape.integer(spec.get(field), f"spec.{field}", "field-type")
    minimum, deadline = spec.get("minReadySeconds"), spec.get("progressDeadlineSeconds")
    if _is_int(minimum) and _is_int(deadline) and deadline <= minimum:
        shape.bad("field-type", "spec.progressDeadlineSeconds", f"({deadline}) is not above minReadySeconds "
                  f"({minimum})", "raise progressDeadlineSeconds above minReadySeconds")
    strategy = shape.mapping(spec.get("strategy"), "spec.strategy", "rollout-strategy")
    if strategy is not None:
        shape.mapping(strategy.get("rollingUpdate"), "spec.strategy.rollingUpdate", "rollout-strategy")
        if strategy.get("type") == "Recreate" and strategy.get("rollingUpdate") is not None:
            shape.bad("rollout-strategy", "spec.strategy.rollingUpdate", "is set with strategy type Recreate",
                      "remove spec.strategy.rollingUpdate, or use type RollingUpdate")
    template = shape.mapping(spec.get("template"), "spec.template", required=True)
    selector = shape.selector(spec.get("selector"), "spec.selector", "selector", required=True)
    labels: dict[str, str] | None = None
    if template is not None:
        meta = template.get("metadata")
        shape.metadata(meta, "spec.template.metadata")
        labels = _plain_labels(meta)
        _pod_spec(shape, template.get("spec"), "spec.template.spec")
    if selector is not None and labels is not None:
        if not selector.get("matchLabels") and not selector.get("matchExpressions"):
            shape.bad("selector", "spec.selector", "is empty, which a Deployment may not have",
                      "select the pods by a label of spec.template.metadata.labels")
        elif not selector_matches(selector, labels):
            shape.bad("selector", "spec.selector", "does not match spec.template.metadata.labels",
                      "make spec.selector.matchLabels a subset of the pod template's labels")


def _plain_labels(meta: Any) -> dict[str, str] | None:
    labels = meta.get("labels") if isinstance(meta, dict) else None
    if labels is None:
        return {}
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        return None
    return labels


def _pod_spec(shape: _Shape, value: Any, path: str) -> None:
    pod = shape.mapping(value, path, required=True)
    if pod is None:
        return
    grace = pod.get("terminationGracePeriodSeconds", _DEFAULT_GRACE)
    grace = grace if _is_int(grace) and grace >= 0 else None  # its own check names a bad one
    fix = f"write {path}.containers as a list of containers, each starting with '- name: ...'"
    names: dict[str, str] = {}
    for field in ("initContainers", "containers"):
        if field == "containers" and pod.get(field) is not None and not isinstance(pod[field], list):
            shape.wrong_type("containers", f"{path}.{field}", pod[field], "a list", fix)
            continue
        for where, container in shape.items(pod.get(field), f"{path}.{field}", "containers", fix):
            _container(shape, container, where, grace, names)


def _container(shape: _Shape, container: Mapping[str, Any], path: str, grace: int | None,
               names: dict[str, str]) -> None:
    name = shape.string(container.get("name"), f"{path}.name", "containers",
                        "give every container a name, such as sample-service", required=True)
    if name is not None:
        if len(name) > 63 or _DNS_LABEL.fullmatch(name) is None:
            shape.bad("containers", f"{path}.name", f"{shorten(name)} is not a valid name (at most 63 of "
                      "[a-z0-9-], alphanumeric at both ends)", "rename the container, such as sample-service")
        elif name in names:
            shape.bad("containers", f"{path}.name", f"{name!r} is also the name of {names[name]}",
                      "give every container of the pod a name of its own")
        names.setdefault(name, path)
    _env(shape, container.get("env"), f"{path}.env")
    port_fix = "write ports as a list of '- containerPort: 8080' entries"
    for where, port in shape.items(container.get("ports"), f"{path}.ports", "ports", port_fix):
        shape.integer(port.get("containerPort"), f"{where}.containerPort", "ports", minimum=1, maximum=65535,
                      required=True)
        _protocol(shape, port.get("protocol"), f"{where}.protocol")
        port_name = port.get("name")
        if port_name is not None and not (isinstance(port_name, str) and _iana_port_name(port_name)):
            shape.bad("ports", f"{where}.name", f"{shorten(port_name)} is not a port name (at most 15 of "
                      "[a-z0-9-], with a letter)", "name the port like http")
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        _probe(shape, container.get(probe), f"{path}.{probe}", probe)
    lifecycle = shape.mapping(container.get("lifecycle"), f"{path}.lifecycle", "lifecycle")
    if lifecycle is not None:
        for hook in ("preStop", "postStart"):
            _hook(shape, lifecycle.get(hook), f"{path}.lifecycle.{hook}", grace)


def _env(shape: _Shape, value: Any, path: str) -> None:
    fix = (f"write {path} as a list of '- name: NAME' entries, each with value: \"...\" or valueFrom "
           "(a mapping such as {NAME: value} is not accepted)")
    for where, entry in shape.items(value, path, "env", fix):
        name = entry.get("name")
        if not isinstance(name, str) or _ENV_NAME.fullmatch(name) is None:
            shape.bad("env", f"{where}.name", f"is {shorten(name)}: an environment variable needs a name of "
                      "printable characters without '='", fix)
        if "value" in entry and "valueFrom" in entry and entry["value"] not in (None, ""):
            shape.bad("env", where, "has both value and valueFrom", "keep one of them")
        raw = entry.get("value")
        if raw is not None and not isinstance(raw, str):
            shown = str(raw).lower() if isinstance(raw, bool) else str(raw)
            shape.findings.append(Finding(
                Severity.ERROR, "env-value", shape.ref,
                f"{where}: env {_cut(str(name))} is {shorten(raw)} (a YAML {type(raw).__name__}); the API "
                "accepts only strings", f'quote it: value: "{_cut(shown)}"', shape.doc.location, api_rejects=True,
            ))
        shape.mapping(entry.get("valueFrom"), f"{where}.valueFrom", "env")


def _protocol(shape: _Shape, value: Any, path: str) -> None:
    if value is not None and value not in _PROTOCOLS:
        shape.bad("ports", path, f"is {shorten(value)}, not one of {', '.join(_PROTOCOLS)}", "use TCP")


def _port_ref(shape: _Shape, value: Any, path: str, rule: str, *, required: bool = True) -> None:
    """An IntOrString port: a number 1..65535 or a named port."""
    if value is None:
        if required:
            shape.bad(rule, path, "is missing", "name the port, such as 8080 or http")
        return
    if isinstance(value, str):
        if not _iana_port_name(value):
            shape.bad(rule, path, f"{shorten(value)} is neither a number nor a port name",
                      "write the port as an unquoted number (8080) or a container port's name (http)")
        return
    shape.integer(value, path, rule, minimum=1, maximum=65535)


def _probe(shape: _Shape, value: Any, path: str, which: str) -> None:
    probe = shape.mapping(value, path, "probe")
    if probe is None:
        return
    _handler(shape, probe, path, _PROBE_HANDLERS, "probe")
    for field in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        shape.integer(probe.get(field), f"{path}.{field}", "probe")
    shape.integer(probe.get("terminationGracePeriodSeconds"), f"{path}.terminationGracePeriodSeconds", "probe",
                  minimum=1, maximum=INT64_MAX)
    success = probe.get("successThreshold")
    if which != "readinessProbe" and _is_int(success) and success not in (0, 1):
        shape.bad("probe", f"{path}.successThreshold", f"is {success}; a {which} allows only 1",
                  "remove successThreshold or set it to 1")


def _hook(shape: _Shape, value: Any, path: str, grace: int | None) -> None:
    hook = shape.mapping(value, path, "lifecycle")
    if hook is None:
        return
    _handler(shape, hook, path, _HOOK_HANDLERS, "lifecycle")
    sleep = shape.mapping(hook.get("sleep"), f"{path}.sleep", "lifecycle")
    if sleep is None:
        return
    seconds = shape.integer(sleep.get("seconds"), f"{path}.sleep.seconds", "lifecycle", maximum=INT64_MAX,
                            required=True)
    if seconds is not None and grace is not None and seconds > grace:
        shape.bad("lifecycle", f"{path}.sleep.seconds", f"({seconds}) is above terminationGracePeriodSeconds "
                  f"({grace})", "shorten the sleep, or raise terminationGracePeriodSeconds above it")


def _handler(shape: _Shape, spec: Mapping[str, Any], path: str, handlers: tuple[str, ...], rule: str) -> None:
    given = [h for h in handlers if spec.get(h) is not None]
    if len(given) != 1:
        what = "names no action" if not given else f"names {len(given)} actions ({', '.join(given)})"
        shape.bad(rule, path, f"{what}; it takes exactly one of {', '.join(handlers)}", f"keep one action in {path}")
    http = shape.mapping(spec.get("httpGet"), f"{path}.httpGet", rule)
    if http is not None:
        _port_ref(shape, http.get("port"), f"{path}.httpGet.port", rule)
        shape.string(http.get("path"), f"{path}.httpGet.path", rule, "write the path as a string, such as /ready")
        if http.get("scheme") not in (None, "HTTP", "HTTPS"):
            shape.bad(rule, f"{path}.httpGet.scheme", f"is {shorten(http['scheme'])}, not HTTP or HTTPS", "use HTTP")
    tcp = shape.mapping(spec.get("tcpSocket"), f"{path}.tcpSocket", rule)
    if tcp is not None:
        _port_ref(shape, tcp.get("port"), f"{path}.tcpSocket.port", rule)
    grpc = shape.mapping(spec.get("grpc"), f"{path}.grpc", rule)
    if grpc is not None:
        shape.integer(grpc.get("port"), f"{path}.grpc.port", rule, minimum=1, maximum=65535, required=True)
    command_path = f"{path}.exec.command"
    exec_action = shape.mapping(spec.get("exec"), f"{path}.exec", rule)
    if exec_action is not None:
        command = exec_action.get("command")
        if not isinstance(command, list) or not command or not all(isinstance(a, str) for a in command):
            shape.wrong_type(rule, command_path, command, "a non-empty list of strings",
                             f"write {command_path} as a list of quoted words, such as [\"sleep\", \"5\"]")


def _service(shape: _Shape, obj: Mapping[str, Any]) -> None:
    spec = shape.mapping(obj.get("spec"), "spec", required=True)
    if spec is None:
        return
    kind = spec.get("type", "ClusterIP")
    if kind not in _SERVICE_TYPES:
        shape.bad("service", "spec.type", f"is {shorten(kind)}, not one of {', '.join(_SERVICE_TYPES)}",
                  "use type NodePort (or ClusterIP)")
    shape.string_map(spec.get("selector"), "spec.selector", "service-selector", labels=True)
    fix = "write spec.ports as a list of '- port: 80' entries (with targetPort and, for NodePort, nodePort)"
    ports = spec.get("ports")
    headless = spec.get("clusterIP") == "None" or kind == "ExternalName"
    if ports is None or ports == []:
        if not headless:
            shape.bad("ports", "spec.ports", "is missing", fix)
        return
    names: set[str] = set()
    entries = shape.items(ports, "spec.ports", "ports", fix)
    for where, port in entries:
        shape.integer(port.get("port"), f"{where}.port", "ports", minimum=1, maximum=65535, required=True)
        _port_ref(shape, port.get("targetPort"), f"{where}.targetPort", "ports", required=False)
        _protocol(shape, port.get("protocol"), f"{where}.protocol")
        if port.get("nodePort") is not None:
            if kind in ("NodePort", "LoadBalancer"):
                shape.integer(port["nodePort"], f"{where}.nodePort", "ports", minimum=1, maximum=65535)
            else:
                shape.bad("ports", f"{where}.nodePort", f"is set on a Service of type {shorten(kind)}",
                          "use type NodePort, or remove nodePort")
        name = port.get("name")
        if name is None and len(entries) > 1:
            shape.bad("ports", f"{where}.name", "is missing; a Service with several ports names each", "name it")
        elif name is not None and not (isinstance(name, str) and len(name) <= 63 and _DNS_LABEL.fullmatch(name)):
            shape.bad("ports", f"{where}.name", f"{shorten(name)} is not a port name (at most 63 of [a-z0-9-])",
                      "name the port like http")
        elif isinstance(name, str) and name in names:
            shape.bad("ports", f"{where}.name", f"{name!r} names two ports", "give every port a name of its own")
        if isinstance(name, str):
            names.add(name)


def _budget(shape: _Shape, obj: Mapping[str, Any]) -> None:
    spec = shape.mapping(obj.get("spec"), "spec", "disruption-budget")
    if spec is not None:
        shape.selector(spec.get("selector"), "spec.selector", "disruption-budget", required=False)


_KINDS: dict[str, Callable[[_Shape, Mapping[str, Any]], None]] = {
    "Deployment": _deployment,
    "Service": _service,
    "PodDisruptionBudget": _budget,
}
