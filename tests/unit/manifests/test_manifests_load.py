from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ManifestError
from harness.manifests import load_documents, load_manifests, object_ref

REPO = Path(__file__).resolve().parents[3]
DATA = Path(__file__).parents[1] / "data" / "manifests"


def test_graceful_variant_loads_deployment_service_and_budget() -> None:
    objects = load_manifests(REPO / "manifests" / "sample-service")
    refs = sorted(object_ref(o) for o in objects)
    assert refs == [
        "Deployment/sample-service",
        "PodDisruptionBudget/sample-service",
        "Service/sample-service",
    ]


def test_variants_declare_no_namespace() -> None:
    for variant in ("sample-service", "sample-service-naive"):
        for obj in load_manifests(REPO / "manifests" / variant):
            assert "namespace" not in obj["metadata"], object_ref(obj)


def test_multi_document_files_in_name_order_skip_empty_and_hidden() -> None:
    names = [o["metadata"]["name"] for o in load_manifests(DATA / "multi-doc")]
    assert names == ["first", "second", "third"]


def test_documents_keep_file_and_line() -> None:
    docs = load_documents(DATA / "multi-doc")
    assert [(d.path.name if d.path else None, d.line) for d in docs] == [
        ("a-service.yaml", 4),
        ("a-service.yaml", 9),
        ("b-config.yml", 1),
    ]
    assert docs[1].location == f"{DATA / 'multi-doc' / 'a-service.yaml'}:9"


def test_yaml_syntax_error_names_file_and_line() -> None:
    with pytest.raises(ManifestError) as info:
        load_manifests(DATA / "broken-yaml")
    err = info.value
    assert "broken-yaml/deployment.yaml:7:" in err.problem
    assert "YAML syntax error" in err.problem
    assert "indentation" in err.fix


def test_document_without_kind_names_file_line_and_field() -> None:
    with pytest.raises(ManifestError) as info:
        load_manifests(DATA / "missing-kind")
    assert "missing-kind/objects.yaml:6" in info.value.problem
    assert "no kind" in info.value.problem
    assert "apiVersion and kind" in info.value.fix


def test_document_without_name_is_rejected() -> None:
    with pytest.raises(ManifestError, match=r"objects\.yaml:1: the ConfigMap has no metadata\.name"):
        load_manifests(DATA / "missing-name")


def test_document_that_is_not_a_mapping_is_rejected() -> None:
    with pytest.raises(ManifestError, match=r"list\.yaml:1: the document is a list"):
        load_manifests(DATA / "not-a-mapping")


def test_object_defined_twice_names_both_places() -> None:
    with pytest.raises(ManifestError) as info:
        load_manifests(DATA / "duplicate")
    assert "ConfigMap/twice is defined twice" in info.value.problem
    assert "two.yaml:1" in info.value.problem
    assert "one.yaml:1" in info.value.problem


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="does not exist") as info:
        load_manifests(tmp_path / "nope")
    assert "manifests/sample-service" in info.value.fix


def test_file_instead_of_directory(tmp_path: Path) -> None:
    path = tmp_path / "deployment.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", encoding="utf-8")
    with pytest.raises(ManifestError, match="is a file, not a manifest directory") as info:
        load_manifests(path)
    assert str(tmp_path) in info.value.fix


def test_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"holds no \*\.yaml or \*\.yml files"):
        load_manifests(tmp_path)


def test_directory_without_yaml_files() -> None:
    with pytest.raises(ManifestError, match=r"holds no \*\.yaml or \*\.yml files"):
        load_manifests(DATA / "no-yaml")


def test_yaml_files_with_only_empty_documents(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("---\n# nothing\n---\n", encoding="utf-8")
    with pytest.raises(ManifestError, match="hold no Kubernetes objects"):
        load_manifests(tmp_path)


def test_non_utf8_file_is_a_manifest_error(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_bytes(b"kind: \xff\xfe\n")
    with pytest.raises(ManifestError, match=r"a\.yaml:1: not UTF-8 text \(byte 0xff at offset 6\)"):
        load_manifests(tmp_path)


def test_unreadable_file_is_a_manifest_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Root reads a mode-000 file anyway, so the refusal is simulated at the read itself.
    path = tmp_path / "a.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", encoding="utf-8")
    real_read_bytes = Path.read_bytes

    def refuse(self: Path) -> bytes:
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(ManifestError, match=r"cannot read .*a\.yaml: Permission denied"):
        load_manifests(tmp_path)


# Input no variant should hold: each a ManifestError naming file and line, never a parser exception


def write(tmp_path: Path, content: bytes, name: str = "a.yaml") -> Path:
    (tmp_path / name).write_bytes(content)
    return tmp_path


CONFIG_MAP = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"


@pytest.mark.parametrize(("content", "message"), [
    (CONFIG_MAP + b"data: {a: \"\x00\"}\n", r"a\.yaml:4:12: character #x0000 is not allowed"),
    (CONFIG_MAP + b"data: " + b"[" * 300 + b"]" * 300 + b"\n", r"a\.yaml:4: nested more than 64 levels deep"),
    (CONFIG_MAP + b"data: &d {a: *d}\n", r"a\.yaml:4: alias \*d refers to a value that contains it"),
    (CONFIG_MAP + b"data:\n  a: &a [x, x, x, x, x, x, x, x, x, x]\n"
     + b"".join(f"  {c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n".encode()
                for p, c in zip("abcde", "bcdef", strict=True)), r"expands to more than 100000 values"),
    (CONFIG_MAP + b"metadata: {name: y}\n", r"a\.yaml:4:1: YAML syntax error: key 'metadata' appears twice"),
    (b"apiVersion: v1\nkind: 7\nmetadata: {name: x}\n", r"a\.yaml:1: kind 7 is not a string"),
    (b"apiVersion: v1\nkind: ConfigMap\nmetadata: [x]\n", r"the ConfigMap's metadata is a list, not a mapping"),
    (b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: 12}\n", r"metadata\.name 12 is not a string"),
    (b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\n- a\n", r"a\.yaml:5: the document is a list"),
    (b"just a scalar\n", r"a\.yaml:1: the document is a str"),
], ids=["nul", "deep", "recursive-alias", "alias-bomb", "duplicate-key", "kind-int", "metadata-list", "name-int",
        "list-document", "scalar-document"])
def test_malformed_files_are_manifest_errors(tmp_path: Path, content: bytes, message: str) -> None:
    with pytest.raises(ManifestError, match=message) as info:
        load_manifests(write(tmp_path, content))
    assert info.value.fix
    assert len(info.value.problem) < 400


def test_merge_keys_may_repeat_a_key_on_purpose(tmp_path: Path) -> None:
    content = CONFIG_MAP + b"base: &base {a: 1}\ndata: {<<: *base, a: 2}\n"
    [obj] = load_manifests(write(tmp_path, content))
    assert obj["data"] == {"a": 2}


def test_a_huge_file_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"a\.yaml: \d+ bytes, more than the 1048576"):
        load_manifests(write(tmp_path, CONFIG_MAP + b"# " + b"x" * 1_100_000 + b"\n"))


def test_a_long_name_is_cut_short_in_references() -> None:
    ref = object_ref({"kind": "ConfigMap", "metadata": {"name": "n" * 500}})
    assert ref.startswith("ConfigMap/nnn") and ref.endswith("...") and len(ref) < 100
