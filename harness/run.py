"""One run of one scenario. The only module that knows the order of things:

cluster ready -> workload deployed -> observers on -> traffic on -> steady check -> disruptions
-> settle (rollout done, nothing Terminating) -> traffic drained and off -> evidence -> verdict.
"""

from __future__ import annotations

import contextlib
import json
import platform
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client

from harness import __version__
from harness.cluster.kind import ClusterRecord, ensure_kind, load_record
from harness.errors import ContextRefusedError, DisruptionError, HarnessError, TrafficError, WorkloadError
from harness.evidence import REQUESTS_FILE, TIMELINE_FILE
from harness.k8s import api_client
from harness.log import console, get_logger
from harness.manifests import Overrides, load_manifests, render
from harness.observe import Observers, TimelineWriter
from harness.scenario import Scenario, Step
from harness.traffic.config import TrafficConfig
from harness.traffic.runner import TrafficProcess
from harness.verdict import GateConfig, RolloutFacts, RunFacts, RunRecord, Verdict, judge_run_dir, write_run_record
from harness.workload import (
    Deployed,
    apply_objects,
    create_namespace,
    current_pods,
    delete_namespace,
    kind_load_image,
    stale_run_namespaces,
    terminating_pods,
    wait_http,
    wait_rollout,
)

__all__ = ["RunOptions", "RunResult", "Target", "resolve_target", "run_scenario", "write_reports"]

log = get_logger(__name__)

ROLLOUT_ACTIONS = frozenset({"rollout-restart", "set-image", "set-env", "rollback"})
POD_ACTIONS = frozenset({"delete-pod", "kill-pod", "drain"})


@dataclass(frozen=True)
class Target:
    """The cluster a run may disrupt, and why it may."""

    kubeconfig: Path | None
    context: str
    kind_cluster: str | None  # set when images can be loaded with `kind load`
    host_port: int
    owned: bool  # created by the harness; otherwise named explicitly by the user


@dataclass(frozen=True)
class RunOptions:
    out_dir: Path | None = None
    context: str | None = None  # an existing context, named explicitly
    kubeconfig: Path | None = None
    keep_namespace: bool = False
    create_cluster: bool = True


@dataclass
class RunResult:
    run_dir: Path
    verdict: Verdict
    files: dict[str, Path] = field(default_factory=dict)


def resolve_target(scenario: Scenario, options: RunOptions) -> Target:
    """Pick the cluster to disrupt. Only a harness-created cluster or an explicitly named context."""
    context = options.context or scenario.cluster.context
    kubeconfig = options.kubeconfig or (Path(scenario.cluster.kubeconfig) if scenario.cluster.kubeconfig else None)
    if context:
        kind_name = context.removeprefix("kind-") if context.startswith("kind-") else None
        record = load_record(kind_name) if kind_name else None
        if record is not None and kubeconfig is None:
            kubeconfig = Path(record.kubeconfig)
        return Target(kubeconfig=kubeconfig, context=context, kind_cluster=kind_name,
                      host_port=record.host_port if record else 30080, owned=record is not None)
    name = scenario.cluster.name
    record = load_record(name)
    if not options.create_cluster:
        if record is None:
            raise ContextRefusedError(
                f"no cluster {name!r} created by the harness, and no context was named",
                "run `harness cluster up`, or name an existing context explicitly with --context",
            )
        return _owned_target(record)
    from harness.cluster.lifecycle import up

    record = up(name=name, workers=scenario.cluster.workers, k8s_version=scenario.cluster.k8s_version,
                node_image="auto", host_port=record.host_port if record else 30080)
    return _owned_target(record)


def _owned_target(record: ClusterRecord) -> Target:
    return Target(kubeconfig=Path(record.kubeconfig), context=record.context, kind_cluster=record.name,
                  host_port=record.host_port, owned=True)


class _Progress:
    """One status line on the terminal while the run goes on."""

    def __init__(self) -> None:
        self.phase = "starting"
        self.traffic: TrafficProcess | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _text(self) -> str:
        text = f"[bold]{self.phase}[/]"
        if self.traffic is not None and self.traffic.status:
            s = self.traffic.status
            text += (f"  sent {s.get('sent', 0)}  ok {s.get('ok', 0)}  failed "
                     f"{'[red]' if s.get('failed') else ''}{s.get('failed', 0)}{'[/]' if s.get('failed') else ''}"
                     f"  in flight {s.get('inflight', 0)}  {s.get('rps', 0)} req/s")
        return text

    @contextlib.contextmanager
    def show(self) -> Iterator[_Progress]:
        if not console.is_terminal:
            yield self
            return
        with console.status(self._text()) as status:

            def refresh() -> None:
                while not self._stop.wait(0.5):
                    status.update(self._text())

            self._thread = threading.Thread(target=refresh, daemon=True)
            self._thread.start()
            try:
                yield self
            finally:
                self._stop.set()

    def set(self, phase: str) -> None:
        self.phase = phase
        if not console.is_terminal:
            log.info("%s", phase)


