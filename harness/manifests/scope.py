"""Where each of the user's objects goes: into the run's namespace, dropped, or refused.

A run deploys into a namespace of its own and deletes that namespace at the end, so every object it
applies must either live in that namespace or be deleted by name. Here, before anything is applied:

- a namespaced object with a ``metadata.namespace`` is moved into the run's namespace, and the move
  is noted (otherwise it would land in a namespace the run never deletes);
- a ``Namespace`` object is dropped with a note (the run makes its own);
- a cluster-scoped object is refused, unless the scenario says ``target.cluster_scoped: apply``, in
  which case it is handed back to be applied labelled with the run and deleted at cleanup;
- a kind the harness does not know is looked up through the API server's discovery (``discover``);
  without an answer it is refused, since guessing wrong would leak it past cleanup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.errors import ApiError, ScopeError
from harness.manifests.load import K8sObject, ManifestDocument, object_ref

__all__ = [
    "CLUSTER_SCOPED_KINDS",
    "NAMESPACED_KINDS",
    "ClusterScopedPolicy",
    "Discover",
    "ScopeNote",
    "Scoped",
    "api_group",
    "known_namespaced",
    "scope_documents",
    "scope_objects",
]

ClusterScopedPolicy = Literal["refuse", "apply"]
# (apiVersion, kind) -> True when namespaced, False when cluster-scoped, None when the API server
# serves no such kind. Raises ApiError when discovery does not answer.
Discover = Callable[[str, str], "bool | None"]

# Built-in kinds by (API group, kind); the core group is "". Kubernetes v1.34.
NAMESPACED_KINDS: frozenset[tuple[str, str]] = frozenset({
    *(("", kind) for kind in (
        "Binding", "ConfigMap", "Endpoints", "Event", "LimitRange", "PersistentVolumeClaim", "Pod",
        "PodTemplate", "ReplicationController", "ResourceQuota", "Secret", "Service", "ServiceAccount")),
    *(("apps", kind) for kind in ("ControllerRevision", "DaemonSet", "Deployment", "ReplicaSet", "StatefulSet")),
    ("autoscaling", "HorizontalPodAutoscaler"),
    ("batch", "CronJob"), ("batch", "Job"),
    ("coordination.k8s.io", "Lease"),
    ("discovery.k8s.io", "EndpointSlice"),
    ("events.k8s.io", "Event"),
    ("networking.k8s.io", "Ingress"), ("networking.k8s.io", "NetworkPolicy"),
    ("policy", "PodDisruptionBudget"),
    ("rbac.authorization.k8s.io", "Role"), ("rbac.authorization.k8s.io", "RoleBinding"),
    ("storage.k8s.io", "CSIStorageCapacity"),
    ("resource.k8s.io", "ResourceClaim"), ("resource.k8s.io", "ResourceClaimTemplate"),
    ("authorization.k8s.io", "LocalSubjectAccessReview"),
})
CLUSTER_SCOPED_KINDS: frozenset[tuple[str, str]] = frozenset({
    *(("", kind) for kind in ("ComponentStatus", "Namespace", "Node", "PersistentVolume")),
    *(("admissionregistration.k8s.io", kind) for kind in (
        "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding", "MutatingWebhookConfiguration",
        "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "ValidatingWebhookConfiguration")),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    ("certificates.k8s.io", "CertificateSigningRequest"), ("certificates.k8s.io", "ClusterTrustBundle"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("networking.k8s.io", "IngressClass"), ("networking.k8s.io", "IPAddress"),
    ("networking.k8s.io", "ServiceCIDR"),
    ("node.k8s.io", "RuntimeClass"),
    ("rbac.authorization.k8s.io", "ClusterRole"), ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("resource.k8s.io", "DeviceClass"), ("resource.k8s.io", "ResourceSlice"),
    ("scheduling.k8s.io", "PriorityClass"),
    *(("storage.k8s.io", kind) for kind in (
        "CSIDriver", "CSINode", "StorageClass", "VolumeAttachment", "VolumeAttributesClass")),
})

_FIX_CLUSTER_SCOPED = (
    "install them beforehand (kubectl apply -f) and take them out of the manifests, or set "
    "target.cluster_scoped: apply so that each run applies them labelled with its run id and deletes them "
    "at cleanup"
)


@dataclass(frozen=True, slots=True)
class ScopeNote:
    """One change the scope policy made to the manifests, for the run's record and its log."""

    object: str  # "ConfigMap/settings"
    action: Literal["moved", "dropped", "cluster-scoped"]
    detail: str
    file: str | None = None

    def as_dict(self) -> dict[str, str]:
        data = {"object": self.object, "action": self.action, "detail": self.detail}
        if self.file:
            data["file"] = self.file
        return data


