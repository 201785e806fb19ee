"""The model store: ``<root>/<model>/<version>/`` bundles, an atomic *current* pointer, history.

Layout of one model's folder::

    diabetes/
      1/ 2/ 3/            sealed bundles, never modified once in place
      current.json        {"version": 3, "previous": [1, 2]}, replaced by one rename
      history.jsonl       one line per switch, appended
      versions.jsonl      one line per version added: its digest as stored and as received,
                          where it came from (a commit, a folder); appended
      canary.jsonl        while a canary runs: what each server process counted of it and of
                          the current version (``modelserve.canary``); appended
      .lock               serialises writers (flock); readers never take it
      .fetch.lock         one fetch at a time per node, in a mirrored store (``mirror``)

Only ``add`` (and a mirror installing a version) makes a model's folder: reading a model the
store does not hold, or a switch that fails on it, leaves the store as it was.

A reader opens ``current.json`` and sees either the old or the new pointer, never a partial
one, because writers build the new file beside it and ``os.replace`` it into place. Writers
(add, promote, rollback) hold an exclusive lock on ``.lock``, so racing promotes apply one
after the other and every history line's ``from`` is the previous line's ``to``.

A version's digest (of its ``metadata.json``, which lists the SHA-256 of every other file) is
recorded in ``versions.jsonl`` when it is added, and a version whose folder no longer matches
its record is refused wherever it is read: editing the metadata in place (its figures, its
checksums) is as visible as editing the weights. The digest it arrived with identifies a
bundle pushed again: the same content is the same version.

A worker node's store mirrors the web node's: ``mirror`` installs a version under the number
and with the exact content (the digest of its metadata) that the source of truth has.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelserve.bundles.archive import unpack
from modelserve.bundles.bundle import Bundle
from modelserve.bundles.bundle import seal as seal_bundle
from modelserve.errors import InvalidBundle, InvalidInput, ModelNotFound, StoreConflict

POINTER_FILE = "current.json"
HISTORY_FILE = "history.jsonl"
VERSIONS_FILE = "versions.jsonl"
CANARY_FILE = "canary.jsonl"
LOCK_FILE = ".lock"
FETCH_LOCK_FILE = ".fetch.lock"
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
log = logging.getLogger(__name__)


class Canary(BaseModel):
    """A version answering a share of requests before it may become current, and how it is
    judged (the same plan for every process that serves it)."""

    model_config = ConfigDict(frozen=True)

    version: int
    fraction: float = Field(gt=0, lt=1)
    started: datetime
    requests: int = Field(ge=1, description="judged once it answered this many")
    seconds: float = Field(gt=0, description="or once this much time passed")
    error_margin: float = Field(ge=0, le=1)
    latency_factor: float = Field(ge=1)


class Pointer(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: int
    previous: list[int] = Field(default_factory=list, description="earlier current versions")
    canary: Canary | None = None


class HistoryEntry(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    time: datetime
    model: str
    action: Literal["promote", "rollback", "canary", "abort"]
    from_version: int | None = Field(alias="from")
    to_version: int = Field(alias="to")
    reason: str
    details: dict[str, Any] = Field(default_factory=dict)


class VersionRecord(BaseModel):
    """How a version entered the store; written once, when it is added."""

    version: int
    digest: str  # of the stored metadata.json (named and numbered by the store)
    received: str  # of the metadata.json it arrived with: the same bundle pushed again matches
    time: datetime
    origin: dict[str, Any] = Field(default_factory=dict)  # commit and ref, or a folder


def check_model_name(name: str) -> str:
    if not MODEL_NAME.fullmatch(name):
        raise InvalidInput(
            f"invalid model name {name!r}: use letters, digits, '.', '_' or '-' (at most 64)",
            field="model",
        )
    return name


class ModelStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    # -- reading -------------------------------------------------------------------------

    def models(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and MODEL_NAME.fullmatch(p.name)
        )

    def versions(self, name: str) -> list[int]:
        folder = self._model_dir(name)
        if not folder.is_dir():
            return []
        return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit() and p.is_dir())

    def pointer_path(self, name: str) -> Path:
        return self._model_dir(name) / POINTER_FILE

    def canary_path(self, name: str) -> Path:
        return self._model_dir(name) / CANARY_FILE

    def pointer(self, name: str) -> Pointer | None:
        try:
            raw = self.pointer_path(name).read_bytes()
        except FileNotFoundError:
            return None
        try:
            return Pointer.model_validate_json(raw)
        except ValidationError as exc:
            raise InvalidBundle(f"the current pointer of {name!r} is unreadable") from exc

    def current_version(self, name: str) -> int:
        pointer = self.pointer(name)
        if pointer is None:
            self.check_known(name)
            raise ModelNotFound(f"model {name!r} has no current version: promote one")
        return pointer.version

    def check_known(self, name: str) -> None:
        """Raise ModelNotFound unless the store holds a version of ``name``."""
        if not self.versions(name):
            known = ", ".join(m for m in self.models() if self.versions(m)) or "none"
            raise ModelNotFound(
                f"no model {name!r}; models: {known}",
                local=f"no model {name!r} in {self.root}; models: {known}",
            )

    def bundle(self, name: str, version: int | None = None, *, verify: bool = True) -> Bundle:
        """The given version of a model, or its current one; verified unless told otherwise."""
        if version is None:
            version = self.current_version(name)
        path = self._model_dir(name) / str(version)
        if not path.is_dir():
            self.check_known(name)
            raise ModelNotFound(f"model {name!r} has no version {version}")
        bundle = Bundle.open(path, verify=verify)
        if verify:
            self._check_record(name, bundle)
        return bundle

    def records(self, name: str) -> dict[int, VersionRecord]:
        """Each version's record, by version: how it was added, or mirrored."""
        try:
            lines = (self._model_dir(name) / VERSIONS_FILE).read_text().splitlines()
        except FileNotFoundError:
            return {}
        records = {}
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = VersionRecord.model_validate_json(line)
            except ValidationError:  # a line cut short by a crash: a version without a record
                log.warning("%s: line %d of %s is unreadable", name, number, VERSIONS_FILE)
                continue
            records[record.version] = record
        return records

    def find_received(self, name: str, digest: str) -> int | None:
        """The intact version whose content a bundle with this digest is: the one added from
        it, or one exported from the store. A damaged version is no match: the bundle that
        would repair it becomes a new version."""
        for record in sorted(self.records(name).values(), key=lambda r: -r.version):
            if digest not in (record.received, record.digest):
                continue
            try:
                self.bundle(name, record.version)
            except (ModelNotFound, InvalidBundle):
                continue
            return record.version
        return None

    def history(self, name: str) -> list[HistoryEntry]:
        """Every switch, oldest first; none for a model the store does not hold (the gates
        read it for a model's first version too)."""
        try:
            lines = (self._model_dir(name) / HISTORY_FILE).read_text().splitlines()
        except FileNotFoundError:
            return []
        entries = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entries.append(HistoryEntry.model_validate_json(line))
            except ValidationError as exc:
                raise InvalidBundle(
                    f"the history of {name!r} is unreadable at line {number}"
                ) from exc
        return entries

    # -- writing -------------------------------------------------------------------------

    def add(
        self, source: Path, name: str | None = None, origin: dict[str, Any] | None = None
    ) -> Bundle:
        """Copy a verified bundle into the store as the model's next version; not promoted.
        ``origin`` (a commit and ref, a folder) is kept in the version's record."""
        incoming = Bundle.open(source)
        name = check_model_name(name or incoming.name)
        folder = self._model_dir(name)
        folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=folder))
        try:
            for file in incoming.metadata.files:
                shutil.copy2(incoming.path / file, staging / file)
            with self._locked(name):
                version = max(self.versions(name), default=0) + 1
                metadata = incoming.metadata.model_copy(update={"name": name, "version": version})
                sealed = seal_bundle(staging, metadata)
                Bundle.open(staging)
                # mkdtemp made it private: the serving user reads what the store holds.
                staging.chmod(0o755)
                for file in staging.iterdir():
                    file.chmod(0o644)
                # Recorded first: no reader ever finds the version without its record.
                origin = origin or {"folder": str(Path(source).resolve())}
                self._record(name, version, sealed.digest, incoming.digest, origin)
                os.rename(staging, folder / str(version))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return self.bundle(name, version)

    def promote(
        self,
        name: str,
        version: int,
        reason: str,
        details: dict[str, Any] | None = None,
        expected_current: int | None = None,
        canary_started: datetime | None = None,
    ) -> HistoryEntry:
        """``version`` becomes current; a canary running ends (the history says so). With
        ``expected_current``, only if that version is still the current one (the gates
        compared against it before the lock was taken); with ``canary_started``, only while
        that canary runs."""
        self.bundle(name, version)
        with self._locked(name):
            old = self.pointer(name)
            if old is not None and old.version == version:
                raise StoreConflict(f"version {version} of {name!r} is already current")
            _check_current(name, old, expected_current)
            if canary_started is not None and (
                old is None or old.canary is None or old.canary.started != canary_started
            ):
                raise StoreConflict(_no_canary(name, canary_started))
            previous = [*old.previous, old.version] if old else []
            details = _ending_canary(old, details, version)
            return self._switch(
                name, "promote", old, Pointer(version=version, previous=previous), reason, details
            )

    def start_canary(
        self,
        name: str,
        canary: Canary,
        reason: str,
        details: dict[str, Any] | None = None,
        expected_current: int | None = None,
    ) -> HistoryEntry:
        """``canary.version`` answers ``canary.fraction`` of requests; the current one the
        rest, until the canary is promoted or aborted. With ``expected_current``, only if
        that is still the current version (the gates compared against it)."""
        self.bundle(name, canary.version)
        with self._locked(name):
            old = self.pointer(name)
            if old is None:
                raise StoreConflict(f"model {name!r} has no current version to compare with")
            _check_current(name, old, expected_current)
            if old.version == canary.version:
                raise StoreConflict(f"version {canary.version} of {name!r} is already current")
            if old.canary is not None:
                raise StoreConflict(
                    f"version {old.canary.version} of {name!r} is a canary already: "
                    f"`modelserve canary promote` or `abort` it first"
                )
            new = old.model_copy(update={"canary": canary})
            # Counts of an earlier canary are of no use to this one.
            self.canary_path(name).unlink(missing_ok=True)
            return self._switch(name, "canary", old, new, reason, details, to=canary.version)

    def end_canary(
        self,
        name: str,
        *,
        promote: bool,
        reason: str,
        details: dict[str, Any] | None = None,
        started: datetime | None = None,
    ) -> HistoryEntry:
        """The canary becomes current (``promote``), or every request goes to the current
        version again. With ``started``, only if that canary still runs (another process, or
        a person, may have ended it)."""
        self.check_known(name)
        pointer = self.pointer(name)
        canary = pointer.canary if pointer else None
        if canary is None or (started is not None and canary.started != started):
            raise StoreConflict(_no_canary(name, started))
        if promote:
            return self.promote(
                name, canary.version, reason, details, canary_started=canary.started
            )
        with self._locked(name):
            old = self.pointer(name)
            if old.canary != canary:
                raise StoreConflict(_no_canary(name, canary.started))
            new = old.model_copy(update={"canary": None})
            return self._switch(name, "abort", old, new, reason, details, start=canary.version)

    def rollback(
        self,
        name: str,
        to: int | None = None,
        reason: str = "rollback",
        details: dict[str, Any] | None = None,
        expected: tuple[int, int] | None = None,
    ) -> HistoryEntry:
        """Return to the previous current version, or to ``to``; a later rollback undoes this.
        With ``expected`` (from, to), only if that is still the switch it makes (it was
        checked before the lock was taken)."""
        self.check_known(name)
        if to is not None:
            self.bundle(name, to)
        with self._locked(name):
            old = self.pointer(name)
            if old is None:
                raise ModelNotFound(f"model {name!r} has no current version to roll back from")
            _check_current(name, old, expected[0] if expected else None)
            if to is None:
                if not old.previous:
                    raise StoreConflict(f"model {name!r} has no earlier version to roll back to")
                new = Pointer(version=old.previous[-1], previous=old.previous[:-1])
            elif to == old.version:
                raise StoreConflict(f"version {to} of {name!r} is already current")
            else:
                new = Pointer(version=to, previous=[*old.previous, old.version])
            if expected is not None and new.version != expected[1]:
                raise StoreConflict(
                    f"the previous version of {name!r} became {new.version} meanwhile "
                    f"(was {expected[1]}); nothing changed"
                )
            self.bundle(name, new.version)
            details = _ending_canary(old, details, new.version)
            return self._switch(name, "rollback", old, new, reason, details)

    def mirror(self, name: str, version: int, digest: str, fetch: Callable[[], bytes]) -> Bundle:
        """``version`` of ``name`` exactly as the source of truth has it (``digest``).

        The local copy if it matches; otherwise ``fetch()`` brings the bundle's archive, which
        is unpacked beside the store, verified file by file and against ``digest``, and only
        then renamed into place. One process per node fetches at a time; the others wait and
        find its copy. A local version that differs from the source's is replaced: the source
        is the truth. Nothing that fails verification is ever installed.
        """
        folder = self._model_dir(name)
        folder.mkdir(parents=True, exist_ok=True)
        local = self._matching(name, version, digest)
        if local is not None:
            return local
        with flock(folder / FETCH_LOCK_FILE):
            local = self._matching(name, version, digest)
            if local is not None:  # another process of this node fetched it meanwhile
                return local
            # Only the holder of this lock makes these folders: any left here are from a
            # fetch that died (a worker killed mid-way).
            for stale in [*folder.glob(".fetching-*"), *folder.glob(".replaced-*")]:
                shutil.rmtree(stale, ignore_errors=True)
            archive = fetch()
            staging = Path(tempfile.mkdtemp(prefix=".fetching-", dir=folder))
            try:
                unpack(archive, staging)
                where = f"version {version} of {name!r} from the source"
                try:
                    fetched = Bundle.open(staging)
                except InvalidBundle as exc:
                    message = str(exc).replace(f"{staging}/", "").replace(str(staging), "bundle")
                    raise InvalidBundle(f"{where} failed verification: {message}") from None
                if fetched.digest != digest:
                    raise InvalidBundle(
                        f"{where} failed verification: its metadata's digest is "
                        f"{fetched.digest[:12]}, the request names {digest[:12]}"
                    )
                if (fetched.name, fetched.version) != (name, version):
                    raise InvalidBundle(
                        f"{where} failed verification: it is version {fetched.version} "
                        f"of {fetched.name!r}"
                    )
                with self._locked(name):
                    target = folder / str(version)
                    if target.exists():
                        # The source's content wins; the old folder goes aside in one rename.
                        os.rename(target, folder / f".replaced-{staging.name}")
                    self._record(name, version, digest, digest, {"mirrored from": "source"})
                    os.rename(staging, target)
                    _fsync_dir(folder)
                log.info(
                    "installed %s version %s from the source (digest %s)",
                    name,
                    version,
                    digest[:12],
                )
            finally:
                shutil.rmtree(staging, ignore_errors=True)
                for replaced in folder.glob(".replaced-*"):
                    shutil.rmtree(replaced, ignore_errors=True)
        return Bundle.open(folder / str(version))

    def _matching(self, name: str, version: int, digest: str) -> Bundle | None:
        try:
            bundle = self.bundle(name, version)
        except (ModelNotFound, InvalidBundle):
            return None
        return bundle if bundle.digest == digest else None

    def seed(self, source: Path, name: str) -> None:
        """Install ``source`` as version 1 of ``name``, current, if the store holds no model."""
        if self.models():  # the usual case, and it must work on a read-only store
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with flock(self.root / LOCK_FILE):
            if self.models():
                return
            bundle = self.add(source, name)
            self.promote(name, bundle.version, reason="demo bundle installed in an empty store")

    # -- internals -----------------------------------------------------------------------

    def _switch(
        self, name, action, old: Pointer | None, new: Pointer, reason, details, to=None, start=None
    ):
        """Writes ``new`` and the history line; ``start``/``to`` override the line's versions
        where a canary, not the current version, is what changes."""
        folder = self._model_dir(name)
        tmp = folder / f".{POINTER_FILE}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(new.model_dump_json())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, folder / POINTER_FILE)
        _fsync_dir(folder)
        entry = HistoryEntry(
            time=datetime.now(timezone.utc),
            model=name,
            action=action,
            from_version=start if start is not None else (old.version if old else None),
            to_version=to if to is not None else new.version,
            reason=reason,
            details=details or {},
        )
        _append_line(folder / HISTORY_FILE, entry.model_dump_json(by_alias=True))
        return entry

    def _record(self, name: str, version: int, digest: str, received: str, origin: dict) -> None:
        """The version's record; a later one (a version replaced by a mirror) wins."""
        record = VersionRecord(
            version=version,
            digest=digest,
            received=received,
            time=datetime.now(timezone.utc),
            origin=origin,
        )
        _append_line(self._model_dir(name) / VERSIONS_FILE, record.model_dump_json())

    def _check_record(self, name: str, bundle: Bundle) -> None:
        record = self.records(name).get(bundle.version)
        if record is not None and record.digest != bundle.digest:
            raise InvalidBundle(
                f"{bundle.path / 'metadata.json'}: changed since the store accepted version "
                f"{bundle.version} (digest {bundle.digest[:12]}, recorded {record.digest[:12]})"
            )

    def _locked(self, name: str):
        """The model's writer lock. Its folder must exist: a switch of a model the store does
        not hold fails without leaving a folder that would list it."""
        folder = self._model_dir(name)
        if not folder.is_dir():
            self.check_known(name)
        return flock(folder / LOCK_FILE)

    def _model_dir(self, name: str) -> Path:
        return self.root / check_model_name(name)


def _check_current(name: str, old: Pointer | None, expected: int | None) -> None:
    """Refuse a switch decided against ``expected`` once another version became current."""
    if expected is not None and (old is None or old.version != expected):
        raise StoreConflict(
            f"the current version of {name!r} changed meanwhile (was {expected}); nothing changed"
        )


def _no_canary(name: str, started: datetime | None) -> str:
    if started is None:
        return f"model {name!r} runs no canary"
    return f"the canary of {name!r} started at {started.isoformat()} has ended already"


def _ending_canary(old: Pointer | None, details: dict[str, Any] | None, to: int) -> dict[str, Any]:
    """A switch to another version than the canary's ends it: its details say which."""
    details = dict(details or {})
    if old is not None and old.canary is not None and old.canary.version != to:
        details.setdefault("canary_ended", old.canary.version)
    return details


def _append_line(path: Path, line: str) -> None:
    with open(path, "a") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def flock(path: Path):
    """An exclusive lock on ``path`` (made if missing) for the ``with`` block."""
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