def _run_id(scenario: Scenario) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{scenario.name}-{uuid.uuid4().hex[:6]}"


def _image_for(scenario: Scenario, version: str | None, target: Target, loaded: set[str]) -> tuple[str, str | None]:
    """Build (for the sample service) and load the image; return its reference and version label."""
    if scenario.target.image != "sample":
        return scenario.target.image, None
    from harness.image import build_sample_image

    built = build_sample_image(version)
    if built.ref not in loaded:
        if target.kind_cluster is None:
            raise WorkloadError(
                f"{built.ref} was built locally but context {target.context} is not a kind cluster to load it into",
                "push the image to a registry the cluster pulls from and set target.image to its reference",
            )
        kind_load_image(ensure_kind(), built.ref, target.kind_cluster)
        loaded.add(built.ref)
    return built.ref, built.version


def _image_id(ref: str) -> str | None:
    from harness.cluster.docker import inspect

    data = inspect(ref)
    return str(data["Id"]) if data else None


def _gate_config(scenario: Scenario) -> GateConfig:
    gates = scenario.gates
    if "disruption_replaces" in gates.model_fields_set:
        return gates
    actions = {s.action for s in scenario.steps}
    if actions & ROLLOUT_ACTIONS:
        replaces, new_ready = "all", True
    elif actions & POD_ACTIONS:
        replaces, new_ready = "any", True
    else:
        replaces, new_ready = "none", "scale" in actions
    return gates.model_copy(update={"disruption_replaces": replaces, "disruption_new_ready": new_ready})


