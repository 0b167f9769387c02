"""The sample service's image: a static Go binary in a ``FROM scratch`` image, built with no pull."""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.cluster import docker
from harness.errors import ConfigError, ImageBuildError
from harness.log import get_logger
from harness.shell import require_tool, run_step

__all__ = ["SAMPLE_REPOSITORY", "BuiltImage", "build_sample_image", "sample_service_dir", "sample_version"]

log = get_logger(__name__)

SAMPLE_REPOSITORY = "rollout-harness/sample-service"
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class BuiltImage:
    ref: str
    version: str
    image_id: str


def sample_service_dir() -> Path:
    """The sample service's source: next to the package in a checkout, or under the working directory."""
    for candidate in (Path(__file__).resolve().parents[1] / "sample-service", Path.cwd() / "sample-service"):
        if (candidate / "go.mod").is_file():
            return candidate
    raise ConfigError(
        "the sample service source (sample-service/go.mod) was not found",
        "run the harness from a checkout of rollout-harness, or pass --source DIR",
    )


def sample_version(source: Path) -> str:
    return (source / "VERSION").read_text().strip()


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
    go = require_tool("go", "install Go >= 1.24 (https://go.dev/dl)")
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
