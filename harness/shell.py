"""Running external tools (docker, go, kind, debootstrap) as named steps.

A failed step raises the error type the caller chose, naming the step, the command's last output
lines and the fix, so a user never sees a bare CalledProcessError.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.errors import HarnessError, PrerequisiteMissingError
from harness.log import get_logger

__all__ = ["require_tool", "run_step"]

log = get_logger(__name__)

_TAIL_LINES = 25


def require_tool(name: str, fix: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise PrerequisiteMissingError(f"`{name}` was not found on PATH", fix)
    return path


def run_step(
    step: str,
    cmd: Sequence[str | os.PathLike[str]],
    *,
    error: type[HarnessError] = HarnessError,
    fix: str = "",
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input_bytes: bytes | None = None,
    log_file: Path | None = None,
    timeout: float | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run one command of a named step; capture its output, to ``log_file`` when given."""
    argv = [os.fspath(c) for c in cmd]
    log.debug("%s: %s", step, " ".join(argv))
    full_env = None if env is None else {**os.environ, **env}
    try:
        if log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            with log_file.open("ab") as fh:
                fh.write(f"$ {' '.join(argv)}\n".encode())
                fh.flush()
                proc = subprocess.run(
                    argv, cwd=cwd, env=full_env, input=input_bytes, stdout=fh,
                    stderr=subprocess.STDOUT, timeout=timeout, check=False,
                )
            proc = subprocess.CompletedProcess(argv, proc.returncode, _tail(log_file), b"")
        else:
            proc = subprocess.run(
                argv, cwd=cwd, env=full_env, input=input_bytes, capture_output=True,
                timeout=timeout, check=False,
            )
    except FileNotFoundError as exc:
        raise PrerequisiteMissingError(f"{step}: `{argv[0]}` is not installed", fix or f"install {argv[0]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise error(f"{step}: `{' '.join(argv[:3])}` did not finish within {timeout:.0f} s", fix) from exc
    if check and proc.returncode != 0:
        output = (proc.stdout or b"") + (proc.stderr or b"")
        tail = "\n".join(output.decode(errors="replace").splitlines()[-_TAIL_LINES:])
        where = f" (full log: {log_file})" if log_file is not None else ""
        raise error(f"{step} failed with exit code {proc.returncode}{where}:\n{tail}", fix)
    return proc


def _tail(path: Path, limit: int = 64 * 1024) -> bytes:
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - limit))
        return fh.read()
