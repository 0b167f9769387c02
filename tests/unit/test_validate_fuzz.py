"""Malformed scenarios and manifest directories, generated from the shipped ones by systematic
mutation: each is refused by the real CLI with exit 2 and a short message naming the problem, and
none gets anywhere near a cluster.

Every path to cluster work (creating a cluster, resolving the target, building the image, an API
client, spawning kind or docker) is replaced by a trap that records the call and raises; a case
passes only when no trap was touched. ``harness run`` and ``harness gate`` are exercised as well as
``harness validate``: they must refuse the same input before any of that work starts.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from harness.cli import app

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
GOOD_MANIFESTS = ROOT / "manifests" / "sample-service"
MAX_OUTPUT = 4096  # bytes of output a refusal may take: a few lines, whatever the input

runner = CliRunner()

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
  - name: other
    cluster: {server: "https://127.0.0.1:6443"}
contexts:
  - name: other
    context: {cluster: other, user: other}
  - name: dangling
    context: {cluster: gone, user: other}
users:
  - name: other
    user: {token: x}
current-context: other
"""


# The traps


@dataclass
class ClusterTrap:
    calls: list[str] = field(default_factory=list)

    def trap(self, name: str) -> Callable[..., Any]:
        def sprung(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            raise AssertionError(f"{name} was called while validating bad input")

        return sprung


@pytest.fixture
def trap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ClusterTrap]:
    found = ClusterTrap()
    for target in (
        "harness.run.resolve_target",
        "harness.target.resolve_target",
        "harness.run.run_scenario",
        "harness.run.api_client",
        "harness.k8s.api_client",
        "harness.cluster.lifecycle.up",
        "harness.release.up",
        "harness.release.run_release",
        "harness.replay.run_scenario",
        "harness.image.build_sample_image",
    ):
        monkeypatch.setattr(target, found.trap(target))
    # kind, docker, go or anything else: validation spawns no process at all.
    monkeypatch.setattr(subprocess, "Popen", found.trap("subprocess.Popen"))
    # Neither the user's kubeconfig nor the harness's cluster records are read.
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-default-kubeconfig"))
    monkeypatch.setenv("RH_STATE_DIR", str(tmp_path / "state"))
    yield found


# Building cases


@dataclass(frozen=True)
class Case:
    id: str
    scenario: bytes  # the scenario file; "{tmp}" stands for the case's directory
    expect: str  # a regular expression the output must match (case-insensitive)
    args: tuple[str, ...] = ()
    files: tuple[tuple[str, bytes], ...] = ()  # more files of the case, relative to its directory
    manifests: Callable[[Path], None] | None = None  # changes a copy of the good variant, at {tmp}/m

    def write(self, directory: Path) -> Path:
        for name, content in self.files:
            (directory / name).write_bytes(content.replace(b"{tmp}", str(directory).encode()))
        if self.manifests is not None:
            shutil.copytree(GOOD_MANIFESTS, directory / "m")
            self.manifests(directory / "m")
        path = directory / "scenario.yaml"
        path.write_bytes(self.scenario.replace(b"{tmp}", str(directory).encode()))
        return path

    def param(self) -> Any:
        return pytest.param(self, id=self.id)


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def _dump(data: Any) -> bytes:
    return yaml.safe_dump(data, sort_keys=False).encode()


_INDEX = re.compile(r"^(\w+)\[(\d+)\]$")


