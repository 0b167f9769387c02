"""The YAML reader every user-written file goes through: limits, and errors that name the place."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError, ScenarioError
from harness.safe_yaml import MAX_DEPTH, parse_yaml, read_yaml, shorten


def test_documents_keep_their_first_line_and_skip_empty_ones() -> None:
    docs = parse_yaml("# head\na: 1\n---\n---\n- x\n", "f.yaml", error=ConfigError)
    assert [(d.data, d.line) for d in docs] == [({"a": 1}, 2), (["x"], 5)]


def test_the_caller_chooses_the_error_class() -> None:
    with pytest.raises(ScenarioError, match=r"^s\.yaml:1:5: YAML syntax error"):
        parse_yaml("a: [", "s.yaml", error=ScenarioError)


def test_nesting_up_to_the_limit_is_fine_and_beyond_it_is_not() -> None:
    deep = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert parse_yaml(deep, "f", error=ConfigError)[0].line == 1
    with pytest.raises(ConfigError, match=f"nested more than {MAX_DEPTH} levels"):
        parse_yaml("[" + deep + "]", "f", error=ConfigError)


def test_anchors_count_what_they_expand_to() -> None:
    few = "a: &a [1, 2]\nb: [*a, *a, *a]\n"
    assert parse_yaml(few, "f", error=ConfigError)[0].data == {"a": [1, 2], "b": [[1, 2]] * 3}
    # Anchors belong to their document: the same name in the next one is a new anchor.
    two = "a: &a [1]\n---\nb: &a [2]\nc: *a\n"
    assert parse_yaml(two, "f", error=ConfigError)[1].data == {"b": [2], "c": [2]}


def test_duplicate_keys_name_both_lines() -> None:
    with pytest.raises(ConfigError) as info:
        parse_yaml("a:\n  x: 1\n  y: 2\n  x: 3\n", "f.yaml", error=ConfigError)
    assert "f.yaml:4:3: YAML syntax error: key 'x' appears twice in this mapping (first at line 2)" in str(info.value)
    assert info.value.fix == "keep one of the two keys"


def test_control_characters_are_located() -> None:
    with pytest.raises(ConfigError, match=r"f:2:4: character #x0007"):
        parse_yaml("a: 1\nb: \x07\n", "f", error=ConfigError)


def test_unreadable_paths(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        read_yaml(tmp_path / "absent.yaml", error=ConfigError)
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * 200 + "\n")
    with pytest.raises(ConfigError, match=r"big\.yaml: 204 bytes, more than the 100"):
        read_yaml(big, error=ConfigError, max_bytes=100)


def test_shorten_cuts_long_reprs() -> None:
    assert shorten("abc") == "'abc'"
    cut = shorten("x" * 500)
    assert len(cut) == 60 and cut.endswith("...")
