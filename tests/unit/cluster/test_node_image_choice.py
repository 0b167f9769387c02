"""`--node-image auto` takes a stock image only when it runs the Kubernetes version asked for."""

from __future__ import annotations

import pytest

from harness.cluster import lifecycle
from harness.cluster.versions import DEFAULT_K8S_VERSION, STOCK_K8S_VERSION, STOCK_NODE_IMAGE
from harness.errors import ConfigError


class _Built:
    ref = "rollout-harness/kind-node:built"


@pytest.fixture
def no_cache(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    pulls: list[str] = []

    def pull(ref: str) -> bool:
        pulls.append(ref)
        return True

    monkeypatch.setattr(lifecycle, "_try_pull", pull)
    monkeypatch.setattr(lifecycle.docker, "image_labels", lambda ref: {})
    monkeypatch.setattr(lifecycle, "build_image", lambda version, force=False: _Built())
    return pulls


def test_auto_builds_when_the_stock_image_runs_another_version(no_cache: list[str]) -> None:
    assert DEFAULT_K8S_VERSION != STOCK_K8S_VERSION
    ref, own = lifecycle.resolve_node_image(DEFAULT_K8S_VERSION, "auto")
    assert (ref, own) == (_Built.ref, True)
    assert no_cache == [], "a stock image of another Kubernetes version must not even be pulled"


def test_auto_uses_the_stock_image_of_the_version_asked_for(no_cache: list[str]) -> None:
    ref, own = lifecycle.resolve_node_image(STOCK_K8S_VERSION, "auto")
    assert (ref, own) == (STOCK_NODE_IMAGE, False)
    assert no_cache == [STOCK_NODE_IMAGE]


def test_stock_refuses_another_version(no_cache: list[str]) -> None:
    with pytest.raises(ConfigError, match=STOCK_K8S_VERSION):
        lifecycle.resolve_node_image(DEFAULT_K8S_VERSION, "stock")
    assert no_cache == []