def _with(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A copy of ``data`` with ``dotted`` (such as "target.max_surge" or "steps[0].deadline_s") set."""
    out = copy.deepcopy(data)
    node: Any = out
    parts = dotted.split(".")
    for part in parts[:-1]:
        match = _INDEX.match(part)
        if match:
            node = node[match.group(1)][int(match.group(2))]
        else:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
    last = parts[-1]
    match = _INDEX.match(last)
    if match:
        node[match.group(1)][int(match.group(2))] = value
    else:
        node[last] = value
    return out


# (field, value, what the message must name): applied to several shipped scenarios each.
FIELD_MUTATIONS: list[tuple[str, Any, str]] = [
    ("name", 123, r"name"),
    ("name", "Not A Name!", r"name"),
    ("name", "[/bold]markup[/]", r"name"),
    ("expect", "maybe", r"expect"),
    ("seed", "random", r"seed"),
    ("cluster.workers", 9, r"cluster\.workers"),
    ("cluster.workers", "two", r"cluster\.workers"),
    ("cluster.name", "UPPER_case", r"cluster\.name"),
    ("cluster.k8s_version", "banana", r"k8s_version.*'banana'"),
    ("cluster.k8s_version", "v9.9.9", r"k8s_version.*'v9\.9\.9'"),
    ("cluster.kubeconfig", "{tmp}/kubeconfig", r"kubeconfig .* is named but no context"),
    ("cluster.unknown", 1, r"cluster\.unknown"),
    ("target.max_surge", "banana", r"target\.max_surge.*'banana'"),
    ("target.max_unavailable", "150%", r"max_?unavailable.*(150%|100%)"),
    ("target.max_unavailable", True, r"max_unavailable"),
    ("target.replicas", 0, r"target\.replicas"),
    ("target.replicas", "three", r"target\.replicas"),
    ("target.manifests", "no/such/variant", r"target\.manifests 'no/such/variant'.* does not exist"),
    ("target.manifests", "{tmp}/scenario.yaml", r"is a file, not a directory"),
    ("target.image", "Not An/Image Ref!", r"target\.image.*'Not An/Image Ref!'"),
    ("target.image", "", r"target\.image"),
    ("target.version", "latest", r"target\.version 'latest' cannot be a sample service version"),
    ("target.version", "0.1.0-", r"target\.version.*'0\.1\.0-'"),
    ("target.env", {"SHUTDOWN_MODE": 1}, r"target\.env"),
    ("target.env", {"BAD=NAME": "x"}, r"target\.env.*'BAD=NAME'.*environment variable name"),
    ("target.env", ["SHUTDOWN_MODE=graceful"], r"target\.env"),
    ("target.termination_grace_period_seconds", -1, r"termination_grace_period_seconds"),
    ("target.pre_stop_seconds", 1000, r"sleep\.seconds \(1000\) is above terminationGracePeriodSeconds"),
    ("target.url", "ftp://example.com", r"target\.url.*'ftp://example\.com'"),
    ("target.url", "http://127.0.0.1:99999", r"target\.url .* is not an http"),
    ("target.paths", [], r"target\.paths"),
    ("target.paths", ["no-slash"], r"target\.paths.*'no-slash'"),
    ("target.service", "other-service", r"target\.service other-service is not among the manifests"),
    ("target.colour", "blue", r"target\.colour"),
    ("traffic.rate", 0, r"traffic\.rate"),
    ("traffic.rate", -5, r"traffic\.rate"),
    ("traffic.rate", 1e9, r"traffic\.rate"),
    ("traffic.rate", float("inf"), r"traffic\.rate"),
    ("traffic.rate", float("nan"), r"traffic\.rate"),
    ("traffic.rate", "fast", r"traffic\.rate"),
    ("traffic.users", 0, r"traffic\.users"),
    ("traffic.connection_modes", ["carrier-pigeon"], r"traffic\.connection_modes"),
    ("traffic.connection_modes", [], r"traffic\.connection_modes"),
    ("traffic.warmup_s", float("inf"), r"traffic\.warmup_s"),
    ("traffic.max_duration_s", float("nan"), r"traffic\.max_duration_s"),
    ("steps", [], r"steps"),
    ("steps", "rollout-restart", r"steps"),
    ("steps", [{"action": "teleport"}], r"steps\[0\]"),
    ("steps", [{"action": "rollout-restart", "deadline_s": 0}], r"deadline_s"),
    ("steps", [{"action": "rollout-restart", "deadline_s": float("inf")}], r"deadline_s"),
    ("steps", [{"action": "rollout-restart", "after_s": float("nan")}], r"after_s"),
    ("steps", [{"action": "rollout-restart", "at_s": float("inf")}], r"at_s"),
    ("steps", [{"action": "rollout-restart", "after_s": float("inf")}], r"after_s"),
    ("steps", [{"action": "rollout-restart", "colour": "blue"}], r"colour"),
    ("steps", [{"action": "rollout-restart", "replicas": 2}], r"replicas"),
    ("steps", [{"action": "delete-pod", "seconds": 5}], r"seconds"),
    ("steps", [{"action": "set-image"}], r"steps\[0\]"),
    ("steps", [{"action": "set-image", "image": "Bad Ref"}], r"steps\[0\]\.image.*'Bad Ref'"),
    ("steps", [{"action": "set-image", "version": "latest"}], r"steps\[0\]\.version 'latest' cannot be"),
    ("steps", [{"action": "scale", "replicas": -1}], r"replicas"),
    ("steps", [{"action": "set-env", "env": {"A=B": "x"}}], r"steps\[0\]\.env.*'A=B'.*environment"),
    ("steps", [{"action": "rollout-restart", "when": {}}], r"when"),
    ("steps", [{"action": "rollout-restart", "when": {"ready_pods_at_least": 3, "ready_pods_at_most": 1}}],
     r"ready_pods_at"),
    ("gates.colour", "blue", r"gates\.colour"),
    ("gates.max_failed_ratio", 2, r"gates\.max_failed_ratio"),
    ("gates.min_requests", -1, r"gates\.min_requests"),
]


def _field_cases() -> list[Case]:
    cases = []
    for i, (dotted, value, expect) in enumerate(FIELD_MUTATIONS):
        for offset in (0, 6, 11):
            source = SCENARIOS[(i + offset) % len(SCENARIOS)]
            data = _with(_load(source), dotted, value)
            cases.append(Case(f"{source.stem}:{i:02d}:{dotted}={str(value)[:20]}", _dump(data), expect,
                              files=(("kubeconfig", KUBECONFIG.encode()),)))
    return cases


def _bomb(levels: int) -> str:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, levels)]
    return "\n".join(lines)


def _raw_cases() -> list[Case]:
    """Mutations of the file's bytes: what no YAML-to-dict step can show."""
    cases = []
    for source in SCENARIOS[::2]:
        text = source.read_bytes()
        stem = source.stem
        cases += [
            Case(f"{stem}:nul-byte", text.replace(b"description:", b"description: \x00", 1), r"x0000|not allowed"),
            Case(f"{stem}:invalid-utf8", text + b"\n# \xff\xfe\n", r"utf-?8"),
            Case(f"{stem}:duplicate-key", text + b"\nname: other\n", r"name.*(twice|duplicate)"),
            Case(f"{stem}:deep-nesting", text + b"\ndescription2: " + b"[" * 3000 + b"]" * 3000 + b"\n",
                 r"nest|deep"),
            Case(f"{stem}:alias-bomb", text + b"\nbomb:\n" + _indent(_bomb(6)).encode(), r"alias|anchor|expand"),
        ]
    for source in SCENARIOS[1::3]:
        stem = source.stem
        text = source.read_bytes()
        cases += [
            Case(f"{stem}:empty", b"", r"mapping|empty"),
            Case(f"{stem}:comments-only", b"# nothing here\n", r"mapping|empty"),
            Case(f"{stem}:top-level-list", _dump([_load(source)]), r"mapping.*list|list"),
            Case(f"{stem}:top-level-scalar", b"rolling-restart\n", r"mapping"),
            Case(f"{stem}:tab-indent", text.replace(b"\n  ", b"\n\t", 1), r"YAML"),
            Case(f"{stem}:python-tag", text + b"\nseed: !!python/object/apply:os.system [echo]\n", r"YAML|tag"),
            Case(f"{stem}:huge-file", text + b"\n# " + b"x" * (3 * 1024 * 1024) + b"\n", r"bytes|large|size"),
        ]
    return cases


def _indent(text: str) -> str:
    return "".join(f"  {line}\n" for line in text.splitlines())


def _context_cases() -> list[Case]:
    base = _load(ROOT / "scenarios" / "rolling-restart.yaml")
    kubeconfig = (("kubeconfig", KUBECONFIG.encode()),)

    def cluster(**fields: Any) -> bytes:
        return _dump({**base, "cluster": fields})

    return [
        Case("context-unknown", cluster(context="nope", kubeconfig="{tmp}/kubeconfig"),
             r"has no context 'nope' \(it has: dangling, other\)", files=kubeconfig),
        Case("context-dangling-cluster", cluster(context="dangling", kubeconfig="{tmp}/kubeconfig"),
             r"context 'dangling' names cluster 'gone'", files=kubeconfig),
        Case("kubeconfig-missing", cluster(context="other", kubeconfig="{tmp}/missing"),
             r"kubeconfig .*missing.* does not exist"),
        Case("kubeconfig-default-missing", cluster(context="other"), r"the default kubeconfig\) does not exist"),
        Case("kind-context-no-record", cluster(context="kind-nothing"), r"does not exist"),
        Case("kubeconfig-not-yaml", cluster(context="other", kubeconfig="{tmp}/kubeconfig"), r"YAML",
             files=(("kubeconfig", b"clusters: [\n"),)),
        Case("kubeconfig-a-list", cluster(context="other", kubeconfig="{tmp}/kubeconfig"),
             r"not one YAML mapping", files=(("kubeconfig", b"- a\n- b\n"),)),
        Case("kubeconfig-nul", cluster(context="other", kubeconfig="{tmp}/kubeconfig"), r"x0000",
             files=(("kubeconfig", KUBECONFIG.encode() + b"\x00"),)),
        Case("cli-context-unknown", _dump(base), r"has no context 'elsewhere'",
             args=("--context", "elsewhere", "--kubeconfig", "{tmp}/kubeconfig"), files=kubeconfig),
        Case("cli-kubeconfig-missing", _dump(base), r"does not exist",
             args=("--context", "other", "--kubeconfig", "{tmp}/nowhere")),
        Case("cli-kubeconfig-without-context", _dump(base), r"is named but no context",
             args=("--kubeconfig", "{tmp}/kubeconfig"), files=kubeconfig),
        Case("context-bad-k8s-version", cluster(context="other", kubeconfig="{tmp}/kubeconfig", k8s_version="1.34"),
             r"k8s_version.*'1\.34'", files=kubeconfig),
    ]


SCENARIO_CASES = _field_cases() + _raw_cases() + _context_cases()


# Manifest directories: a copy of the graceful variant, changed one way each.


def _edit(name: str, old: str, new: str) -> Callable[[Path], None]:
    def change(directory: Path) -> None:
        path = directory / name
        text = path.read_text()
        assert old in text, (name, old)
        path.write_text(text.replace(old, new, 1))

    return change


def _append(name: str, data: bytes) -> Callable[[Path], None]:
    def change(directory: Path) -> None:
        with (directory / name).open("ab") as f:
            f.write(data)

    return change


def _write(name: str, data: bytes) -> Callable[[Path], None]:
    def change(directory: Path) -> None:
        (directory / name).write_bytes(data)

    return change


def _remove(*names: str) -> Callable[[Path], None]:
    def change(directory: Path) -> None:
        for name in names:
            (directory / name).unlink()

    return change


_SLEEP = "sleep:\n                seconds: 5"
_ENV_BLOCK = "            - name: SHUTDOWN_MODE\n              value: graceful"
_SELECTOR = "  selector:\n    app.kubernetes.io/name: sample-service"
_PORTS = "  ports:\n    - name: http"
_SECOND_DEPLOYMENT = b"""---
apiVersion: apps/v1
kind: Deployment
metadata: {name: second}
spec:
  selector: {matchLabels: {app: second}}
  template:
    metadata: {labels: {app: second}}
    spec:
      containers: [{name: second, image: "second:1.0"}]
"""

MANIFEST_MUTATIONS: list[tuple[str, Callable[[Path], None], str]] = [
    ("nul-byte", _append("service.yaml", b"# \x00\n"), r"x0000"),
    ("invalid-utf8", _append("pdb.yaml", b"# \xff\n"), r"not UTF-8"),
    ("deep-nesting", _write("deep.yaml", b"a: " + b"[" * 400 + b"]" * 400 + b"\n"), r"nested more than"),
    ("alias-bomb", _write("bomb.yaml", ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n"
                                        + _indent(_bomb(7))).encode()), r"expands to more than"),
    ("recursive-alias", _write("loop.yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: loop}\n"
                                           b"data: &d {a: *d}\n"), r"contains it"),
    ("duplicate-key", _edit("deployment.yaml", "  replicas: 3\n", "  replicas: 3\n  replicas: 2\n"),
     r"'replicas' appears twice"),
    ("pre-stop-inf", _edit("deployment.yaml", _SLEEP, "sleep:\n                seconds: .inf"),
     r"sleep\.seconds is inf"),
    ("pre-stop-nan", _edit("deployment.yaml", _SLEEP, "sleep:\n                seconds: .nan"),
     r"sleep\.seconds is nan"),
    ("pre-stop-negative", _edit("deployment.yaml", _SLEEP, "sleep:\n                seconds: -1"),
     r"sleep\.seconds is -1, outside"),
    ("pre-stop-string", _edit("deployment.yaml", _SLEEP, "sleep:\n                seconds: \"5\""),
     r"sleep\.seconds is '5' \(a string\)"),
    ("pre-stop-two-actions", _edit("deployment.yaml", _SLEEP, _SLEEP + "\n              exec: {command: [sh]}"),
     r"preStop names 2 actions"),
    ("env-mapping", _edit("deployment.yaml", "          env:\n", "          env: {SHUTDOWN_MODE: graceful}\n"
                          "          envx:\n"), r"env is .* \(a mapping\), not a list"),
    ("env-no-name", _edit("deployment.yaml", _ENV_BLOCK, "            - value: graceful"), r"env\[2\]\.name"),
    ("env-value-and-from", _edit("deployment.yaml", _ENV_BLOCK, _ENV_BLOCK + "\n              valueFrom: {}"),
     r"has both value and valueFrom"),
    ("env-int-value", _edit("deployment.yaml", "value: graceful", "value: 1"), r"env SHUTDOWN_MODE is 1"),
    ("selector-list", _edit("service.yaml", _SELECTOR, "  selector:\n    - app.kubernetes.io/name: sample-service"),
     r"spec\.selector is .* \(a list\), not a mapping"),
    ("selector-int-value", _edit("service.yaml", _SELECTOR, "  selector:\n    app.kubernetes.io/name: 7"),
     r"spec\.selector\[app\.kubernetes\.io/name\] is 7"),
    ("ports-mapping", _edit("service.yaml", _PORTS, "  ports: {http: 80}\n  portsx:\n    - name: http"),
     r"spec\.ports is .* \(a mapping\), not a list"),
    ("port-out-of-range", _edit("service.yaml", "port: 80", "port: 70000"), r"port is 70000, outside"),
    ("probe-negative", _edit("deployment.yaml", "periodSeconds: 1\n", "periodSeconds: -1\n"),
     r"readinessProbe\.periodSeconds is -1"),
    ("probe-inf", _edit("deployment.yaml", "failureThreshold: 1\n", "failureThreshold: .inf\n"),
     r"readinessProbe\.failureThreshold is inf"),
    ("grace-string", _edit("deployment.yaml", "terminationGracePeriodSeconds: 30", "terminationGracePeriodSeconds: "
                           "\"30\""), r"terminationGracePeriodSeconds '30' is not a whole number"),
    ("grace-negative", _edit("deployment.yaml", "terminationGracePeriodSeconds: 30",
                             "terminationGracePeriodSeconds: -5"), r"terminationGracePeriodSeconds -5"),
    ("grace-fraction", _edit("deployment.yaml", "terminationGracePeriodSeconds: 30",
                             "terminationGracePeriodSeconds: 1.5"), r"terminationGracePeriodSeconds 1\.5"),
    ("replicas-string", _edit("deployment.yaml", "replicas: 3", "replicas: \"3\""), r"spec\.replicas '3'"),
    ("replicas-negative", _edit("deployment.yaml", "replicas: 3", "replicas: -1"), r"spec\.replicas -1"),
    ("label-number", _edit("deployment.yaml", "app.kubernetes.io/version: \"0.1.0\"", "app.kubernetes.io/version: 0.1"),
     r"labels\[app\.kubernetes\.io/version\] is 0\.1 \(a number\)"),
    ("annotations-list", _edit("pdb.yaml", "  labels:", "  annotations: [a, b]\n  labels:"),
     r"metadata\.annotations is .* \(a list\)"),
    ("name-invalid", _edit("service.yaml", "  name: sample-service", "  name: Sample_Service"),
     r"metadata\.name 'Sample_Service' is not a valid name"),
    ("name-missing", _edit("pdb.yaml", "  name: sample-service\n", ""), r"has no metadata\.name"),
    ("metadata-list", _edit("pdb.yaml", "metadata:\n  name: sample-service\n  labels:\n    app.kubernetes.io/name: "
                            "sample-service\n", "metadata: [sample-service]\n"),
     r"metadata is a list, not a mapping"),
    ("kind-missing", _edit("pdb.yaml", "kind: PodDisruptionBudget\n", ""), r"has no kind"),
    ("document-a-list", _write("extra.yaml", b"- a\n- b\n"), r"the document is a list"),
    ("syntax-error", _write("extra.yaml", b"apiVersion: v1\nkind: [\n"), r"YAML syntax error"),
    ("huge-file", _write("huge.yaml", b"# " + b"x" * (2 * 1024 * 1024) + b"\n"), r"bytes, more than"),
    ("no-yaml-files", _remove("deployment.yaml", "service.yaml", "pdb.yaml"), r"holds no \*\.yaml"),
    ("no-deployment", _remove("deployment.yaml"), r"hold no Deployment"),
    ("two-deployments", _append("deployment.yaml", _SECOND_DEPLOYMENT), r"2 Deployments"),
    ("no-service", _remove("service.yaml"), r"no Service selects the pods"),
    ("selector-mismatch", _edit("deployment.yaml", "    matchLabels:\n      # The version stays out of the "
                                "selector: selectors are immutable and every rollout changes it.\n"
                                "      app.kubernetes.io/name: sample-service",
                                "    matchLabels:\n      app.kubernetes.io/name: other"),
     r"spec\.selector does not match spec\.template\.metadata\.labels"),
    ("containers-mapping", _edit("deployment.yaml", "      containers:\n        - name: sample-service",
                                 "      containers:\n        sample-service:\n          name: sample-service"),
     r"containers is .* \(a mapping\), not a list"),
    ("container-no-name", _edit("deployment.yaml", "        - name: sample-service\n          image:",
                                "        - image:"), r"containers\[0\]\.name is missing"),
    ("max-surge-banana", _edit("deployment.yaml", "maxSurge: 1", "maxSurge: banana"),
     r"maxSurge 'banana' is neither"),
    ("recreate-with-rolling", _edit("deployment.yaml", "type: RollingUpdate", "type: Recreate"),
     r"rollingUpdate is set with strategy type Recreate"),
    ("probe-two-handlers", _edit("deployment.yaml", "          readinessProbe:\n",
                                 "          readinessProbe:\n            tcpSocket: {port: 8080}\n"),
     r"readinessProbe names 2 actions"),
    ("exec-command-string", _edit("deployment.yaml", _SLEEP, "exec:\n                command: sleep 5"),
     r"exec\.command is 'sleep 5' \(a string\)"),
    ("service-with-two-ports", _edit("service.yaml", "  ports:\n", "  ports:\n    - name: admin\n      port: 9090\n"
                                                                   "      targetPort: 9090\n"),
     r"Service sample-service has 2 ports: 9090 \(admin\), 80 \(http\)"),
    ("node-port-on-cluster-ip", _edit("service.yaml", "type: NodePort", "type: ClusterIP"),
     r"nodePort is set on a Service of type 'ClusterIP'"),
]

