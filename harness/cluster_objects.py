"""Cluster-scoped objects a run applies (``target.cluster_scoped: apply``) and deletes at cleanup, and
the API discovery that tells whether a kind the harness does not know is namespaced.

Everything here goes through the API's REST paths as discovery names them, so it works the same for
a ClusterRole and for a custom resource: no typed client class is needed per kind.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness.errors import ApiConflictError, ApiError, ApiNotFoundError, WorkloadError
from harness.k8s import call, wait_until
from harness.log import get_logger
from harness.manifests import K8sObject, object_ref
from harness.manifests.scope import api_group

__all__ = ["ApiDiscovery", "AppliedObject", "apply_cluster_scoped", "delete_cluster_scoped"]

log = get_logger(__name__)

_CRD_ESTABLISHED_S = 30.0
_JSON = {"Content-Type": "application/json", "Accept": "application/json"}


@dataclass(frozen=True, slots=True)
class _Resource:
    name: str  # the plural in the REST path, such as clusterroles
    namespaced: bool


@dataclass(frozen=True, slots=True)
class AppliedObject:
    """A cluster-scoped object the run created, addressed for its deletion."""

    ref: str  # ClusterRole/reader
    path: str  # /apis/rbac.authorization.k8s.io/v1/clusterroles/reader


class ApiDiscovery:
    """The API server's own list of resources per group version, asked once per group version."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self._served: dict[str, dict[str, _Resource]] = {}

    def resource(self, api_version: str, kind: str) -> _Resource | None:
        """The resource serving ``kind`` in ``api_version``; None when the server serves none.
        Raises ApiError when discovery does not answer."""
        if api_version not in self._served:
            try:
                listed = _request(self.api, "GET", _group_path(api_version), what=f"discover {api_version}")
            except ApiNotFoundError:
                listed = {}
            self._served[api_version] = {
                str(r["kind"]): _Resource(str(r["name"]), bool(r.get("namespaced")))
                for r in listed.get("resources") or []
                # Subresources (deployments/scale) carry the kind of what they return.
                if isinstance(r, dict) and "/" not in str(r.get("name", "/")) and r.get("kind")
            }
        return self._served[api_version].get(kind)

    def namespaced(self, api_version: str, kind: str) -> bool | None:
        """A :data:`harness.manifests.scope.Discover`."""
        found = self.resource(api_version, kind)
        return None if found is None else found.namespaced


def apply_cluster_scoped(api: client.ApiClient, objects: list[K8sObject], run_id: str, label: str,
                         discovery: ApiDiscovery, applied: list[AppliedObject]) -> None:
    """Create each object labelled ``label: run_id``, appending it to ``applied`` as soon as it exists,
    so that cleanup deletes it even when a later one fails. A leftover of an earlier run (same name,
    carrying ``label``) is replaced; an object the harness did not make is never touched."""
    # Definitions first: a custom resource or a binding may need them.
    ordered = sorted(objects, key=lambda o: o.get("kind") != "CustomResourceDefinition")
    for obj in ordered:
        ref = object_ref(obj)
        resource = discovery.resource(str(obj.get("apiVersion")), str(obj.get("kind")))
        if resource is None or resource.namespaced:
            raise WorkloadError(f"{ref}: the cluster serves no cluster-scoped kind {obj.get('kind')} in "
                                f"{obj.get('apiVersion')}", "check the object's apiVersion and kind")
        collection = f"{_group_path(str(obj.get('apiVersion')))}/{resource.name}"
        path = f"{collection}/{obj['metadata']['name']}"
        body = _labelled(obj, label, run_id)
        try:
            _create(api, collection, body, ref)
        except ApiConflictError:
            _replace_leftover(api, path, ref, label)
            _create(api, collection, body, ref)
        applied.append(AppliedObject(ref, path))
        log.info("applied %s (cluster-scoped, labelled %s=%s)", ref, label, run_id)
        if obj.get("kind") == "CustomResourceDefinition":
            _wait_established(api, path, ref)


