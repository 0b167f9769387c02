"""rollout-harness: prove that a Kubernetes service loses no request while it is disrupted."""

__version__ = "0.1.0"

__all__ = ["__version__"]
