"""One run of one scenario. The only module that knows the order of things:

cluster ready -> workload deployed -> observers on -> traffic on -> steady check -> disruptions
-> settle (rollout done, nothing terminating, every disrupted pod's containers gone) -> traffic
drained and off -> cleanup -> evidence -> verdict.

Once traffic has started there is evidence, and the run always ends with a verdict and its reports:
a failure after that point becomes a harness error (ERROR), never a lost run.
"""

from __future__ import annotations

import contextlib
import json
import platform
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubernetes import client

from harness import __version__
from harness.access import check_run_access
from harness.cluster.kind import ensure_kind
from harness.cluster_objects import ApiDiscovery, AppliedObject, apply_cluster_scoped, delete_cluster_scoped
from harness.containers import ContainerWatch
from harness.disruptions import (
    CleanupAction,
    StepContext,
    check_steps_fit,
    gate_defaults,
    run_step,
    wait_for_start,
)
from harness.disruptions.set_image import SetImage
from harness.errors import HarnessError, TrafficError, WorkloadError
from harness.evidence import REQUESTS_FILE, TIMELINE_FILE, TrafficReport
from harness.exposure import Exposure, choose_service, exposure_for
from harness.images import place_images, pod_images
from harness.k8s import api_client, call, wait_until
from harness.log import get_logger
from harness.manifests import K8sObject, Overrides, find_workload, render
from harness.manifests.scope import scope_objects
from harness.manifests.sources import APPLIED_FILE, RENDERED_FILE, render_source, scenario_source, write_applied
from harness.observe import Observers, TimelineWriter
from harness.podlogs import POD_LOGS_FILE, PodLogs
from harness.progress import Progress
from harness.report.writers import write_run_reports
from harness.requests_spec import planned_requests, probe_tls, tls_plan
from harness.scenario import Scenario
from harness.target import RunOptions, Target, resolve_target
from harness.traffic.config import TrafficConfig
from harness.traffic.protocol import FIRST_ANSWERS
from harness.traffic.runner import TrafficProcess
from harness.verdict import (
    DisruptedPod,
    RolloutFacts,
    RunFacts,
    RunRecord,
    Verdict,
    judge_run_dir,
    write_run_record,
)
from harness.workload import (
    RUN_LABEL,
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

if TYPE_CHECKING:
    from harness.image import BuiltImage

__all__ = ["RunOptions", "RunResult", "run_scenario"]

log = get_logger(__name__)

SETTLE_LIMIT_S = 180.0


@dataclass
class RunResult:
    run_dir: Path
    verdict: Verdict
    files: dict[str, Path] = field(default_factory=dict)


def _run_id(scenario: Scenario) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{scenario.name}-{uuid.uuid4().hex[:6]}"


def _image_for(scenario: Scenario, version: str | None, target: Target, loaded: set[str],
               prebuilt: Future[BuiltImage] | None = None) -> tuple[str, str | None]:
    """Build (for the sample service) and load the image; return its reference and version label.
    ``prebuilt`` is the build of the scenario's own version, started while the cluster was checked."""
    if scenario.target.image != "sample":
        return scenario.target.image, None
    from harness.image import build_sample_image

    if target.kind_cluster is None:
        raise WorkloadError(
            f"target.image is 'sample', built on this machine, and context {target.context} is not a cluster of "
            "the harness: no image is loaded into it, its nodes pull every image themselves",
            "push the sample image to a registry the cluster pulls from and set target.image to its reference",
        )
    built = prebuilt.result() if prebuilt is not None else build_sample_image(version)
    if built.ref not in loaded:
        kind_load_image(ensure_kind(), built.ref, target.kind_cluster)
        loaded.add(built.ref)
    return built.ref, built.version


def _image_id(ref: str) -> str | None:
    from harness.cluster.docker import inspect

    data = inspect(ref)
    return str(data["Id"]) if data else None


class _Run:
    """The state of one run while it goes; ``execute`` is the order of a run."""

    def __init__(self, scenario: Scenario, options: RunOptions, target: Target, api: client.ApiClient) -> None:
        self.scenario = scenario
        self.options = options
        self.target = target
        self.api = api
        self.run_id = _run_id(scenario)
        self.run_dir = (options.out_dir or Path("runs")) / self.run_id
        self.namespace = f"rh-{uuid.uuid4().hex[:8]}"
        self.progress = Progress()
        self.harness_errors: list[str] = []
        self.loaded: set[str] = set()
        self.prebuilt: Future[BuiltImage] | None = None
        self.writer = TimelineWriter(self.run_dir / TIMELINE_FILE)
        self.observers: Observers | None = None
        self.containers: ContainerWatch | None = None
        self.pod_logs: PodLogs | None = None
        self.windows: list[tuple[float, float]] = []
        self.rollout: RolloutFacts | None = None
        self.traffic_started_m: float | None = None
        self.traffic_stopped_m: float | None = None
        self.traffic_report: TrafficReport | None = None
        self.old_pods: list[str] = []
        self.old_pod_uids: dict[str, str] = {}
        self.cleanup: list[CleanupAction] = []  # what steps left changed, undone at the end
        self.deployed: Deployed | None = None
        self.cluster_scoped: list[K8sObject] = []  # applied by name with target.cluster_scoped: apply
        self.cluster_applied: list[AppliedObject] = []  # what of those exists, deleted at cleanup
        self.versions: dict[str, Any] = {}
        self.url = ""
        self.traffic_cfg: TrafficConfig | None = None
        self.traffic: TrafficProcess | None = None

    def execute(self) -> RunResult:
        scenario = self.scenario
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "scenario.json").write_text(scenario.with_absolute_paths().model_dump_json(indent=2))
        started_at = time.time()
        target = self.target
        self.versions = {"harness": __version__, "python": platform.python_version(),
                         "context": target.context, "kubeconfig": str(target.kubeconfig or ""),
                         "owned_cluster": target.owned, "seed": scenario.seed}
        self.writer.start()
        try:
            with self.progress.show():
                self._deploy()
                self._observe()
                self._drive()
        except HarnessError as exc:
            self.harness_errors.append(f"{exc.problem}" + (f" (fix: {exc.fix})" if exc.fix else ""))
            if self.traffic_started_m is None:
                self._cleanup()
                raise
        except BaseException:
            # Interrupted, or a defect: still leave no namespace, cordon or process behind.
            self._cleanup()
            raise
        self._cleanup()
        return self._judge(started_at)

    def _deploy(self) -> None:
        scenario, api, target = self.scenario, self.api, self.target
        # On a cluster the harness did not create, another run's namespace is none of this run's business.
        for stale in stale_run_namespaces(api) if target.owned else []:
            self.progress.set(f"removing the namespace of an earlier run: {stale}")
            delete_namespace(api, stale)
        self.progress.set("building and loading the image")
        image, version = _image_for(scenario, scenario.target.version, target, self.loaded, self.prebuilt)
        self.versions["image"] = image
        self.versions["image_id"] = _image_id(image)
        self.versions["kubernetes"] = call(client.VersionApi(api).get_code, what="read the server version").git_version
        source = render_source(scenario_source(scenario))
        self.versions["manifests"] = source.record()
        if source.text is not None:
            (self.run_dir / RENDERED_FILE).write_text(source.text)
        objects = self._scoped(source.objects)
        t = scenario.target
        overrides = Overrides(
            image=image, env=t.env, replicas=t.replicas, max_surge=t.max_surge,
            max_unavailable=t.max_unavailable,
            termination_grace_period_seconds=t.termination_grace_period_seconds,
            pre_stop_seconds=t.pre_stop_seconds, version_label=version,
        )
        rendered = render(objects, overrides)
        check_steps_fit(scenario, find_workload(rendered)[0])
        check_run_access(api, target, self.namespace, scenario, rendered)
        exposure = self._exposure(rendered)
        self._place_images(rendered)
        self.url = t.url or f"http://127.0.0.1:{target.host_port}"
        # The traffic process loads its libraries (seconds) while the workload deploys; it sends
        # nothing until _drive lets it go.
        self.traffic_cfg = self.traffic_config()
        self.traffic = TrafficProcess(self.traffic_cfg, self.run_dir)
        self.traffic.start(hold=True)
        self.progress.set(f"deploying into namespace {self.namespace}")
        create_namespace(api, self.namespace, self.run_id)
        apply_cluster_scoped(api, self.cluster_scoped, self.run_id, RUN_LABEL, ApiDiscovery(api), self.cluster_applied)
        if exposure is not None and exposure.added is not None:
            rendered.append(exposure.added)
        service = exposure.service if exposure is not None else None
        write_applied(self.run_dir / APPLIED_FILE, [*self.cluster_scoped, *rendered])
        deployed = self.deployed = apply_objects(api, self.namespace, rendered, service_name=service)
        _, state = wait_rollout(api, deployed, 180)
        if not state.done:
            raise WorkloadError(f"the workload did not become ready: {state.message}",
                                f"kubectl -n {self.namespace} describe pods (kubeconfig {target.kubeconfig})")

        def workload_pods() -> set[str]:
            return {p.metadata.name for p in current_pods(api, deployed)}

        wait_http(self.url + t.paths[0], 60 + 3 * scenario.traffic.timeout_s,
                  request_timeout_s=scenario.traffic.timeout_s, expected_pods=workload_pods,
                  context=probe_tls(scenario), host=scenario.traffic.host)

    def _scoped(self, objects: list[K8sObject]) -> list[K8sObject]:
        """The namespaced objects, moved into the run's namespace; cluster-scoped ones are kept aside."""
        scoped = scope_objects(objects, namespace=self.namespace, policy=self.scenario.target.cluster_scoped,
                               discover=ApiDiscovery(self.api).namespaced)
        self.cluster_scoped = scoped.cluster_objects
        self.versions["scope"] = [note.as_dict() for note in scoped.notes]
        for note in scoped.notes:
            log.info("manifests: %s %s: %s", note.object, note.action, note.detail)
        return scoped.objects

    def _exposure(self, rendered: list[K8sObject]) -> Exposure | None:
        """The Service traffic is meant for, and how it reaches it; None when target.url says where."""
        t, target = self.scenario.target, self.target
        deployment, _ = find_workload(rendered)
        chosen = choose_service(rendered, deployment, service=t.service, port=t.port)
        self.versions["service"] = f"{chosen.service}:{chosen.port}"
        if t.url is not None:
            return None
        if target.kind_cluster is None:
            raise WorkloadError(
                f"context {target.context} is not a kind cluster, so the harness cannot expose Service "
                f"{chosen.service} on this machine, and target.url is unset",
                "set target.url to where the service answers (an ingress or load balancer address)")
        exposure = exposure_for(rendered, chosen, target.node_port)
        self.versions["exposed_through"] = exposure.service
        return exposure

    def _place_images(self, rendered: list[K8sObject]) -> None:
        """Every image the pods and the set-image steps use, on the nodes before anything is deployed."""
        target, api = self.target, self.api
        steps = [str(step.image) for step in self.scenario.steps if isinstance(step, SetImage) and step.image]
        wanted = list(dict.fromkeys([*pod_images(rendered), *steps]))

        def nodes() -> list[str]:
            listed = call(client.CoreV1Api(api).list_node, what="list the nodes")
            return [str(n.metadata.name) for n in listed.items]

        kind = target.kind_cluster
        placed = place_images(wanted, kind_cluster=kind, context=target.context, local_id=_image_id, nodes=nodes,
                              load=lambda ref: kind_load_image(ensure_kind(), ref, str(kind)), already=self.loaded)
        self.versions["images"] = {p.image: {"how": p.how, "id": p.image_id} for p in placed}

    def _observe(self) -> None:
        assert self.deployed is not None
        self.progress.set("observers syncing")
        self.observers = Observers(self.api, self.namespace, self.deployed.service, self.writer)
        self.observers.start()
        self.containers = ContainerWatch(self.run_dir / TIMELINE_FILE, self.namespace,
                                         kind_nodes=self.target.kind_cluster is not None)
        self.containers.start()
        # The service's own words on its shutdown, for the diagnosis; never part of the verdict.
        self.pod_logs = PodLogs(self.api, self.namespace, self.run_dir / POD_LOGS_FILE, self.run_dir / TIMELINE_FILE)
        self.pod_logs.start()

    def traffic_config(self) -> TrafficConfig:
        scenario = self.scenario
        return TrafficConfig(
            url=self.url, out=str(self.run_dir / REQUESTS_FILE), run_id=self.run_id.rsplit("-", 1)[-1],
            rate=scenario.traffic.rate, users=scenario.traffic.users,
            keepalive_share=scenario.traffic.keepalive_share, paths=scenario.target.paths,
            timeout_s=scenario.traffic.timeout_s, max_duration_s=scenario.traffic.max_duration_s,
            model=scenario.traffic.model, arrivals=scenario.traffic.arrivals, seed=scenario.seed,
            max_in_flight=scenario.traffic.max_in_flight, requests=planned_requests(scenario),
            host=scenario.traffic.host, tls=tls_plan(scenario),
            locustfile=None if (lf := scenario.traffic.locustfile) is None else str(scenario.resolve(lf)),
        )

    def _drive(self) -> None:
        """Traffic on, steady state, every step, settle, traffic off: the traffic is stopped and its
        own counts kept whatever happens in between."""
        assert self.traffic is not None and self.traffic_cfg is not None
        cfg = self.traffic_cfg
        with self.traffic as traffic:
            self.progress.traffic = traffic
            try:
                traffic.wait_first_answers(FIRST_ANSWERS, 30)
                self.traffic_started_m = self.writer.action(
                    "traffic", "start", f"{cfg.rate:g} req/s to {self.url}", disruption=False).m
                threading.Thread(target=_warm_reports, name="rh-warm-reports", daemon=True).start()
                self._steps(traffic)
            finally:
                self._stop_traffic(traffic)

    def _steps(self, traffic: TrafficProcess) -> None:
        scenario, api, deployed = self.scenario, self.api, self.deployed
        assert deployed is not None and self.traffic_started_m is not None
        self.progress.set("steady state")
        _sleep_checking(traffic, scenario.traffic.warmup_s)
        if traffic.status.failed > traffic.status.unexpected:  # the unexpected are judged: expected_status
            self.harness_errors.append(
                f"steady state not reached: {traffic.status.failed} requests failed before any "
                "disruption, so the service was unhealthy to begin with")
        before = [p for p in current_pods(api, deployed) if p.metadata.deletion_timestamp is None]
        self.old_pods = sorted(p.metadata.name for p in before)
        self.old_pod_uids = {str(p.metadata.name): str(p.metadata.uid) for p in before if p.metadata.uid}
        steps = StepContext(api=api, deployed=deployed, scenario=scenario, writer=self.writer, traffic=traffic,
                            resolve_image=lambda version: _image_for(scenario, version, self.target, self.loaded),
                            cleanup=self.cleanup)
        previous_end = time.monotonic()
        for index, step in enumerate(scenario.steps):
            if step.at_s is not None:
                _sleep_checking(traffic, self.traffic_started_m + step.at_s - time.monotonic())
            else:
                _sleep_checking(traffic, previous_end + step.after_s - time.monotonic())
            if step.when is not None:
                self.progress.set(f"step {index + 1}/{len(scenario.steps)}: waiting for its condition")
                wait_for_start(step, steps)
            self.progress.set(f"step {index + 1}/{len(scenario.steps)}: {step.label}")
            start_m = time.monotonic()
            result = run_step(step, steps)
            if result is not None:
                self.rollout = result if self.rollout is None else _merge_rollout(self.rollout, result)
            previous_end = time.monotonic()
            self.windows.append((start_m, previous_end))
        self._settle(traffic)
        remaining = scenario.traffic.min_duration_s - (time.monotonic() - self.traffic_started_m)
        _sleep_checking(traffic, remaining)

    def _settle(self, traffic: TrafficProcess) -> None:
        """Until no pod of the workload is terminating and every disrupted pod's containers are gone."""
        assert self.deployed is not None and self.containers is not None
        api, deployed, containers = self.api, self.deployed, self.containers
        self.progress.set("settling: waiting until no pod is terminating and disrupted containers are gone")

        def settled() -> bool | None:
            return True if not terminating_pods(api, deployed) and containers.all_gone() else None

        if wait_until(settled, timeout_s=SETTLE_LIMIT_S, what="settle", on_poll=traffic.check_alive) is None:
            left = sorted(set(terminating_pods(api, deployed)) | set(containers.pending()))
            self.harness_errors.append(
                f"the workload did not settle within {SETTLE_LIMIT_S:.0f} s: {', '.join(left)} still terminating "
                "or with running containers, so traffic did not cover the whole disruption")
        _sleep_checking(traffic, self.scenario.traffic.settle_s)

    def _stop_traffic(self, traffic: TrafficProcess) -> None:
        self.progress.set("stopping traffic (in-flight requests finish)")
        self.writer.action("traffic", "stop", "stop sending; drain in-flight requests", disruption=False)
        try:
            self.traffic_report = traffic.stop()
        except TrafficError as exc:
            self.harness_errors.append(str(exc.problem))
        self.traffic_stopped_m = time.monotonic()

    def _cleanup(self) -> None:
        """Remove what the run made; whatever cannot be removed is named with the command that does."""
        if self.traffic is not None:
            self.traffic.__exit__(None, None, None)  # a process held for a run that never drove it
        if self.pod_logs is not None:
            self.pod_logs.stop()
        if self.containers is not None:
            self.containers.stop()
        if self.observers is not None:
            self.observers.stop()
        self.writer.close()
        api = self.api
        kubectl = f"kubectl --kubeconfig {self.target.kubeconfig or '~/.kube/config'} --context {self.target.context}"
        left: list[str] = []
        for undo in reversed(self.cleanup):
            try:
                undo.run()
            except HarnessError as exc:
                left.append(f"{undo.left} ({exc.problem}); run: {kubectl} {undo.kubectl}")
        for obj in delete_cluster_scoped(api, self.cluster_applied):
            left.append(f"{obj.ref} could not be deleted; run: {kubectl} delete {obj.ref.lower()}")
        if not self.options.keep_namespace:
            try:
                delete_namespace(api, self.namespace)
            except HarnessError as exc:
                left.append(f"namespace {self.namespace} could not be deleted ({exc.problem}); run: "
                            f"{kubectl} delete namespace {self.namespace}")
        for line in left:
            log.warning("left behind: %s", line)
        self.harness_errors.extend(f"cleanup: {line}" for line in left)

    def _judge(self, started_at: float) -> RunResult:
        scenario = self.scenario
        gone = self.containers.facts() if self.containers is not None else {}
        cfg = self.traffic_cfg
        facts = RunFacts(
            scenario=scenario.name, run_id=self.run_id, started_at=started_at, expect=scenario.expect,
            service=self.deployed.service if self.deployed is not None else None,
            ended_at=time.time(), traffic_started_m=self.traffic_started_m, traffic_stopped_m=self.traffic_stopped_m,
            rollout=self.rollout, harness_errors=self.harness_errors, old_pods=self.old_pods,
            old_pod_uids=self.old_pod_uids,
            disruption_windows=self.windows or None, traffic=self.traffic_report,
            connection_modes=list(cfg.users_by_mode) if cfg is not None else [],
            rate_rps=cfg.rate if cfg is not None else None,
            mode_rates=cfg.mode_rates if cfg is not None else {},
            disrupted_pods={name: DisruptedPod(deleted_m=fact.deleted_m, containers_gone_m=fact.containers_gone_m,
                                               how=fact.how)
                            for name, fact in gone.items()},
            scenario_file=scenario.source,
        )
        write_run_record(self.run_dir, RunRecord(facts=facts, gates=gate_defaults(scenario)))
        (self.run_dir / "versions.json").write_text(json.dumps(self.versions, indent=2))
        verdict = judge_run_dir(self.run_dir)
        files = write_run_reports(self.run_dir, verdict)
        return RunResult(run_dir=self.run_dir, verdict=verdict, files=files)