def run_scenario(scenario: Scenario, options: RunOptions) -> RunResult:
    """Run one scenario end to end and judge it. Raises HarnessError only before evidence exists."""
    run_id = _run_id(scenario)
    run_dir = (options.out_dir or Path("runs")) / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "scenario.json").write_text(scenario.model_dump_json(indent=2))
    started_at = time.time()
    progress = _Progress()
    progress.set("cluster")
    target = resolve_target(scenario, options)
    api = api_client(target.kubeconfig, target.context)
    gates = _gate_config(scenario)
    facts = RunFacts(scenario=scenario.name, run_id=run_id, started_at=started_at, expect=scenario.expect)
    harness_errors: list[str] = []
    loaded: set[str] = set()
    namespace = f"rh-{uuid.uuid4().hex[:8]}"
    deployed: Deployed | None = None
    writer = TimelineWriter(run_dir / TIMELINE_FILE)
    observers: Observers | None = None
    versions: dict[str, Any] = {"harness": __version__, "python": platform.python_version(),
                                "context": target.context, "kubeconfig": str(target.kubeconfig or ""),
                                "owned_cluster": target.owned, "seed": scenario.seed}
    windows: list[tuple[float, float]] = []
    rollout = RolloutFacts(completed=True, deadline_s=0.0, duration_s=0.0)
    traffic_started_m: float | None = None
    traffic_stopped_m: float | None = None
    old_pods: list[str] = []
    cordoned: list[str] = []
    writer.start()
    try:
        with progress.show():
            for stale in stale_run_namespaces(api):
                progress.set(f"removing the namespace of an earlier run: {stale}")
                delete_namespace(api, stale)
            progress.set("building and loading the image")
            image, version = _image_for(scenario, scenario.target.version, target, loaded)
            versions["image"] = image
            versions["image_id"] = _image_id(image)
            versions["kubernetes"] = client.VersionApi(api).get_code().git_version
            progress.set(f"deploying into namespace {namespace}")
            objects = load_manifests(scenario.resolve(scenario.target.manifests))
            t = scenario.target
            overrides = Overrides(
                image=image, env=t.env, replicas=t.replicas, max_surge=t.max_surge,
                max_unavailable=t.max_unavailable,
                termination_grace_period_seconds=t.termination_grace_period_seconds,
                pre_stop_seconds=t.pre_stop_seconds, version_label=version,
            )
            create_namespace(api, namespace, run_id)
            deployed = apply_objects(api, namespace, render(objects, overrides))
            facts = facts.model_copy(update={"service": deployed.service})
            _, state = wait_rollout(api, deployed, 180)
            if not state.done:
                raise WorkloadError(f"the workload did not become ready: {state.message}",
                                    f"kubectl -n {namespace} describe pods (kubeconfig {target.kubeconfig})")
            url = t.url or f"http://127.0.0.1:{target.host_port}"
            ready_deployment = deployed

            def workload_pods() -> set[str]:
                return {p.metadata.name for p in current_pods(api, ready_deployment)}

            wait_http(url + t.paths[0], 60 + 3 * scenario.traffic.timeout_s,
                      request_timeout_s=scenario.traffic.timeout_s, expected_pods=workload_pods)

            progress.set("observers syncing")
            observers = Observers(api, namespace, deployed.service, writer)
            observers.start()

            traffic_cfg = TrafficConfig(
                url=url, out=str(run_dir / REQUESTS_FILE), run_id=run_id.rsplit("-", 1)[-1],
                rate=scenario.traffic.rate, users=scenario.traffic.users,
                keepalive_share=scenario.traffic.keepalive_share, paths=t.paths,
                timeout_s=scenario.traffic.timeout_s, max_duration_s=scenario.traffic.max_duration_s,
            )
            with TrafficProcess(traffic_cfg, run_dir) as traffic:
                progress.traffic = traffic
                traffic.wait_first_answers(5, 30)
                traffic_started_m = writer.action("traffic", "start", f"{traffic_cfg.rate:g} req/s to {url}",
                                                  disruption=False).m
                progress.set("steady state")
                _sleep_checking(traffic, scenario.traffic.warmup_s)
                if traffic.status.get("failed", 0):
                    harness_errors.append(
                        f"steady state not reached: {traffic.status['failed']} requests failed before any "
                        "disruption, so the service was unhealthy to begin with")
                old_pods = sorted(p.metadata.name for p in current_pods(api, deployed)
                                  if p.metadata.deletion_timestamp is None)
                previous_end = time.monotonic()
                for index, step in enumerate(scenario.steps):
                    if step.at_s is not None:
                        _sleep_checking(traffic, traffic_started_m + step.at_s - time.monotonic())
                    else:
                        _sleep_checking(traffic, previous_end + step.after_s - time.monotonic())
                    if step.when is not None:
                        progress.set(f"step {index + 1}/{len(scenario.steps)}: waiting for its condition")
                        _wait_condition(step, api, deployed, traffic)
                    progress.set(f"step {index + 1}/{len(scenario.steps)}: {step.label}")
                    start_m = time.monotonic()
                    result = _execute(step, api, deployed, scenario, target, loaded, writer, traffic, cordoned)
                    if result is not None:
                        rollout = _merge_rollout(rollout, result)
                    previous_end = time.monotonic()
                    windows.append((start_m, previous_end))
                progress.set("settling: waiting until no pod is terminating")
                _settle(api, deployed, traffic, scenario)
                remaining = scenario.traffic.min_duration_s - (time.monotonic() - traffic_started_m)
                _sleep_checking(traffic, remaining)
                progress.set("stopping traffic (in-flight requests finish)")
                writer.action("traffic", "stop", "stop sending; drain in-flight requests", disruption=False)
                try:
                    done = traffic.stop()
                    log.debug("traffic done: %s", done)
                except TrafficError as exc:
                    harness_errors.append(str(exc.problem))
                traffic_stopped_m = time.monotonic()
    except HarnessError as exc:
        harness_errors.append(f"{exc.problem}" + (f" (fix: {exc.fix})" if exc.fix else ""))
        if traffic_started_m is None:
            _cleanup(api, observers, writer, namespace, options, cordoned)
            raise
    except BaseException:
        # Interrupted, or a defect: still leave no namespace, cordon or process behind.
        _cleanup(api, observers, writer, namespace, options, cordoned)
        raise
    finally:
        if observers is not None:
            observers.stop()
            if observers.gaps:
                harness_errors.append(f"{observers.gaps} observer gap(s): pod or endpoint changes may be missing")
    _cleanup(api, None, writer, namespace, options, cordoned)

    facts = facts.model_copy(update={
        "ended_at": time.time(), "traffic_started_m": traffic_started_m, "traffic_stopped_m": traffic_stopped_m,
        "rollout": rollout, "harness_errors": harness_errors, "old_pods": old_pods,
        "disruption_windows": windows or None,
    })
    write_run_record(run_dir, RunRecord(facts=facts, gates=gates))
    (run_dir / "versions.json").write_text(json.dumps(versions, indent=2))
    verdict = judge_run_dir(run_dir)
    files = write_reports(run_dir, verdict)
    return RunResult(run_dir=run_dir, verdict=verdict, files=files)


def write_reports(run_dir: Path, verdict: Verdict) -> dict[str, Path]:
    from harness.evidence import read_timeline
    from harness.report import write_html_report, write_junit, write_markdown_report, write_result_json

    timelines = {verdict.run_id: read_timeline(run_dir / TIMELINE_FILE)}
    return {
        "result": write_result_json(run_dir, verdict),
        "junit": write_junit(run_dir, [verdict]),
        "html": write_html_report(run_dir, [verdict], timelines),
        "markdown": write_markdown_report(run_dir, [verdict], timelines),
    }