MANIFEST_CASES = [
    Case(f"manifests:{name}", _dump({**_load(ROOT / "scenarios" / "rolling-restart.yaml"),
                                     "target": {"manifests": "{tmp}/m"}}), expect, manifests=change)
    for name, change, expect in MANIFEST_MUTATIONS
]


def test_enough_cases() -> None:
    assert len(SCENARIO_CASES) >= 150
    assert len(MANIFEST_CASES) >= 30
    assert len({c.id for c in SCENARIO_CASES + MANIFEST_CASES}) == len(SCENARIO_CASES) + len(MANIFEST_CASES)


def _refused(args: list[str], expect: str, trap: ClusterTrap) -> str:
    result = runner.invoke(app, args)
    output = result.output
    assert "Traceback" not in output and "internal error" not in output, output[:MAX_OUTPUT]
    assert result.exit_code == 2, (result.exit_code, output[:MAX_OUTPUT], result.exception)
    assert len(output.encode()) < MAX_OUTPUT, output[:MAX_OUTPUT]
    assert re.search(expect, output, re.IGNORECASE | re.DOTALL), output
    assert trap.calls == []
    return output


@pytest.mark.parametrize("case", [c.param() for c in SCENARIO_CASES + MANIFEST_CASES])
def test_malformed_input_is_refused_before_any_cluster_work(case: Case, tmp_path: Path, trap: ClusterTrap) -> None:
    path = case.write(tmp_path)
    args = [a.replace("{tmp}", str(tmp_path)) for a in case.args]
    _refused(["validate", str(path), *args], case.expect, trap)
    _refused(["run", str(path), *args], case.expect, trap)


