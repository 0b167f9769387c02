"""The central logger. Library modules call ``get_logger(__name__)``; only the CLI configures output."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler

__all__ = ["console", "get_logger", "setup_logging"]

ROOT = "harness"

# Progress and summaries go to stderr so that stdout stays clean for machine-readable output.
console = Console(stderr=True)


def get_logger(name: str) -> logging.Logger:
    if name != ROOT and not name.startswith(ROOT + "."):
        name = f"{ROOT}.{name}"
    return logging.getLogger(name)


def setup_logging(verbose: int = 0) -> None:
    level = logging.DEBUG if verbose > 0 else logging.INFO
    handler: logging.Handler
    if console.is_terminal:
        handler = RichHandler(console=console, show_path=False, markup=False, rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(message)s", datefmt="[%X]"))
    else:
        # Without a terminal (CI) one record is one line: rich would wrap it at 80 columns.
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S"))
    root = logging.getLogger(ROOT)
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    # The kubernetes client logs every retry at WARNING; the harness reports what matters itself.
    logging.getLogger("urllib3").setLevel(logging.ERROR)
