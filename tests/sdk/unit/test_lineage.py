"""Datasets and artifacts: digests that depend on content only, a store that keeps one copy per
content, and the lineage events a run records for them."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import cairn
from cairn._datasets import describe
from cairn._hashing import manifest, manifest_sha256
from cairn.artifacts import FsspecStore, LocalStore, open_artifact, open_store, store_path
from cairn.errors import ConfigError, ValidationError
from cairn.v1 import common_pb2, lineage_pb2, provenance_pb2
from tests.sdk.helpers import offline_settings, payloads, spooled_events


def make_tree(root: Path) -> Path:
    (root / "images" / "b").mkdir(parents=True)
    (root / "labels.csv").write_text("id,label\n1,cat\n")
    (root / "images" / "a.bin").write_bytes(b"\x00\x01" * 1000)
    (root / "images" / "b" / "c.bin").write_bytes(b"same")
    return root


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_files_digest_is_its_sha256(tmp_path: Path) -> None:
    path = tmp_path / "train.parquet"
    path.write_bytes(b"rows")
    dataset = describe(path)
    assert dataset.digest == f"sha256:{sha(b'rows')}"
    assert (dataset.name, dataset.size_bytes, dataset.file_count) == ("train.parquet", 4, 1)
    assert dataset.uri == path.as_uri()


def test_a_directorys_digest_is_the_same_wherever_and_however_it_was_written(
    tmp_path: Path,
) -> None:
    first = make_tree(tmp_path / "one")
    second = tmp_path / "elsewhere" / "two"
    second.mkdir(parents=True)
    for path in sorted(first.rglob("*"), reverse=True):  # different creation order
        target = second / path.relative_to(first)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    a, b = describe(first), describe(second)
    assert a.digest == b.digest == a.manifest_digest
    assert (a.file_count, a.size_bytes) == (3, 2000 + 4 + 15)

    expected = json.dumps(
        [
            ["images/a.bin", 2000, sha(b"\x00\x01" * 1000)],
            ["images/b/c.bin", 4, sha(b"same")],
            ["labels.csv", 15, sha(b"id,label\n1,cat\n")],
        ],
        separators=(",", ":"),
    ).encode()
    assert a.digest == f"sha256:{sha(expected)}"
    (second / "labels.csv").write_text("id,label\n1,dog\n")
    assert describe(second).digest != a.digest


def test_a_dataframes_digest_follows_its_content() -> None:
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    same = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    changed = frame.assign(a=[1, 2, 4])
    renamed = frame.rename(columns={"b": "c"})
    digests = {describe(f).digest for f in (frame, same)}
    assert len(digests) == 1
    assert describe(changed).digest not in digests
    assert describe(renamed).digest not in digests
    assert describe(frame, name="features").name == "features"


def test_a_uri_needs_a_known_version() -> None:
    pinned = describe("s3://bucket/data/train.parquet", version="v3")
    assert (pinned.name, pinned.version, pinned.uri) == (
        "train.parquet",
        "v3",
        "s3://bucket/data/train.parquet",
    )
    assert describe("s3://bucket/k?versionId=abc").version == "abc"
    assert describe("hf://datasets/org/set@a1b2c3").version == "a1b2c3"
    assert describe("s3://b/k", version="v1").digest != describe("s3://b/k", version="v2").digest
    with pytest.raises(ValidationError) as caught:
        describe("s3://bucket/data/train.parquet")
    assert caught.value.rule == "dataset_version"
    assert "its version must be known: pass version=" in str(caught.value)


def test_identical_files_are_stored_once(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    (tmp_path / "a.pt").write_bytes(b"weights")
    (tmp_path / "b.pt").write_bytes(b"weights")
    first, second = store.put_file(tmp_path / "a.pt"), store.put_file(tmp_path / "b.pt")
    assert first == second
    assert first.sha256 == sha(b"weights")
    blobs = [p for p in (tmp_path / "store" / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) == 1
    assert blobs[0].name == sha(b"weights")
    assert not list((tmp_path / "store" / "tmp").iterdir())
    with open_artifact(first.uri) as stream:
        assert stream.read() == b"weights"


def test_a_directory_artifact_is_a_manifest_of_blobs(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "checkpoint")
    store = open_store(str(tmp_path / "store"))
    stored = store_path(store, tree)
    assert stored.is_directory
    assert stored.file_count == 3
    assert stored.sha256 == manifest_sha256(manifest(tree))
    assert [e.path for e in store.read_tree(stored.sha256)] == [
        "images/a.bin",
        "images/b/c.bin",
        "labels.csv",
    ]
    with store.open_blob(sha(b"same")) as blob:
        assert blob.read() == b"same"


class FakeFs:
    """The part of an fsspec filesystem FsspecStore uses, over a dict (fsspec is not installed)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.puts = 0

    def exists(self, path: str) -> bool:
        return path in self.files

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        return None

    def put_file(self, local: str, remote: str) -> None:
        self.puts += 1
        self.files[remote] = Path(local).read_bytes()

    def pipe_file(self, path: str, data: bytes) -> None:
        self.files[path] = data

    def open(self, path: str, mode: str) -> Any:
        return io.BytesIO(self.files[path])

    def cat_file(self, path: str) -> bytes:
        return self.files[path]

    def unstrip_protocol(self, path: str) -> str:
        return f"memory://{path}"


