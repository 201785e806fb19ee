"""Loaded models per process, following each model's *current* pointer without a restart.

The pointer file is read (a few bytes) at most every ``recheck`` seconds, 5 ms by default: a
request in between costs a clock read. Its content, not its inode, time and size, tells
whether it changed: a replaced pointer can reuse the old one's inode within one tick of the
file system's clock, and "1" and "2" have the same size. When the pointer has been replaced, the
new version is loaded completely beside the old one and then swapped in with a single
assignment, so a request sees the old model or the new one, never a half-loaded one. If the
new version fails to load, the old one keeps serving and the failure is logged once.

A request may name a version's exact content by its digest (``Bundle.digest``), as tasks sent
by a web node do. On a worker node, whose store mirrors the web node's, a version that is
missing or differs is then fetched with ``fetch`` and installed before it is loaded
(``ModelStore.mirror``); a version that fails verification is never loaded.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from modelserve.bundles import Bundle, Canary, ModelStore
from modelserve.errors import InvalidBundle, ModelNotFound, ModelserveError
from modelserve.runtime.base import ModelRuntime
from modelserve.runtime.numpy_runtime import NumpyRuntime

log = logging.getLogger(__name__)

Loader = Callable[[Bundle], ModelRuntime]
Fetch = Callable[[str, int], bytes]  # (model, version) -> the bundle's archive, from the source


def load_numpy(bundle: Bundle) -> ModelRuntime:
    return NumpyRuntime(bundle).load()


@dataclass
class _Current:
    stamp: bytes  # the pointer file's content
    runtime: ModelRuntime
    checked: float  # time.monotonic() of the last stat
    canary: Canary | None = None  # a version answering a share of requests


class ModelCache:
    def __init__(
        self,
        store: ModelStore,
        loader: Loader = load_numpy,
        pinned_versions: int = 4,
        fetch: Fetch | None = None,
        recheck: float = 0.005,
    ):
        self.store = store
        self._loader = loader
        self._fetch = fetch
        self._recheck = recheck
        self._current: dict[str, _Current] = {}
        self._pinned: OrderedDict[tuple[str, int], ModelRuntime] = OrderedDict()
        self._pinned_limit = pinned_versions
        self._pointers: dict[str, str] = {}  # model -> its pointer file, computed once
        self._lock = threading.Lock()  # loads of current versions
        self._pinned_lock = threading.Lock()  # loads of explicitly requested versions

    def get(self, name: str, version: int | None = None, digest: str | None = None) -> ModelRuntime:
        """The runtime for ``version`` of ``name`` (with exactly ``digest``, if given), or for
        its current version."""
        if version is None:
            return self.current(name)
        current = self._current.get(name)
        if (
            current is not None
            and current.runtime.version == version
            and digest in (None, current.runtime.digest)
        ):
            return current.runtime
        return self._get_pinned(name, version, digest)

    def current(self, name: str) -> ModelRuntime:
        return self._entry(name).runtime

    def route(self, name: str, key: str | None = None) -> int:
        """The version a request for ``name`` goes to: the current one, or, while a canary
        runs, the canary for its share of requests. A client that sends ``key`` gets the
        same answer for the whole canary; without one, each request is drawn."""
        entry = self._entry(name)
        canary = entry.canary
        if canary is None:
            return entry.runtime.version
        if key is None:
            draw = random.random()  # noqa: S311 - a traffic split, not a secret
        else:
            seed = f"{canary.started.isoformat()}/{key}".encode()
            draw = int.from_bytes(hashlib.blake2b(seed, digest_size=8).digest(), "big") / 2**64
        return canary.version if draw < canary.fraction else entry.runtime.version

    def canary(self, name: str) -> Canary | None:
        """The canary running for ``name``, as of the last pointer check."""
        entry = self._current.get(name)
        return entry.canary if entry is not None else None

    def _entry(self, name: str) -> _Current:
        entry = self._current.get(name)
        now = time.monotonic()
        if entry is not None and now - entry.checked < self._recheck:
            return entry
        stamp = self._stamp(name)
        if entry is not None and entry.stamp == stamp:
            entry.checked = now  # a racing thread writing the same kind of value is harmless
            return entry
        with self._lock:
            entry = self._current.get(name)
            if entry is not None and entry.stamp == stamp:
                return entry
            pointer = self.store.pointer(name)
            if pointer is None:
                raise ModelNotFound(f"model {name!r} has no current version")
            version = pointer.version
            pinned = self._pinned.get((name, version))  # a canary that went live, loaded
            if entry is not None and entry.runtime.version == version:
                runtime = entry.runtime
            elif pinned is not None:
                runtime = pinned
            else:
                try:
                    runtime = self._loader(self.store.bundle(name, version))
                except ModelserveError:
                    if entry is None:
                        raise
                    log.exception(
                        "version %s of %s failed to load; version %s keeps serving",
                        version,
                        name,
                        entry.runtime.version,
                    )
                    runtime = entry.runtime
                else:
                    log.info("loaded %s version %s", name, version)
            if pointer.canary is not None:  # loaded now, not by the first request routed to it
                try:
                    self._get_pinned(name, pointer.canary.version, None)
                except ModelserveError:  # its requests will meet the error, and count it
                    log.exception(
                        "canary version %s of %s failed to load", pointer.canary.version, name
                    )
            entry = self._current[name] = _Current(stamp, runtime, now, pointer.canary)
            return entry

    def _get_pinned(self, name: str, version: int, digest: str | None) -> ModelRuntime:
        key = (name, version)
        with self._pinned_lock:
            runtime = self._pinned.get(key)
            if runtime is None or digest not in (None, runtime.digest):
                runtime = self._loader(self._bundle(name, version, digest))
                log.info("loaded %s version %s", name, version)
                self._pinned[key] = runtime
                while len(self._pinned) > self._pinned_limit:
                    self._pinned.popitem(last=False)
            self._pinned.move_to_end(key)
            return runtime

    def _bundle(self, name: str, version: int, digest: str | None) -> Bundle:
        if digest is None:
            return self.store.bundle(name, version)
        if self._fetch is not None:
            fetch = self._fetch
            return self.store.mirror(name, version, digest, lambda: fetch(name, version))
        bundle = self.store.bundle(name, version)
        if bundle.digest != digest:
            raise InvalidBundle(
                f"version {version} of {name!r} in {self.store.root} is not the one the request "
                f"names (digest {bundle.digest[:12]}, not {digest[:12]})"
            )
        return bundle

    def _stamp(self, name: str) -> bytes:
        pointer = self._pointers.get(name) or str(self.store.pointer_path(name))
        try:
            with open(pointer, "rb") as file:
                content = file.read()
        except FileNotFoundError:
            self.store.current_version(name)  # raises the precise ModelNotFound
            raise ModelNotFound(f"model {name!r} has no current version") from None
        self._pointers[name] = pointer  # only names that exist: clients cannot grow it
        return content
