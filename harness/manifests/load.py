"""Reading a variant directory into Kubernetes objects, with errors that point at the file and line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ManifestError
from harness.safe_yaml import read_yaml, shorten

__all__ = ["K8sObject", "ManifestDocument", "load_documents", "load_manifests", "object_ref"]

K8sObject = dict[str, Any]

_SUFFIXES = (".yaml", ".yml")
_REF_PART = 80


@dataclass(frozen=True, slots=True)
class ManifestDocument:
    """One object and where it came from, so that findings and errors can point back at it."""

    obj: K8sObject
    path: Path | None = None
    line: int | None = None  # 1-based line of the document's first node

    @property
    def location(self) -> str | None:
        if self.path is None:
            return None
        return f"{self.path}:{self.line}" if self.line is not None else str(self.path)


def object_ref(obj: K8sObject) -> str:
    """``Kind/name``, the way kubectl names an object (cut short when either is absurdly long)."""
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return f"{_part(obj.get('kind'))}/{_part(name)}"


def _part(value: Any) -> str:
    if not value:
        return "?"
    text = value if isinstance(value, str) else shorten(value)
    return text if len(text) <= _REF_PART else text[: _REF_PART - 3] + "..."


def load_manifests(directory: Path) -> list[K8sObject]:
    """Every object in ``directory``'s *.yaml and *.yml files: files in name order, then document order."""
    return [doc.obj for doc in load_documents(directory)]


def load_documents(directory: Path) -> list[ManifestDocument]:
    """Like :func:`load_manifests`, keeping each object's file and line."""
    files = _manifest_files(directory)
    documents: list[ManifestDocument] = []
    seen: dict[tuple[str, str], ManifestDocument] = {}
    for path in files:
        for doc in _read_file(path):
            key = (str(doc.obj["kind"]), str(doc.obj["metadata"]["name"]))
            if key in seen:
                raise ManifestError(
                    f"{doc.location}: {object_ref(doc.obj)} is defined twice (first at {seen[key].location})",
                    "keep one definition per object in a variant directory; the later one would silently "
                    "replace the earlier when applied",
                )
            seen[key] = doc
            documents.append(doc)
    if not documents:
        raise ManifestError(
            f"{directory}: the *.yaml files hold no Kubernetes objects (every document is empty)",
            "add the variant's Deployment and Service to the directory",
        )
    return documents


def _manifest_files(directory: Path) -> list[Path]:
    if not directory.exists():
        raise ManifestError(
            f"manifest directory {directory} does not exist",
            "pass a directory of *.yaml files, such as manifests/sample-service",
        )
    if not directory.is_dir():
        raise ManifestError(
            f"{directory} is a file, not a manifest directory",
            f"pass the directory that holds it ({directory.parent}); every *.yaml file there is loaded",
        )
    # Dot files are editor backups and lock files, never part of a variant.
    files = sorted(
        p for p in directory.iterdir()
        if p.is_file() and p.suffix in _SUFFIXES and not p.name.startswith(".")
    )
    if not files:
        raise ManifestError(
            f"manifest directory {directory} holds no *.yaml or *.yml files",
            "put the variant's Kubernetes objects in *.yaml files in that directory",
        )
    return files


def _read_file(path: Path) -> list[ManifestDocument]:
    return [_validate(doc.data, path, doc.line) for doc in read_yaml(path, error=ManifestError)]


def _validate(data: Any, path: Path, line: int | None) -> ManifestDocument:
    where = f"{path}:{line}" if line is not None else str(path)
    if not isinstance(data, dict):
        raise ManifestError(
            f"{where}: the document is a {type(data).__name__}, not a Kubernetes object",
            "each YAML document must be a mapping with apiVersion, kind and metadata.name",
        )
    missing = [key for key in ("apiVersion", "kind") if not data.get(key)]
    if missing:
        raise ManifestError(
            f"{where}: the document has no {' or '.join(missing)}",
            "give every document apiVersion and kind (for example apiVersion: apps/v1, kind: Deployment)",
        )
    wrong = [f"{key} {shorten(data[key])}" for key in ("apiVersion", "kind") if not isinstance(data[key], str)]
    if wrong:
        raise ManifestError(
            f"{where}: {' and '.join(wrong)} is not a string",
            "write apiVersion and kind as plain words (for example apiVersion: apps/v1, kind: Deployment)",
        )
    kind = _part(data["kind"])
    metadata = data.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise ManifestError(
            f"{where}: the {kind}'s metadata is a {type(metadata).__name__}, not a mapping",
            "write metadata as a mapping holding name (and labels)",
        )
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if name is None or name == "":
        raise ManifestError(
            f"{where}: the {kind} has no metadata.name",
            "set metadata.name; the harness addresses objects by kind and name",
        )
    if not isinstance(name, str):
        raise ManifestError(
            f"{where}: the {kind}'s metadata.name {shorten(name)} is not a string",
            "write metadata.name as a lowercase name, such as sample-service (quote it if YAML reads it as a "
            "number or a boolean)",
        )
    return ManifestDocument(obj=data, path=path, line=line)