@pytest.mark.parametrize("case", [c.param() for c in MANIFEST_CASES if c.manifests is not None][::4])
def test_manifests_check_names_the_problem_without_crashing(case: Case, tmp_path: Path, trap: ClusterTrap) -> None:
    case.write(tmp_path)
    result = runner.invoke(app, ["manifests", "check", str(tmp_path / "m")])
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    assert result.exit_code in (0, 1, 2)
    assert len(result.output.encode()) < 2 * MAX_OUTPUT
    assert trap.calls == []


def test_gate_refuses_every_bad_scenario_before_its_first_cluster(tmp_path: Path, trap: ClusterTrap) -> None:
    gate_dir = tmp_path / "gate"
    gate_dir.mkdir()
    shutil.copytree(ROOT / "manifests", tmp_path / "manifests")  # where the copies' ../manifests/ paths lead
    for source in SCENARIOS:
        shutil.copy(source, gate_dir / source.name)
    # The bad ones sort last, so that a gate running in order would have spent a cluster first.
    bad = {"zz-surge": ("target.max_surge", "banana"), "zz-version": ("cluster.k8s_version", "banana"),
           "zz-manifests": ("target.manifests", "nowhere")}
    for name, (dotted, value) in bad.items():
        data = _with(_load(SCENARIOS[0]), dotted, value)
        data["name"] = name
        (gate_dir / f"{name}.yaml").write_bytes(_dump(data))
    result = runner.invoke(app, ["gate", str(gate_dir), "--out", str(tmp_path / "report")])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    for name in bad:
        assert f"{name}.yaml" in result.output
    assert "rolling-restart.yaml" not in result.output  # the valid ones are not reported as problems
    assert trap.calls == []
    assert not (tmp_path / "report").exists()


