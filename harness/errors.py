"""One root exception, specific leaves.

Every error the harness raises on purpose carries a ``fix``: the sentence a user needs to act on it.
The CLI prints ``problem`` and ``fix`` and exits non-zero, never a traceback.
"""

from __future__ import annotations

__all__ = [
    "ApiConflictError",
    "ApiError",
    "ApiNotFoundError",
    "ApiRequestError",
    "ApiTooManyRequestsError",
    "ApiUnavailableError",
    "ClusterError",
    "ConfigError",
    "ContextRefusedError",
    "DisruptionError",
    "HarnessError",
    "ImageBuildError",
    "ManifestError",
    "NodeImageBuildError",
    "ObserverError",
    "PermissionMissingError",
    "PrerequisiteMissingError",
    "RolloutError",
    "ScenarioError",
    "ScopeError",
    "TrafficError",
    "WorkloadError",
]


class HarnessError(Exception):
    """Root of every error the harness raises on purpose."""

    exit_code = 2

    def __init__(self, problem: str, fix: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.problem}\n  fix: {self.fix}" if self.fix else self.problem


class ConfigError(HarnessError):
    """A setting or argument is invalid."""


class ScenarioError(ConfigError):
    """A scenario file is unreadable or does not validate."""


class ManifestError(ConfigError):
    """A manifest directory is unreadable or malformed."""


class ScopeError(ManifestError):
    """The manifests hold objects a run would not confine to its namespace or clean up."""


class PrerequisiteMissingError(HarnessError):
    """A tool the harness needs (docker, go, kind, ...) is missing or not working."""


class ImageBuildError(HarnessError):
    """Building a container image failed."""


class NodeImageBuildError(ImageBuildError):
    """A step of the registry-free kind node image build failed."""


class ClusterError(HarnessError):
    """The kind cluster could not be created, reached or removed."""


class ApiError(ClusterError):
    """A call to the Kubernetes API failed; ``status`` is the HTTP status when there was an answer."""

    def __init__(self, problem: str, fix: str = "", *, status: int | None = None) -> None:
        super().__init__(problem, fix)
        self.status = status


class ApiUnavailableError(ApiError):
    """The API server did not answer within the retry budget."""


class ApiNotFoundError(ApiError):
    """The object does not exist (404)."""


class ApiConflictError(ApiError):
    """The object changed or already exists (409)."""


class ApiTooManyRequestsError(ApiError):
    """The API refused for now (429), e.g. an eviction a PodDisruptionBudget blocks."""


class ApiRequestError(ApiError):
    """The API answered with any other error status."""


class ContextRefusedError(HarnessError):
    """The harness will not disrupt a kube context it did not create unless it is named explicitly."""


class PermissionMissingError(ContextRefusedError):
    """The named context's credentials lack permissions the run needs there (RBAC), found before any change."""


class WorkloadError(HarnessError):
    """Deploying the workload under test failed."""


class RolloutError(WorkloadError):
    """A rollout failed (ProgressDeadlineExceeded) or did not finish in time."""


class DisruptionError(HarnessError):
    """A disruption step could not be carried out."""


class TrafficError(HarnessError):
    """The traffic process failed or could not be started."""


class ObserverError(HarnessError):
    """An observer lost events it could not recover."""
