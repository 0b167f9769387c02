from __future__ import annotations

import pytest

from harness.manifests import parse_go_duration, resolve_fenceposts, scaled_value


@pytest.mark.parametrize(
    ("value", "total", "down", "up"),
    [
        (1, 3, 1, 1),
        (0, 3, 0, 0),
        ("25%", 3, 0, 1),  # 0.75
        ("25%", 4, 1, 1),  # exact
        ("33%", 3, 0, 1),  # 0.99
        ("34%", 3, 1, 2),  # 1.02
        ("50%", 1, 0, 1),
        ("100%", 3, 3, 3),
        ("0%", 3, 0, 0),
        ("1%", 0, 0, 0),
        ("150%", 2, 3, 3),
    ],
)
def test_scaled_value_rounds_like_kubernetes(value: int | str, total: int, down: int, up: int) -> None:
    assert scaled_value(value, total, round_up=False) == down
    assert scaled_value(value, total, round_up=True) == up


@pytest.mark.parametrize("value", ["3", "25", "%", "25 %", "-1%", -1, True, 2.5, None])
def test_scaled_value_rejects_what_kubernetes_rejects(value: object) -> None:
    with pytest.raises(ValueError):
        scaled_value(value, 3, round_up=True)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable", "expected"),
    [
        (3, 1, 0, (1, 0)),
        (3, "25%", "25%", (1, 0)),  # the Kubernetes defaults on 3 replicas
        (4, "25%", "25%", (1, 1)),
        (3, 0, "25%", (0, 1)),  # both resolve to 0: the controller lets one pod go
        (1, 0, "50%", (0, 1)),
        (3, 0, "100%", (0, 3)),
    ],
)
def test_resolve_fenceposts(
    replicas: int, surge: int | str, unavailable: int | str, expected: tuple[int, int]
) -> None:
    assert resolve_fenceposts(replicas, surge, unavailable) == expected


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0),
        ("5s", 5.0),
        ("500ms", 0.5),
        ("1m30s", 90.0),
        ("1.5s", 1.5),
        ("2h", 7200.0),
        ("10us", 1e-5),
        ("+3s", 3.0),
        ("-3s", -3.0),
    ],
)
def test_parse_go_duration(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "5 s", "s", "5x", "1d", "five seconds", "-"])
def test_parse_go_duration_rejects_what_go_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_go_duration(text)