def test_gate_refuses_two_scenarios_of_the_same_name(tmp_path: Path, trap: ClusterTrap) -> None:
    shutil.copy(SCENARIOS[0], tmp_path / "a.yaml")
    shutil.copy(SCENARIOS[0], tmp_path / "b.yaml")
    output = _refused(["gate", str(tmp_path)], r"b\.yaml: the scenario name .* is also the name of", trap)
    assert "a.yaml" in output


REPLAY_CASES: list[tuple[str, Callable[[dict[str, Any]], Any], dict[str, Any], str]] = [
    ("max-surge", lambda d: _with(d, "target.max_surge", "banana"), {}, r"target\.max_surge.*'banana'"),
    ("k8s-version", lambda d: _with(d, "cluster.k8s_version", "banana"), {}, r"k8s_version.*'banana'"),
    ("manifests", lambda d: _with(d, "target.manifests", "/nowhere/at/all"), {}, r"does not exist"),
    ("unknown-field", lambda d: _with(d, "traffic.colour", "blue"), {}, r"traffic\.colour"),
    ("not-an-object", lambda d: [d], {}, r"not a JSON object"),
    ("foreign-context-gone", lambda d: d,
     {"owned_cluster": False, "context": "prod", "kubeconfig": "/nowhere/kubeconfig"}, r"kubeconfig .* does not exist"),
]