def _warm_reports() -> None:
    """Import the chart's drawing library while the run mostly waits (traffic runs in its own process):
    a second of the time to verdict otherwise."""
    with contextlib.suppress(ImportError):
        import matplotlib.figure  # noqa: F401


def _may_build_sample(scenario: Scenario, options: RunOptions) -> bool:
    context = options.context or scenario.cluster.context
    return scenario.target.image == "sample" and (context is None or context.startswith("kind-"))


def run_scenario(scenario: Scenario, options: RunOptions) -> RunResult:
    """Run one scenario end to end and judge it. Raises HarnessError only before evidence exists."""
    Progress().set("cluster")
    # The sample image is built (by Go and Docker, in their own processes) while the cluster is checked;
    # the pool waits for it before the run starts, so nothing outlives a refusal.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rh-prepare") as pool:
        prebuilt = None
        if _may_build_sample(scenario, options):
            from harness.image import build_sample_image

            prebuilt = pool.submit(build_sample_image, scenario.target.version)
        target = resolve_target(scenario, options)
        run = _Run(scenario, options, target, api_client(target.kubeconfig, target.context))
        run.prebuilt = prebuilt
    return run.execute()


def _merge_rollout(current: RolloutFacts, new: RolloutFacts) -> RolloutFacts:
    return RolloutFacts(
        completed=current.completed and new.completed,
        deadline_s=(current.deadline_s or 0) + (new.deadline_s or 0),
        duration_s=(current.duration_s or 0) + (new.duration_s or 0),
        error=current.error or new.error,
        scope=current.scope or new.scope,
    )


def _sleep_checking(traffic: TrafficProcess, seconds: float) -> None:
    end = time.monotonic() + max(0.0, seconds)
    while time.monotonic() < end:
        traffic.check_alive()
        time.sleep(min(0.5, max(0.0, end - time.monotonic())))


