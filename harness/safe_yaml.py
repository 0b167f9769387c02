"""Reading YAML that a user wrote, with limits: every way a file can be malformed becomes one error
that names the file, the line and what is wrong, never an exception from the parser's insides.

PyYAML alone accepts duplicate keys (the last one silently wins), recurses once per nesting level
(a deep enough file exhausts the interpreter's stack) and follows aliases without bound (a few lines
of anchors expand to billions of values). Each is refused here before any value is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ConfigError

__all__ = ["MAX_DEPTH", "MAX_VALUES", "YamlDocument", "parse_yaml", "read_yaml", "shorten"]

MAX_DEPTH = 64  # nesting levels; Kubernetes objects and scenarios stay well below 20
MAX_VALUES = 100_000  # scalars and collections of one file once its aliases are expanded
_SHOWN = 60  # characters of a value quoted in a message


@dataclass(frozen=True, slots=True)
class YamlDocument:
    data: Any
    line: int  # 1-based line of the document's first node


def shorten(value: Any, limit: int = _SHOWN) -> str:
    """``repr(value)`` cut to ``limit`` characters, so a message stays short whatever the input."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _StrictLoader(yaml.SafeLoader):
    """The safe loader, refusing a key that appears twice in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # "<<" merges may override keys; that is their purpose
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                continue  # an unhashable key: the base class names it
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None, None,
                    f"key {shorten(key)} appears twice in this mapping (first at line {first.start_mark.line + 1}); "
                    "YAML would silently keep only the last",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path, *, error: type[ConfigError], max_bytes: int = 1_048_576) -> list[YamlDocument]:
    """The non-empty documents of a YAML file. Raises ``error`` for anything but readable, sane YAML."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise error(f"{path}: {size} bytes, more than the {max_bytes} a file of this kind may have",
                        "check that this is the file you meant; a manifest or scenario is a few KB")
        raw = path.read_bytes()
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror or exc}", "check the path and the file's permissions") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise error(f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
                    "save the file as UTF-8 text") from None
    return parse_yaml(text, str(path), error=error)


def parse_yaml(text: str, where: str, *, error: type[ConfigError]) -> list[YamlDocument]:
    """Like :func:`read_yaml` for text already in memory; ``where`` names it in messages."""
    try:
        _check_shape(text, where, error)
        return _construct(text)
    except yaml.reader.ReaderError as exc:
        line, column = _line_column(text, exc.position)
        raise error(f"{where}:{line}:{column}: character #x{exc.character:04x} is not allowed in YAML text",
                    "remove it: YAML allows no control characters except tab and newline") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f"{where}:{mark.line + 1}:{mark.column + 1}" if mark is not None else where
        what = exc.problem or exc.context or "invalid YAML"
        fix = ("keep one of the two keys" if "appears twice" in what else
               "fix the YAML there: check the indentation, a missing ':' or an unquoted value containing ': '")
        raise error(f"{at}: YAML syntax error: {_cut(what)}", fix) from None
    except yaml.YAMLError as exc:
        raise error(f"{where}: YAML error: {_cut(str(exc))}", "fix the file's YAML") from None


def _construct(text: str) -> list[YamlDocument]:
    documents: list[YamlDocument] = []
    loader = _StrictLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            data = loader.construct_document(node)
            if data is not None:  # an empty document, such as a trailing "---"
                documents.append(YamlDocument(data=data, line=node.start_mark.line + 1))
    finally:
        loader.dispose()
    return documents


def _check_shape(text: str, where: str, error: type[ConfigError]) -> None:
    """Depth, alias targets and expanded size from the parser's events, which need no recursion.

    Each anchor's expanded size is known once its node ends, so an alias costs what its anchor holds,
    and the whole file's size is counted without building anything.
    """
    sizes: dict[str, int] = {}
    stack: list[tuple[str | None, int]] = []  # (anchor, values so far) of each open collection
    total = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.DocumentStartEvent):
            sizes.clear()  # anchors belong to one document
            continue
        count = 0
        if isinstance(event, yaml.CollectionStartEvent):
            stack.append((event.anchor, 1))
            if len(stack) > MAX_DEPTH:
                raise error(f"{where}:{_line(event)}: nested more than {MAX_DEPTH} levels deep",
                            "flatten the structure; no field of this file nests that deep")
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            anchor, count = stack.pop()
            if anchor is not None:
                sizes[anchor] = count
        elif isinstance(event, yaml.ScalarEvent):
            count = 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.AliasEvent):
            if any(anchor == event.anchor for anchor, _ in stack):
                raise error(f"{where}:{_line(event)}: alias *{_cut(event.anchor or '')} refers to a "
                            "value that contains it, which never ends", "write the value out instead of the alias")
            count = sizes.get(event.anchor or "", 1)  # an unknown anchor: the composer names it
        else:
            continue
        if stack:
            anchor, so_far = stack[-1]
            stack[-1] = (anchor, so_far + count)
        else:
            total += count
        if total + sum(n for _, n in stack) > MAX_VALUES:
            raise error(f"{where}:{_line(event)}: the file expands to more than {MAX_VALUES} values "
                        "(aliases repeat everything their anchor holds)",
                        "write the values out, without anchors and aliases that multiply them")


def _line(event: yaml.Event) -> int:
    return event.start_mark.line + 1 if event.start_mark is not None else 1


def _line_column(text: str, position: int) -> tuple[int, int]:
    line = text.count("\n", 0, position) + 1
    return line, position - (text.rfind("\n", 0, position) + 1) + 1


def _cut(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