def delete_cluster_scoped(api: client.ApiClient, applied: list[AppliedObject]) -> list[AppliedObject]:
    """Delete what :func:`apply_cluster_scoped` created, newest first; the ones that could not be deleted."""
    left: list[AppliedObject] = []
    for obj in reversed(applied):
        try:
            _request(api, "DELETE", obj.path, body={"propagationPolicy": "Background"}, what=f"delete {obj.ref}")
        except ApiNotFoundError:
            continue
        except ApiError as exc:
            log.warning("cannot delete %s: %s", obj.ref, exc.problem)
            left.append(obj)
    return left


def _create(api: client.ApiClient, collection: str, body: K8sObject, ref: str) -> None:
    try:
        _request(api, "POST", collection, body=body, what=f"create {ref}")
    except ApiConflictError:
        raise
    except ApiError as exc:
        raise WorkloadError(f"cannot create {ref}: {exc.problem}",
                            "fix the manifest (harness manifests check DIR names common problems)") from exc


def _replace_leftover(api: client.ApiClient, path: str, ref: str, label: str) -> None:
    current = _request(api, "GET", path, what=f"read {ref}")
    owner = ((current.get("metadata") or {}).get("labels") or {}).get(label)
    if owner is None:
        raise WorkloadError(
            f"{ref} exists in the cluster already and was not made by a run, so the run will not replace or "
            "delete it", f"take {ref} out of the manifests if it is installed on purpose, or delete it first")
    log.info("deleting %s, left by run %s", ref, owner)
    with contextlib.suppress(ApiNotFoundError):
        _request(api, "DELETE", path, body={"propagationPolicy": "Foreground"}, what=f"delete {ref}")

    def gone() -> bool | None:
        try:
            _request(api, "GET", path, what=f"read {ref}")
        except ApiNotFoundError:
            return True
        return None

    if wait_until(gone, timeout_s=60, what=f"{ref} deleted") is None:
        raise WorkloadError(f"{ref}, left by an earlier run, is still being deleted after 60 s",
                            f"check what holds it (kubectl get {ref.lower()} -o yaml: finalizers)")


def _wait_established(api: client.ApiClient, path: str, ref: str) -> None:
    def established() -> bool | None:
        status = _request(api, "GET", path, what=f"read {ref}").get("status") or {}
        conditions = status.get("conditions") or []
        ok = any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)
        return True if ok else None

    if wait_until(established, timeout_s=_CRD_ESTABLISHED_S, what=f"{ref} established") is None:
        raise WorkloadError(f"{ref} was created but not established within {_CRD_ESTABLISHED_S:.0f} s",
                            f"kubectl get {ref.lower()} -o yaml shows its conditions")


def _labelled(obj: K8sObject, label: str, run_id: str) -> K8sObject:
    metadata = dict(obj.get("metadata") or {})
    metadata["labels"] = {**(metadata.get("labels") or {}), label: run_id}
    return {**obj, "metadata": metadata}


def _group_path(api_version: str) -> str:
    group = api_group(api_version)
    return f"/apis/{api_version}" if group else f"/api/{api_version}"


def _request(api: client.ApiClient, method: str, path: str, *, what: str, body: Any = None) -> dict[str, Any]:
    return call(_send, api, method, path, body, what=what)


def _send(api: client.ApiClient, method: str, path: str, body: Any) -> dict[str, Any]:
    """One request on the client's own connection and credentials, failing like a typed call does."""
    serialized = api.param_serialize(method, path, header_params=dict(_JSON), body=body,
                                     auth_settings=["BearerToken"])
    response = api.call_api(*serialized, _request_timeout=(5, 15))
    response.read()
    if not 200 <= response.status < 300:
        raise ApiException(status=response.status, reason=response.reason, body=response.data)
    data = json.loads(response.data or b"{}")
    return data if isinstance(data, dict) else {}