@pytest.mark.parametrize(("mutate", "versions", "expect"), [pytest.param(*c[1:], id=c[0]) for c in REPLAY_CASES])
def test_replay_refuses_a_recorded_scenario_that_cannot_run(
    mutate: Callable[[dict[str, Any]], Any], versions: dict[str, Any], expect: str, tmp_path: Path,
    trap: ClusterTrap,
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "scenario.json").write_text(json.dumps(mutate(_load(ROOT / "scenarios" / "rolling-restart.yaml"))))
    (run_dir / "versions.json").write_text(json.dumps({"harness": "0", "owned_cluster": True, **versions}))
    _refused(["replay", str(run_dir), "--out", str(tmp_path / "out")], expect, trap)


def test_replay_of_a_directory_without_a_recording(tmp_path: Path, trap: ClusterTrap) -> None:
    _refused(["replay", str(tmp_path)], r"cannot read .*scenario\.json", trap)


def test_the_traps_catch_a_scenario_that_gets_through(tmp_path: Path, trap: ClusterTrap) -> None:
    # The control: a valid scenario does reach cluster work, so an empty trap above means something.
    result = runner.invoke(app, ["run", str(ROOT / "scenarios" / "rolling-restart.yaml"), "--out", str(tmp_path)])
    assert result.exit_code == 3
    assert trap.calls == ["harness.run.run_scenario"]
