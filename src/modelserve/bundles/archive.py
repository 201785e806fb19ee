"""A bundle as one byte string, to send it to another node: an uncompressed tar of its files.

The archive carries no trust of its own: the receiving store unpacks it into a staging folder
and verifies every file against the metadata, and the metadata against the digest it asked
for, before the version becomes visible (``ModelStore.mirror``).
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from modelserve.bundles.bundle import METADATA_FILE, Bundle
from modelserve.bundles.metadata import FILE_NAME
from modelserve.errors import InvalidBundle


def pack(bundle: Bundle) -> bytes:
    """The metadata and every file it lists, with fixed owners, modes and times."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in [METADATA_FILE, *sorted(bundle.metadata.files)]:
            data = (bundle.path / name).read_bytes()
            member = tarfile.TarInfo(name)
            member.size, member.mode = len(data), 0o644
            tar.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


def unpack(archive: bytes, destination: Path) -> None:
    """Write the archive's files into the empty folder ``destination``.

    Only regular files with plain names are accepted, so an archive can never write outside
    the folder, make links or devices, or overwrite a file it already wrote.
    """
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
            for member in tar:
                if not member.isfile() or not FILE_NAME.fullmatch(member.name):
                    raise InvalidBundle(f"the bundle archive holds {member.name!r}: not a file")
                target = destination / member.name
                if target.exists():
                    raise InvalidBundle(f"the bundle archive holds {member.name!r} twice")
                source = tar.extractfile(member)
                target.write_bytes(source.read() if source else b"")
    except tarfile.TarError as exc:
        raise InvalidBundle(f"the bundle archive is unreadable: {exc}") from exc
