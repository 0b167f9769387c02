"""Why a run's requests failed and what to change: each failed request tied to a mechanism from the
evidence, each mechanism to the setting that removes it, with the run's own numbers.

``harness.diagnosis.diagnose.diagnose`` makes one; this package's top level holds only the data, so
the verdict's model can carry it without importing the rules."""

from harness.diagnosis.model import Diagnosis, Finding, Mechanism, PodTimeline, Recommendation

__all__ = ["Diagnosis", "Finding", "Mechanism", "PodTimeline", "Recommendation"]
