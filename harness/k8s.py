"""The boundary to the Kubernetes API: clients from a given kubeconfig, every call with bounded
retries, polling waits, and translation of client exceptions into the harness's own errors.

No other module catches the client's exceptions: they call through ``call`` and get an ``ApiError``
leaf. The API server may be restarting mid-run (the data plane keeps serving meanwhile), so
connection failures and 5xx answers are retried with backoff for a bounded time before a call gives up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception,
    retry_if_result,
    stop_after_delay,
    wait_exponential,
    wait_fixed,
)
from urllib3.exceptions import HTTPError as Urllib3Error

from harness.errors import (
    ApiConflictError,
    ApiError,
    ApiNotFoundError,
    ApiRequestError,
    ApiTooManyRequestsError,
    ApiUnavailableError,
    ClusterError,
)
from harness.log import get_logger

__all__ = [
    "API_RETRY_S",
    "api_client",
    "api_reason",
    "api_status",
    "call",
    "cluster_health",
    "is_transient",
    "wait_cluster_ready",
    "wait_until",
    "watch_error",
]

log = get_logger(__name__)

T = TypeVar("T")

# Long enough for a control-plane restart (static pod recreated, etcd caught up), short enough that a
# cluster that is really gone ends the run with a verdict while its evidence is still fresh.
API_RETRY_S = 120.0
_TRANSIENT_STATUS = frozenset({500, 502, 503, 504})


def is_transient(exc: BaseException) -> bool:
    """A failure that a later attempt may not meet: no connection, or the server not ready to answer."""
    if isinstance(exc, ApiException):
        return exc.status in _TRANSIENT_STATUS or not exc.status
    return isinstance(exc, Urllib3Error | ConnectionError | TimeoutError)


def api_status(exc: BaseException) -> int | None:
    """The HTTP status of a failed API call or watch, None when there was no answer."""
    return int(exc.status) if isinstance(exc, ApiException) and exc.status else None


def api_reason(exc: BaseException) -> str:
    """A short description of a failed API call or watch."""
    if isinstance(exc, ApiException):
        return f"API error {exc.status}: {str(exc.reason or '').strip()[:200]}"
    return _short(exc) if str(exc).strip() else type(exc).__name__


def watch_error(code: int | None, message: str) -> Exception:
    """The failure a watch ERROR event stands for, shaped like the client's own."""
    error: Exception = ApiException(status=code or 500, reason=message or "watch ERROR event")
    return error


def _translate(exc: BaseException, what: str) -> ApiError:
    if not isinstance(exc, ApiException):
        return ApiUnavailableError(f"{what}: the API server did not answer: {_short(exc)}",
                                   "check that the cluster runs (harness cluster status)")
    status = int(exc.status or 0) or None
    reason = f"{exc.status} {exc.reason}".strip()
    leaf: type[ApiError] = {404: ApiNotFoundError, 409: ApiConflictError,
                            429: ApiTooManyRequestsError}.get(status or 0, ApiRequestError)
    if status in _TRANSIENT_STATUS:
        leaf = ApiUnavailableError
    return leaf(f"{what}: the API answered {reason}", "check the object and the cluster (harness cluster status)",
                status=status)


def call(fn: Callable[..., T], *args: Any, what: str, retry_s: float = API_RETRY_S, **kwargs: Any) -> T:
    """Call one client method; transient failures are retried for up to ``retry_s`` seconds."""
    retrying = Retrying(retry=retry_if_exception(is_transient), stop=stop_after_delay(retry_s),
                        wait=wait_exponential(multiplier=0.25, max=5), reraise=True)
    try:
        for attempt in retrying:
            with attempt:
                return fn(*args, **kwargs)
    except (ApiException, Urllib3Error, ConnectionError, TimeoutError) as exc:
        raise _translate(exc, what) from exc
    raise AssertionError("unreachable: tenacity re-raises the last failure")  # pragma: no cover