@dataclass(frozen=True, slots=True)
class Scoped:
    """The manifests sorted by where they go; the input objects are left as they were."""

    namespaced: list[ManifestDocument] = field(default_factory=list)  # applied into the run's namespace
    cluster_scoped: list[ManifestDocument] = field(default_factory=list)  # applied by name, deleted at cleanup
    # Kinds the harness does not know, left for the run's discovery (no discovery was given).
    undecided: list[ManifestDocument] = field(default_factory=list)
    notes: list[ScopeNote] = field(default_factory=list)

    @property
    def objects(self) -> list[K8sObject]:
        return [doc.obj for doc in self.namespaced]

    @property
    def cluster_objects(self) -> list[K8sObject]:
        return [doc.obj for doc in self.cluster_scoped]


def api_group(api_version: Any) -> str:
    """``apps/v1`` -> ``apps``; ``v1`` -> the core group ``""``."""
    text = str(api_version)
    return text.rsplit("/", 1)[0] if "/" in text else ""


def known_namespaced(obj: K8sObject, defined: dict[tuple[str, str], bool] | None = None) -> bool | None:
    """Whether ``obj``'s kind is namespaced, as far as the built-in kinds (and ``defined``, the kinds
    of CustomResourceDefinitions) tell; None for a kind neither knows."""
    key = (api_group(obj.get("apiVersion")), str(obj.get("kind")))
    if key in NAMESPACED_KINDS:
        return True
    if key in CLUSTER_SCOPED_KINDS:
        return False
    return (defined or {}).get(key)


def scope_objects(objects: Sequence[K8sObject], *, namespace: str | None, policy: ClusterScopedPolicy = "refuse",
                  discover: Discover | None = None) -> Scoped:
    """:func:`scope_documents` for objects that did not come from files."""
    return scope_documents([ManifestDocument(obj=obj) for obj in objects], namespace=namespace, policy=policy,
                           discover=discover)


