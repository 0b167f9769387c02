#!/usr/bin/env bash
# Build the example's image: go-httpbin, an open-source HTTP server, fetched by module path and
# version through the Go module proxy and compiled into a static binary in a FROM scratch image.
# Usage: examples/go-httpbin/build.sh [IMAGE]   (default: the image the manifests name)
set -euo pipefail

MODULE=github.com/mccutchen/go-httpbin/v2/cmd/go-httpbin
VERSION=v2.26.0
IMAGE=${1:-rollout-harness-examples/go-httpbin:${VERSION}}

if [ "$(go env GOHOSTOS)/$(go env GOHOSTARCH)" != linux/amd64 ]; then
  echo "build.sh compiles for the host, which must be linux/amd64 like the kind nodes" >&2
  exit 1
fi

here=$(cd "$(dirname "$0")" && pwd)
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT

# A GOPATH of its own, so the build neither reads nor fills the user's module cache; go install
# refuses GOBIN for a cross build, so GOOS and GOARCH are the host's (the kind nodes run linux/amd64).
GOPATH="$context/gopath" GOBIN="$context/bin" GOFLAGS=-modcacherw CGO_ENABLED=0 \
  go install -trimpath -ldflags "-s -w" "${MODULE}@${VERSION}"
cp "$here/Dockerfile" "$context/Dockerfile"
# The classic builder: FROM scratch then needs no registry at all.
if ! output=$(DOCKER_BUILDKIT=0 docker build -q -t "$IMAGE" "$context" 2>&1); then
  echo "$output" >&2
  exit 1
fi
echo "$IMAGE"