def wait_until(check: Callable[[], T | None], *, timeout_s: float, interval_s: float = 0.5, what: str,
               on_poll: Callable[[], None] | None = None) -> T | None:
    """Poll ``check`` until it returns something other than None; None when ``timeout_s`` passes.

    ``what`` names the wait in debug logs. ``on_poll`` runs before every check and may raise to end
    the wait early (a traffic process that died, say).
    """

    def attempt() -> T | None:
        if on_poll is not None:
            on_poll()
        return check()

    retrying = Retrying(retry=retry_if_result(lambda value: value is None), stop=stop_after_delay(timeout_s),
                        wait=wait_fixed(interval_s), reraise=True)
    try:
        return retrying(attempt)
    except RetryError:
        log.debug("wait for %s: gave up after %.0f s", what, timeout_s)
        return None


def api_client(kubeconfig: Path | None, context: str | None) -> client.ApiClient:
    """A client bound to exactly this kubeconfig file and context (no global state)."""
    try:
        return config.new_client_from_config(
            config_file=str(kubeconfig) if kubeconfig else None, context=context, persist_config=False
        )
    except (config.ConfigException, OSError, TypeError) as exc:
        where = str(kubeconfig) if kubeconfig else "the default kubeconfig"
        raise ClusterError(
            f"cannot load kube context {context!r} from {where}: {exc}",
            "check the context name (kubectl config get-contexts) and the kubeconfig path",
        ) from exc


def _node_ready(node: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (node.status.conditions or []))


def cluster_health(kubeconfig: Path, context: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Nodes with their readiness, and the problems that make the cluster unusable."""
    problems: list[str] = []
    nodes: list[dict[str, Any]] = []
    try:
        api = client.CoreV1Api(api_client(kubeconfig, context))
        items = api.list_node(_request_timeout=10).items
        for node in items:
            ready = _node_ready(node)
            nodes.append({"name": node.metadata.name, "ready": ready,
                          "version": node.status.node_info.kubelet_version})
            if not ready:
                problems.append(f"node {node.metadata.name} is not Ready")
        pods = api.list_namespaced_pod("kube-system", _request_timeout=10).items
        for pod in pods:
            if pod.status.phase not in ("Running", "Succeeded"):
                problems.append(f"kube-system pod {pod.metadata.name} is {pod.status.phase}")
    except (ApiException, Urllib3Error, OSError) as exc:
        problems.append(f"the API server does not answer: {_short(exc)}")
    if not nodes and not problems:
        problems.append("the cluster has no nodes")
    return nodes, problems


def wait_cluster_ready(kubeconfig: Path, context: str, *, expected_nodes: int, timeout_s: float,
                       on_poll: Callable[[client.ApiClient], None] | None = None) -> None:
    """Wait until every node is Ready and every kube-system pod runs with all containers ready."""
    deadline = time.monotonic() + timeout_s
    last: list[str] = ["not checked yet"]
    while time.monotonic() < deadline:
        if on_poll is not None:
            try:
                on_poll(api_client(kubeconfig, context))
            except (ApiException, Urllib3Error, OSError) as exc:
                last = [f"the API server does not answer: {_short(exc)}"]
        nodes, problems = cluster_health(kubeconfig, context)
        if len(nodes) < expected_nodes:
            problems.append(f"{len(nodes)} of {expected_nodes} nodes registered")
        if not problems:
            problems = _kube_system_not_ready(kubeconfig, context)
        if not problems:
            log.info("cluster ready: %d node(s)", len(nodes))
            return
        last = problems
        time.sleep(2)
    raise ClusterError(
        f"the cluster did not become ready within {timeout_s:.0f} s: {'; '.join(last[:5])}",
        "look at `docker exec <node> journalctl -u kubelet` and `kubectl -n kube-system get pods`",
    )


def _kube_system_not_ready(kubeconfig: Path, context: str) -> list[str]:
    api = client.CoreV1Api(api_client(kubeconfig, context))
    problems = []
    try:
        pods = api.list_namespaced_pod("kube-system", _request_timeout=10).items
    except (ApiException, Urllib3Error, OSError) as exc:
        return [f"the API server does not answer: {_short(exc)}"]
    names = [p.metadata.name for p in pods]
    for required in ("coredns-", "kube-proxy-", "etcd-", "kube-apiserver-"):
        if not any(n.startswith(required) for n in names):
            problems.append(f"no {required} pod yet")
    for pod in pods:
        statuses = pod.status.container_statuses or []
        if pod.status.phase != "Running" or not statuses or not all(s.ready for s in statuses):
            problems.append(f"kube-system pod {pod.metadata.name} not ready ({pod.status.phase})")
    return problems


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
