"""The sample service's image: a static Go binary in a ``FROM scratch`` image, built with no pull."""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.builtin import builtin_root
from harness.cluster import docker
from harness.errors import ConfigError, ImageBuildError, PrerequisiteMissingError
from harness.log import get_logger
from harness.shell import run_step

__all__ = [
    "SAMPLE_REPOSITORY",
    "BuiltImage",
    "build_sample_image",
    "go_requirement",
    "sample_service_dir",
    "sample_version",
]

log = get_logger(__name__)

SAMPLE_REPOSITORY = "rollout-harness/sample-service"
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class BuiltImage:
    ref: str
    version: str
    image_id: str


def sample_service_dir() -> Path:
    """The sample service's source, as it ships with the harness (the checkout's own in a checkout)."""
    source = builtin_root() / "sample-service"
    if not (source / "go.mod").is_file():
        raise ConfigError(
            f"the sample service source was not found: {source / 'go.mod'} does not exist",
            "reinstall rollout-harness from a wheel built with its setup.py (`pip install .` in a checkout), "
            "or pass --source DIR",
        )
    return source


def sample_version(source: Path) -> str:
    return (source / "VERSION").read_text().strip()


def go_requirement(source: Path) -> str:
    """The Go version the sample service's go.mod asks for (its ``go`` directive), or "" if none."""
    try:
        text = (source / "go.mod").read_text(encoding="utf-8")
    except OSError:
        return ""
    found = re.search(r"^go\s+(\S+)\s*$", text, re.MULTILINE)
    return found.group(1) if found else ""


def _go_tool(source: Path) -> str:
    """The `go` command; building the sample service's image is the one thing that needs Go."""
    wanted = go_requirement(source)
    at_least = f" >= {wanted}" if wanted else ""
    go = shutil.which("go")
    if go is None:
        raise PrerequisiteMissingError(
            f"Go{at_least} is a prerequisite of the sample service's image (it is compiled from "
            f"{source} for every run whose target.image is \"sample\"), and `go` is not on PATH",
            f"install Go{at_least} (https://go.dev/dl) and put its bin directory on PATH, or set target.image "
            "to an image you built",
        )
    return go


def build_sample_image(version: str | None = None, source: Path | None = None) -> BuiltImage:
    """Build ``rollout-harness/sample-service:<version>``; the version is compiled into the binary."""
    source = source or sample_service_dir()
    version = version or sample_version(source)
    if version == "latest" or not _VERSION_RE.match(version):
        raise ConfigError(
            f"image version {version!r} is not allowed",
            "use a version such as 0.1.0 or 0.1.0-b (letters, digits, '.', '_', '-'; never 'latest')",
        )
    docker.docker_available()
    go = _go_tool(source)
    ref = f"{SAMPLE_REPOSITORY}:{version}"
    with tempfile.TemporaryDirectory(prefix="rh-sample-") as tmp:
        context = Path(tmp)
        (context / "bin").mkdir()
        run_step(
            "build sample-service binary",
            [go, "build", "-trimpath", "-ldflags", f"-s -w -X main.version={version}",
             "-o", str(context / "bin" / "sample-service"), "."],
            error=ImageBuildError, fix="fix the Go build error above (go vet ./... in sample-service/)",
            cwd=source, env={"CGO_ENABLED": "0", "GOOS": "linux", "GOARCH": "amd64"},
        )
        (context / "Dockerfile").write_text((source / "Dockerfile").read_text())
        run_step(
            f"docker build {ref}", ["docker", "build", "-q", "-t", ref, str(context)],
            error=ImageBuildError, fix="check that the Docker engine runs and has free disk space",
            env={"DOCKER_BUILDKIT": "0"},
        )
    data = docker.inspect(ref)
    if data is None:
        raise ImageBuildError(f"{ref} is missing right after its build", "check the Docker engine")
    log.info("built %s (%s)", ref, str(data["Id"])[:19])
    return BuiltImage(ref=ref, version=version, image_id=str(data["Id"]))