def scope_documents(documents: Sequence[ManifestDocument], *, namespace: str | None,
                    policy: ClusterScopedPolicy = "refuse", discover: Discover | None = None) -> Scoped:
    """Sort ``documents`` by scope and move namespaced ones into ``namespace``.

    ``namespace`` None removes a fixed ``metadata.namespace`` instead (a check before the run's
    namespace has a name). ``discover`` answers for kinds the harness does not know; without it they
    are returned as undecided. Raises ScopeError naming every object the policy refuses.
    """
    defined = _defined_kinds(documents)
    scoped = Scoped()
    refused: list[ManifestDocument] = []
    unknown: list[tuple[ManifestDocument, str]] = []
    for doc in documents:
        obj, ref = doc.obj, object_ref(doc.obj)
        if (api_group(obj.get("apiVersion")), obj.get("kind")) == ("", "Namespace"):
            scoped.notes.append(ScopeNote(ref, "dropped", "a run deploys into a namespace of its own and deletes it "
                                          "at the end, so it does not create this one", doc.location))
            continue
        namespaced = known_namespaced(obj, defined)
        if namespaced is None:
            if discover is None:
                scoped.undecided.append(doc)
                continue
            try:
                namespaced = discover(str(obj.get("apiVersion")), str(obj.get("kind")))
            except ApiError as exc:
                unknown.append((doc, f"the API server's discovery did not answer ({exc.problem})"))
                continue
            if namespaced is None:
                unknown.append((doc, f"the cluster serves no kind {obj.get('kind')} in {obj.get('apiVersion')}"))
                continue
        if namespaced:
            scoped.namespaced.append(_moved(doc, namespace, scoped.notes))
        elif policy == "apply":
            scoped.cluster_scoped.append(_without_namespace(doc))
            scoped.notes.append(ScopeNote(ref, "cluster-scoped", "applied labelled with the run id and deleted at "
                                          "cleanup (target.cluster_scoped: apply)", doc.location))
        else:
            refused.append(doc)
    problems = []
    if refused:
        problems.append(ScopeError(
            "the manifests hold cluster-scoped objects, which affect the whole cluster and outlive the run's "
            f"namespace, so a run does not apply them unless told to: {_listed(refused)}",
            _FIX_CLUSTER_SCOPED))
    if unknown:
        listed = "; ".join(f"{object_ref(d.obj)}{_at(d)}: {why}" for d, why in unknown)
        problems.append(ScopeError(
            "the harness cannot tell whether these objects are namespaced, so it could not be sure to clean them "
            f"up: {listed}",
            "install the CustomResourceDefinition that serves the kind beforehand (or put it in the manifests "
            "with target.cluster_scoped: apply), and check that the API server answers"))
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ScopeError("; and ".join(p.problem for p in problems), "; ".join(p.fix for p in problems))
    return scoped


def _defined_kinds(documents: Sequence[ManifestDocument]) -> dict[tuple[str, str], bool]:
    """The kinds the manifests' own CustomResourceDefinitions define, and whether each is namespaced."""
    defined: dict[tuple[str, str], bool] = {}
    for doc in documents:
        if (api_group(doc.obj.get("apiVersion")), doc.obj.get("kind")) != ("apiextensions.k8s.io",
                                                                           "CustomResourceDefinition"):
            continue
        spec = doc.obj.get("spec")
        if not isinstance(spec, dict):
            continue
        names = spec.get("names")
        kind = names.get("kind") if isinstance(names, dict) else None
        if isinstance(spec.get("group"), str) and isinstance(kind, str) and spec.get("scope") in ("Namespaced",
                                                                                                   "Cluster"):
            defined[(spec["group"], kind)] = spec["scope"] == "Namespaced"
    return defined


def _moved(doc: ManifestDocument, namespace: str | None, notes: list[ScopeNote]) -> ManifestDocument:
    metadata = doc.obj.get("metadata")
    fixed = metadata.get("namespace") if isinstance(metadata, dict) else None
    if fixed is None or fixed == namespace:
        return doc
    assert isinstance(metadata, dict)
    where = "the run's namespace" + (f" {namespace}" if namespace else "")
    notes.append(ScopeNote(object_ref(doc.obj), "moved", f"from namespace {fixed} into {where}", doc.location))
    new_metadata = {k: v for k, v in metadata.items() if k != "namespace"}
    if namespace is not None:
        new_metadata["namespace"] = namespace
    return ManifestDocument(obj={**doc.obj, "metadata": new_metadata}, path=doc.path, line=doc.line)


def _without_namespace(doc: ManifestDocument) -> ManifestDocument:
    metadata = doc.obj.get("metadata")
    if not isinstance(metadata, dict) or "namespace" not in metadata:
        return doc
    # A cluster-scoped object has no namespace (the API server clears one), and cleanup addresses it without.
    new_metadata = {k: v for k, v in metadata.items() if k != "namespace"}
    return ManifestDocument(obj={**doc.obj, "metadata": new_metadata}, path=doc.path, line=doc.line)


def _at(doc: ManifestDocument) -> str:
    return f" ({doc.location})" if doc.location else ""


def _listed(documents: Sequence[ManifestDocument]) -> str:
    return ", ".join(f"{object_ref(d.obj)}{_at(d)}" for d in documents)
