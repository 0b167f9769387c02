"""What the harness process checks of a scenario's ``traffic.locustfile`` before any cluster work.

The file is read, never imported, here: it is the user's code and imports Locust (which patches the
whole process with gevent), so only the traffic process runs it. What can be known without running
it is checked: the file exists, is Python, and defines a class that subclasses ``RecordedUser``
(harness.traffic.user, documented there), directly by that name.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.scenario import Scenario

__all__ = ["BASE_CLASS", "locustfile_problems", "user_classes"]

BASE_CLASS = "RecordedUser"
MAX_BYTES = 1_000_000

_Problem = tuple[tuple[str | int, ...], Any, str]


def user_classes(source: str, filename: str = "<locustfile>") -> list[str]:
    """The classes of ``source`` that name RecordedUser among their bases. Raises SyntaxError."""
    tree = ast.parse(source, filename=filename)
    found: list[str] = []
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        for base in node.bases:
            name = base.attr if isinstance(base, ast.Attribute) else base.id if isinstance(base, ast.Name) else None
            if name == BASE_CLASS:
                found.append(node.name)
                break
    return found


def _problem(path: Path) -> str | None:
    if not path.is_file():
        return f"{path} does not exist or is not a file"
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"{path} cannot be read: {exc.strerror}"
    if len(data) > MAX_BYTES:
        return f"{path} holds {len(data):,} bytes, more than a locustfile's {MAX_BYTES:,}"
    try:
        classes = user_classes(data.decode("utf-8"), str(path))
    except (SyntaxError, UnicodeDecodeError, ValueError) as exc:
        return f"{path} is not Python the harness can read: {exc}"
    if not classes:
        return (f"{path} defines no user class that subclasses {BASE_CLASS}; write `from harness.traffic.user "
                f"import {BASE_CLASS}` and `class MyUser({BASE_CLASS}):` with tasks that call self.request(...)")
    return None


def locustfile_problems(scenario: Scenario) -> Iterator[_Problem]:
    """What a locustfile needs of its file and of the rest of the scenario."""
    traffic = scenario.traffic
    if traffic.locustfile is None:
        return
    if traffic.requests is not None:
        yield (("traffic", "requests"), "...", "traffic.requests and traffic.locustfile both say what to send; "
               "keep one (the locustfile's users can send the same requests with self.request)")
    if traffic.model != "closed":
        yield (("traffic", "model"), traffic.model, "a locustfile's users wait for each answer (closed loop): "
               "set traffic.model: closed, or leave it out")
    problem = _problem(scenario.resolve(traffic.locustfile))
    if problem is not None:
        yield (("traffic", "locustfile"), traffic.locustfile,
               f"{problem} (paths are relative to the scenario file's directory)")