def test_the_fsspec_store_uses_the_same_layout_and_uploads_once(tmp_path: Path) -> None:
    fs = FakeFs()
    store = FsspecStore(fs, "bucket/cairn/")
    tree = make_tree(tmp_path / "ckpt")
    stored = store_path(store, tree)
    store_path(store, tree)
    assert fs.puts == 3
    assert (
        stored.uri == f"memory://bucket/cairn/trees/sha256/{stored.sha256[:2]}/{stored.sha256}.json"
    )
    assert f"bucket/cairn/blobs/sha256/{sha(b'same')[:2]}/{sha(b'same')}" in fs.files
    assert len(store.read_tree(stored.sha256)) == 3
    with store.open_blob(sha(b"same")) as blob:
        assert blob.read() == b"same"


def test_a_remote_store_without_fsspec_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "fsspec", None)  # as if fsspec were not installed
    with pytest.raises(ConfigError, match=r"remote artifact stores need fsspec"):
        open_store("s3://bucket/cairn")


def test_a_remote_store_without_its_backend_says_what_to_install() -> None:
    with pytest.raises(ConfigError, match=r"artifact store 's3://bucket/cairn': Install s3fs"):
        open_store("s3://bucket/cairn")


def test_a_run_records_datasets_as_inputs_and_artifacts_as_outputs(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "data")
    (tmp_path / "model.pt").write_bytes(b"weights")
    settings = offline_settings(tmp_path, artifact_store=str(tmp_path / "artifacts"))
    with cairn.init(settings=settings) as run:
        dataset = run.use_dataset(tree, name="train", version="2024-05")
        artifact = run.log_artifact(
            tmp_path / "model.pt", kind="model", metadata={"framework": "torch"}
        )
        run.log_artifact(tmp_path / "model.pt", name="copy", kind="checkpoint")
        directory = run.spool_dir
    assert directory is not None
    events = spooled_events(directory)
    recorded = payloads(events, "dataset_recorded")[0]
    assert (
        recorded.name,
        recorded.digest,
        recorded.role,
        recorded.version,
        recorded.file_count,
    ) == (
        "train",
        dataset.digest,
        common_pb2.DATA_ROLE_INPUT,
        "2024-05",
        3,
    )
    logged = payloads(events, "artifact_logged")
    assert [(a.name, a.kind, a.sha256) for a in logged] == [
        ("model.pt", provenance_pb2.ARTIFACT_KIND_MODEL, sha(b"weights")),
        ("copy", provenance_pb2.ARTIFACT_KIND_CHECKPOINT, sha(b"weights")),
    ]
    assert logged[0].metadata[0].key == "framework"
    assert logged[0].uri == artifact.uri
    edges = payloads(events, "lineage_edge_recorded")
    assert [(e.relation, e.target.kind, e.target.id) for e in edges] == [
        (lineage_pb2.LINEAGE_RELATION_USED, lineage_pb2.LINEAGE_NODE_KIND_DATASET, dataset.digest),
        (
            lineage_pb2.LINEAGE_RELATION_PRODUCED,
            lineage_pb2.LINEAGE_NODE_KIND_ARTIFACT,
            sha(b"weights"),
        ),
        (
            lineage_pb2.LINEAGE_RELATION_PRODUCED,
            lineage_pb2.LINEAGE_NODE_KIND_ARTIFACT,
            sha(b"weights"),
        ),
    ]
    assert all(e.source.id == run.id for e in edges)
    assert len([p for p in (tmp_path / "artifacts" / "blobs").rglob("*") if p.is_file()]) == 1
