"""A worker node's store mirroring the web node's: install by digest, verify, once per node."""

from __future__ import annotations

import io
import multiprocessing
import os
import shutil
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

from modelserve.bundles import ModelStore
from modelserve.bundles.archive import pack, unpack
from modelserve.errors import InvalidBundle
from modelserve.runtime import ModelCache
from modelserve.settings import demo_bundle_path
from tests.support.bundles import make_bundle
from tests.web.conftest import ROW


@pytest.fixture
def source(tmp_path) -> ModelStore:
    """The web node's store: the demo as version 1, a revised model as version 2."""
    store = ModelStore(tmp_path / "source")
    store.seed(demo_bundle_path(), "diabetes")
    store.add(make_bundle(tmp_path / "revised", "revised"))
    return store


@pytest.fixture
def mirror(tmp_path) -> ModelStore:
    return ModelStore(tmp_path / "mirror")


def fetcher(source: ModelStore, calls: list | None = None):
    def fetch(name: str, version: int) -> bytes:
        if calls is not None:
            calls.append((name, version))
        return pack(source.bundle(name, version))

    return fetch


def test_a_missing_version_is_fetched_and_installed_under_its_number(source, mirror):
    wanted = source.bundle("diabetes", 2)
    # What a fetch killed half-way leaves behind is cleared by the next one.
    leftovers = [mirror.root / "diabetes" / name for name in (".fetching-1", ".replaced-2")]
    for folder in leftovers:
        folder.mkdir(parents=True)
    calls = []
    got = mirror.mirror("diabetes", 2, wanted.digest, lambda: fetcher(source, calls)("diabetes", 2))
    assert (got.name, got.version, got.digest) == ("diabetes", 2, wanted.digest)
    assert mirror.versions("diabetes") == [2]
    assert not any(folder.exists() for folder in leftovers)
    for file in ("metadata.json", *wanted.metadata.files):
        assert (got.path / file).read_bytes() == (wanted.path / file).read_bytes()
    # Present now: no second fetch.
    mirror.mirror("diabetes", 2, wanted.digest, lambda: pytest.fail("fetched twice"))
    assert calls == [("diabetes", 2)]


def tampered_archive(source: ModelStore, version: int, file: str) -> bytes:
    """The version's archive with one byte of ``file`` flipped and the metadata untouched."""
    members = {}
    with tarfile.open(fileobj=io.BytesIO(pack(source.bundle("diabetes", version)))) as tar:
        for member in tar:
            members[member.name] = tar.extractfile(member).read()
    data = bytearray(members[file])
    data[len(data) // 2] ^= 0xFF
    members[file] = bytes(data)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def test_a_tampered_file_is_never_installed_and_other_versions_keep_serving(source, mirror):
    cache = ModelCache(mirror, fetch=fetcher(source))
    first = cache.get("diabetes", 1, source.bundle("diabetes", 1).digest)
    digest = source.bundle("diabetes", 2).digest
    bad = ModelCache(mirror, fetch=lambda name, version: tampered_archive(source, 2, "weights.npz"))
    with pytest.raises(InvalidBundle) as error:
        bad.get("diabetes", 2, digest)
    assert str(error.value) == (
        "version 2 of 'diabetes' from the source failed verification: "
        "weights.npz: checksum does not match the metadata"
    )
    assert mirror.versions("diabetes") == [1]
    assert not [p for p in (mirror.root / "diabetes").iterdir() if p.is_dir() and p.name != "1"]
    assert cache.get("diabetes", 1, first.digest) is first
    assert first.predict(np.asarray([ROW], dtype=np.float32)).shape == (1, 1)


def test_metadata_that_differs_from_the_requested_digest_is_refused(source, mirror, tmp_path):
    # Consistent in itself (checksums rewritten, claims changed), but not what was asked for.
    forged = shutil.copytree(source.bundle("diabetes", 2).path, tmp_path / "forged")
    (forged / "metadata.json").write_text(
        (forged / "metadata.json").read_text().replace('"accuracy": 0.', '"accuracy": 0.99')
    )
    archive = pack_folder(forged)
    digest = source.bundle("diabetes", 2).digest
    with pytest.raises(InvalidBundle, match="its metadata's digest is .*, the request names"):
        mirror.mirror("diabetes", 2, digest, lambda: archive)
    assert mirror.versions("diabetes") == []


def pack_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for file in sorted(folder.iterdir()):
            tar.add(file, arcname=file.name)
    return buffer.getvalue()


def test_a_local_version_that_differs_from_the_source_is_replaced(source, mirror, tmp_path):
    # e.g. a worker that seeded the demo as version 2 of its own, or served another deployment
    mirror.seed(demo_bundle_path(), "diabetes")
    mirror.add(demo_bundle_path())
    wanted = source.bundle("diabetes", 2)
    assert mirror.bundle("diabetes", 2).digest != wanted.digest
    got = mirror.mirror("diabetes", 2, wanted.digest, lambda: fetcher(source)("diabetes", 2))
    assert got.digest == wanted.digest == mirror.bundle("diabetes", 2).digest
    assert sorted(p.name for p in (mirror.root / "diabetes").iterdir() if p.is_dir()) == ["1", "2"]


@pytest.mark.parametrize(
    ("name", "kind"),
    [("../escape", tarfile.REGTYPE), ("link", tarfile.SYMTYPE), ("sub/file", tarfile.REGTYPE)],
)
def test_an_archive_writes_plain_files_only(tmp_path, name, kind):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = "/etc/passwd" if kind == tarfile.SYMTYPE else ""
        tar.addfile(info, io.BytesIO(b""))
    (tmp_path / "out").mkdir()
    with pytest.raises(InvalidBundle, match="not a file"):
        unpack(buffer.getvalue(), tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def _mirror_in_threads(root: str, digest: str, archive: bytes, barrier, fetches) -> None:
    store = ModelStore(Path(root))

    def fetch() -> bytes:
        with fetches.get_lock():
            fetches.value += 1
        return archive

    failures = []

    def one() -> None:
        barrier.wait()
        try:
            assert store.mirror("diabetes", 2, digest, fetch).digest == digest
        except BaseException as exc:  # noqa: BLE001 - reported through the exit code
            failures.append(exc)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    os._exit(1 if failures else 0)


def test_many_concurrent_requests_of_a_node_fetch_once(source, mirror):
    wanted = source.bundle("diabetes", 2)
    archive = pack(wanted)
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(4 * 4)
    fetches = context.Value("i", 0)
    processes = [
        context.Process(
            target=_mirror_in_threads,
            args=(str(mirror.root), wanted.digest, archive, barrier, fetches),
        )
        for _ in range(4)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert [p.exitcode for p in processes] == [0] * 4
    assert fetches.value == 1
    assert mirror.versions("diabetes") == [2]
