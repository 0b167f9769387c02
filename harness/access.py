"""What a run does through the Kubernetes API, as RBAC permissions, and the check that the credentials
of a cluster the harness did not create hold them, made before the run changes anything there.

Each capability lists the (verb, API group, resource) of the calls behind it and the ClusterRole of
``manifests/rbac/`` that grants it. Every run needs its namespace, the objects of its manifests,
its observers and its cleanup; its steps add their own: a pod deletion needs ``delete pods``, a drain
``patch nodes`` and ``create pods/eviction``. On a foreign context the harness asks the API server
(one SelfSubjectAccessReview per permission) and refuses to start while any is missing, naming each,
what it is for, and the commands that grant it.

The run's namespace is created by the run, so no RoleBinding can exist in it beforehand: the
namespaced rules are a ClusterRole too, granted with a ClusterRoleBinding (manifests/rbac/README.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kubernetes import client

from harness.errors import ApiError, PermissionMissingError
from harness.k8s import call
from harness.log import get_logger
from harness.manifests import K8sObject, find_workload

if TYPE_CHECKING:
    from harness.scenario import Scenario
    from harness.target import Target

__all__ = [
    "CAPABILITIES",
    "MANIFEST_RESOURCES",
    "ROLES",
    "STEP_NEEDS",
    "Capability",
    "Permission",
    "check_access",
    "check_run_access",
    "find_missing",
    "missing_error",
    "rbac_dir",
    "required",
]

log = get_logger(__name__)

NAMESPACES_ROLE = "rollout-harness-namespaces"
WORKLOAD_ROLE = "rollout-harness-workload"
DRAIN_ROLE = "rollout-harness-drain"
# Each ClusterRole and the file of manifests/rbac/ that holds it.
ROLES: dict[str, str] = {NAMESPACES_ROLE: "namespaces.yaml", WORKLOAD_ROLE: "workload.yaml", DRAIN_ROLE: "drain.yaml"}


@dataclass(frozen=True, order=True)
class Permission:
    """One thing the run asks the API server to do: ``verb`` on ``resource`` of API ``group``."""

    verb: str
    group: str  # "" is the core group
    resource: str  # plural; a subresource after a slash: "pods/eviction"
    namespaced: bool  # checked in the run's namespace; otherwise cluster-wide

    def __str__(self) -> str:
        base, _, sub = self.resource.partition("/")
        name = f"{base}.{self.group}" if self.group else base
        return f"{self.verb} {name}/{sub}" if sub else f"{self.verb} {name}"


@dataclass(frozen=True)
class Capability:
    """What some part of a run does, the permissions it takes, and the ClusterRole that grants them."""

    name: str
    purpose: str
    role: str
    permissions: tuple[Permission, ...]


def _ns(verb: str, group: str, resource: str) -> Permission:
    return Permission(verb, group, resource, namespaced=True)


# The kinds the shipped ClusterRole lets a run create from its manifests: (API group, resource).
MANIFEST_RESOURCES: dict[str, tuple[str, str]] = {
    "Deployment": ("apps", "deployments"),
    "StatefulSet": ("apps", "statefulsets"),
    "Service": ("", "services"),
    "PodDisruptionBudget": ("policy", "poddisruptionbudgets"),
    "ConfigMap": ("", "configmaps"),
}

_LIST: tuple[Capability, ...] = (
    Capability("namespace", "the run's own namespace (created, then deleted)", NAMESPACES_ROLE,
               (Permission("create", "", "namespaces", namespaced=False),
                Permission("delete", "", "namespaces", namespaced=False))),
    Capability("deploy", "deploying the manifests", WORKLOAD_ROLE,
               tuple(_ns("create", group, resource) for group, resource in MANIFEST_RESOURCES.values())),
    Capability("observe", "watching pods, EndpointSlices and events, and following pod logs", WORKLOAD_ROLE,
               (_ns("list", "", "pods"), _ns("watch", "", "pods"), _ns("get", "", "pods/log"),
                _ns("list", "", "events"), _ns("watch", "", "events"),
                _ns("list", "discovery.k8s.io", "endpointslices"), _ns("watch", "discovery.k8s.io", "endpointslices"))),
    Capability("cleanup", "removing the run's Services before its namespace", WORKLOAD_ROLE,
               (_ns("list", "", "services"), _ns("delete", "", "services"))),
    Capability("read-deployment", "following the Deployment's rollouts", WORKLOAD_ROLE,
               (_ns("get", "apps", "deployments"),)),
    Capability("read-statefulset", "following the StatefulSet's rollouts", WORKLOAD_ROLE,
               (_ns("get", "apps", "statefulsets"),)),
    Capability("patch-deployment", "steps that change the Deployment", WORKLOAD_ROLE,
               (_ns("patch", "apps", "deployments"),)),
    Capability("patch-statefulset", "steps that change the StatefulSet", WORKLOAD_ROLE,
               (_ns("patch", "apps", "statefulsets"),)),
    Capability("rollback", "the rollback step (it reads the Deployment's ReplicaSets)", WORKLOAD_ROLE,
               (_ns("list", "apps", "replicasets"),)),
    Capability("delete-pods", "the kill-pod and delete-pod steps", WORKLOAD_ROLE, (_ns("delete", "", "pods"),)),
    Capability("drain", "the drain step (cordon and uncordon its node, evict its pods)", DRAIN_ROLE,
               (Permission("patch", "", "nodes", namespaced=False), _ns("create", "", "pods/eviction"))),
)
CAPABILITIES: dict[str, Capability] = {c.name: c for c in _LIST}

# What each step action adds to every run's needs; "{kind}" is the workload's: deployment or statefulset.
STEP_NEEDS: dict[str, tuple[str, ...]] = {
    "rollout-restart": ("patch-{kind}",),
    "set-image": ("patch-{kind}",),
    "set-env": ("patch-{kind}",),
    "scale": ("patch-{kind}",),
    "rollback": ("patch-{kind}", "rollback"),
    "kill-pod": ("delete-pods",),
    "delete-pod": ("delete-pods",),
    "drain": ("drain",),
    "wait": (),
}


def _resource_of(obj: K8sObject) -> tuple[str, str]:
    """The API group and resource of a manifest object; kinds the ClusterRole does not list are
    guessed the way the API machinery guesses (lower case, plural)."""
    kind = str(obj.get("kind") or "")
    if kind in MANIFEST_RESOURCES:
        return MANIFEST_RESOURCES[kind]
    api_version = str(obj.get("apiVersion") or "")
    group = api_version.rpartition("/")[0]
    lower = kind.lower()
    if lower.endswith("s"):
        plural = lower + "es"
    elif lower.endswith("y") and lower[-2:-1] not in tuple("aeiou"):
        plural = lower[:-1] + "ies"
    else:
        plural = lower + "s"
    return group, plural


def required(actions: Iterable[str], workload_kind: str, objects: Sequence[K8sObject]) -> list[Capability]:
    """The capabilities a run of these step actions needs, for a workload of this kind deployed from
    these (rendered) manifest objects. Deploying asks for exactly the kinds the manifests hold."""
    kind = "statefulset" if workload_kind == "StatefulSet" else "deployment"
    names = ["namespace", "observe", "cleanup", f"read-{kind}"]
    for action in actions:
        names.extend(need.format(kind=kind) for need in STEP_NEEDS.get(action, ()))
    creates = tuple(dict.fromkeys(_ns("create", *_resource_of(obj)) for obj in objects))
    deploy = Capability("deploy", CAPABILITIES["deploy"].purpose, WORKLOAD_ROLE, creates)
    return [deploy, *(CAPABILITIES[name] for name in dict.fromkeys(names))]


def rbac_dir() -> Path:
    """manifests/rbac/ as it ships with the harness."""
    from harness.builtin import builtin_root

    return builtin_root() / "manifests" / "rbac"


def _granted_by_shipped(permission: Permission, role: str) -> bool:
    return any(permission in c.permissions for c in _LIST if c.role == role)


def _bind_flag(user: str | None) -> str:
    prefix = "system:serviceaccount:"
    if user and user.startswith(prefix) and user.count(":") == 3:
        return f"--serviceaccount {user.removeprefix(prefix)}"
    return f"--user {user}" if user else "--user <the user of this context>"


def missing_error(context: str, namespace: str, missing: Sequence[tuple[Capability, Permission]], *,
                  user: str | None, rbac: Path) -> PermissionMissingError:
    """The error naming every missing permission, what the run needs it for, and how it is granted."""
    by_purpose: dict[str, list[str]] = {}
    for capability, permission in missing:
        by_purpose.setdefault(capability.purpose, []).append(str(permission))
    listed = "; ".join(f"for {purpose}: {', '.join(perms)}" for purpose, perms in by_purpose.items())
    who = f" ({user})" if user else ""
    problem = (f"context {context}: its credentials{who} lack {len(missing)} permission(s) this run needs, found "
               f"with SelfSubjectAccessReviews (namespaced ones in the run's namespace {namespace}) before any "
               f"change: {listed}")
    roles = list(dict.fromkeys(c.role for c, _ in missing))
    extra = [p for c, p in missing if not _granted_by_shipped(p, c.role)]
    steps = [f"kubectl apply -f {rbac / ROLES[role]} && kubectl create clusterrolebinding "
             f"{role}-{_binding_suffix(user)} --clusterrole {role} {_bind_flag(user)}" for role in roles]
    fix = "an administrator of the cluster grants them: " + "; ".join(steps)
    if extra:
        fix += (f"; the shipped ClusterRole {WORKLOAD_ROLE} does not hold {', '.join(map(str, extra))}: add "
                f"these rules to {rbac / ROLES[WORKLOAD_ROLE]} first")
    fix += f" (what each role grants: {rbac / 'README.md'})"
    return PermissionMissingError(problem, fix)


def _binding_suffix(user: str | None) -> str:
    tail = (user or "user").rsplit(":", 1)[-1]
    cleaned = "".join(ch if ch.isalnum() or ch == "-" else "-" for ch in tail.lower()).strip("-")
    return cleaned[:30] or "user"


Ask = Callable[[Permission, str | None], bool]


def find_missing(needed: Sequence[Capability], ask: Ask, namespace: str) -> list[tuple[Capability, Permission]]:
    """Every needed permission ``ask`` denies (each asked once), with the capability that needs it."""
    answers: dict[Permission, bool] = {}
    missing: list[tuple[Capability, Permission]] = []
    for capability in needed:
        for permission in capability.permissions:
            if permission not in answers:
                answers[permission] = ask(permission, namespace if permission.namespaced else None)
                if not answers[permission]:
                    missing.append((capability, permission))
    return missing


def _ssar_ask(api: client.ApiClient) -> Ask:
    authz = client.AuthorizationV1Api(api)

    def ask(permission: Permission, namespace: str | None) -> bool:
        resource, _, sub = permission.resource.partition("/")
        body = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=client.V1ResourceAttributes(
                verb=permission.verb, group=permission.group, resource=resource, subresource=sub or None,
                namespace=namespace)))
        review = call(authz.create_self_subject_access_review, body, what=f"ask whether it may {permission}")
        return bool(review.status.allowed)

    return ask


def _who_am_i(api: client.ApiClient) -> str | None:
    """The user name the API server sees for these credentials (None when it does not say)."""
    try:
        review = call(client.AuthenticationV1Api(api).create_self_subject_review,
                      client.V1SelfSubjectReview(), what="ask who these credentials are", retry_s=10)
    except ApiError:
        return None
    info = review.status.user_info if review.status is not None else None
    return str(info.username) if info is not None and info.username else None


def check_access(api: client.ApiClient, *, context: str, namespace: str, actions: Iterable[str],
                 workload_kind: str, objects: Sequence[K8sObject]) -> None:
    """Raise PermissionMissingError unless the context's credentials may do all a run of these steps
    does; ``namespace`` is the one the run is about to create."""
    needed = required(actions, workload_kind, objects)
    try:
        missing = find_missing(needed, _ssar_ask(api), namespace)
    except ApiError as exc:
        raise PermissionMissingError(
            f"context {context}: cannot check the run's permissions with SelfSubjectAccessReviews: {exc.problem}",
            "let the credentials create selfsubjectaccessreviews.authorization.k8s.io (every authenticated "
            "user may, through the system:basic-user ClusterRole), or check the cluster answers") from exc
    if missing:
        raise missing_error(context, namespace, missing, user=_who_am_i(api), rbac=rbac_dir())
    count = sum(len(c.permissions) for c in needed)
    log.info("context %s: the credentials hold all %d permissions this run needs", context, count)


def check_run_access(api: client.ApiClient, target: Target, namespace: str, scenario: Scenario,
                     rendered: Sequence[K8sObject]) -> None:
    """The run's preflight on a context the harness did not create (its own clusters are skipped:
    the harness holds cluster-admin there)."""
    if target.owned:
        return
    workload, _ = find_workload(list(rendered))
    check_access(api, context=target.context, namespace=namespace, actions=[s.action for s in scenario.steps],
                 workload_kind=str(workload.get("kind") or "Deployment"), objects=rendered)