def _merge_rollout(current: RolloutFacts, new: RolloutFacts) -> RolloutFacts:
    return RolloutFacts(
        completed=current.completed and new.completed,
        deadline_s=(current.deadline_s or 0) + (new.deadline_s or 0),
        duration_s=(current.duration_s or 0) + (new.duration_s or 0),
        error=current.error or new.error,
    )


def _sleep_checking(traffic: TrafficProcess, seconds: float) -> None:
    end = time.monotonic() + max(0.0, seconds)
    while time.monotonic() < end:
        traffic.check_alive()
        time.sleep(min(0.5, max(0.0, end - time.monotonic())))


def _execute(step: Step, api: client.ApiClient, deployed: Deployed, scenario: Scenario, target: Target,
             loaded: set[str], writer: TimelineWriter, traffic: TrafficProcess, cordoned: list[str]
             ) -> RolloutFacts | None:
    from harness import disrupt

    writer.action(step.label, "start", step.action, disruption=step.action != "wait")
    if step.action == "wait":
        _sleep_checking(traffic, step.seconds)
        writer.action(step.label, "end", f"waited {step.seconds:g} s", disruption=False)
        return None
    try:
        if step.action == "rollout-restart":
            outcome = disrupt.restart(api, deployed)
        elif step.action == "set-image":
            if step.version is not None and scenario.target.image == "sample":
                image, label = _image_for(scenario, step.version, target, loaded)
            else:
                image, label = str(step.image), None
            outcome = disrupt.set_image(api, deployed, image, label)
        elif step.action == "set-env":
            outcome = disrupt.set_env(api, deployed, step.env)
        elif step.action == "scale":
            assert step.replicas is not None
            outcome = disrupt.scale(api, deployed, step.replicas)
        elif step.action in ("delete-pod", "kill-pod"):
            grace = 0 if step.action == "kill-pod" else step.grace_period_s
            outcome = disrupt.delete_pods(api, deployed, step.count, grace)
        elif step.action == "drain":
            outcome = disrupt.drain_node(api, deployed, step.node, step.deadline_s)
            if outcome.cordoned:
                cordoned.append(outcome.cordoned)
        elif step.action == "rollback":
            outcome = disrupt.rollback(api, deployed)
        else:  # pragma: no cover - the scenario model admits no other action
            raise AssertionError(step.action)
    except HarnessError as exc:
        writer.action(step.label, "error", exc.problem)
        raise
    writer.action(step.label, "applied", outcome.detail, disruption=True)
    duration, state = wait_rollout(api, deployed, step.deadline_s, on_poll=traffic.check_alive)
    error = None if state.done else ("ProgressDeadlineExceeded" if state.failed else state.message)
    writer.action(step.label, "end", state.message, disruption=True, rollout_done=state.done)
    return RolloutFacts(completed=state.done, deadline_s=step.deadline_s, duration_s=duration, error=error)


def _wait_condition(step: Step, api: client.ApiClient, deployed: Deployed, traffic: TrafficProcess) -> None:
    when = step.when
    assert when is not None
    deadline = time.monotonic() + when.timeout_s
    while time.monotonic() < deadline:
        traffic.check_alive()
        pods = current_pods(api, deployed)
        ready = sum(1 for p in pods if p.metadata.deletion_timestamp is None and any(
            c.type == "Ready" and c.status == "True" for c in (p.status.conditions or [])))
        terminating = sum(1 for p in pods if p.metadata.deletion_timestamp is not None)
        checks = [
            when.ready_pods_at_least is None or ready >= when.ready_pods_at_least,
            when.ready_pods_at_most is None or ready <= when.ready_pods_at_most,
            when.terminating_pods_at_least is None or terminating >= when.terminating_pods_at_least,
            when.requests_at_least is None or traffic.status.get("sent", 0) >= when.requests_at_least,
        ]
        if all(checks):
            return
        time.sleep(0.5)
    raise DisruptionError(
        f"step {step.label}: its start condition did not hold within {when.timeout_s:.0f} s ({when})",
        "check the condition against the workload (replicas, traffic rate) or raise when.timeout_s",
    )


def _settle(api: client.ApiClient, deployed: Deployed, traffic: TrafficProcess, scenario: Scenario) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        traffic.check_alive()
        if not terminating_pods(api, deployed):
            break
        time.sleep(0.5)
    _sleep_checking(traffic, scenario.traffic.settle_s)


def _cleanup(api: client.ApiClient, observers: Observers | None, writer: TimelineWriter, namespace: str,
             options: RunOptions, cordoned: list[str]) -> None:
    from harness.disrupt import uncordon

    if observers is not None:
        observers.stop()
    writer.close()
    for node in cordoned:
        uncordon(api, node)
    if not options.keep_namespace:
        delete_namespace(api, namespace)

