"""What the manifest lint reports: one finding per problem, with where it is and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Finding", "Severity"]


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    # The manifests cannot show whether the problem exists (it lies in the process, not the objects);
    # a run decides it.
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: what is wrong, where, and the change that removes it."""

    severity: Severity
    rule: str  # a stable short name, such as "grace-period"
    object: str  # "Deployment/sample-service"
    problem: str
    fix: str
    file: str | None = None  # "path:line" of the object's document, when it came from a file
    # The API server refuses the object as written, so a run could not even deploy it; the other
    # errors deploy and then lose requests.
    api_rejects: bool = False
