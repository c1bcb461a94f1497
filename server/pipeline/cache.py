"""THE result cache: a paid or slow result is made once, whoever asks for it again.

Check, else produce into a temporary name in the same folder, fsync, rename, all through
the cache's ``LocalStore`` (``server.storage``: object storage is one more store class).
Two kinds of entries, both under ``var/cache/<kind>/<key[:2]>/``:

- **JSON results** (an LLM's rewrite or timeline): ``<key>.json``, written whole and
  renamed into place;
- **files** (images, WAVs, video segments) with a JSON sidecar of what else the producer
  returned: the folder ``<key>/`` holding ``result<suffix>`` and ``meta.json``, built
  under a temporary name and renamed as one, so the file and its sidecar always belong
  together.

Keys are sha256 digests of a canonical JSON encoding of their parts. For a provider's
output the parts are (kind, provider name, version, ``fingerprint()``, the frozen
request) with the positional fields (``index``, ``scene_count``) left out: a scene's
position is never part of what it looks or sounds like, so an edit that shifts or adds
scenes reuses the unchanged ones. A provider whose output does depend on them says so
with ``cache_parts(request)``.

Safe across threads and processes: two producers of the same key each build their own
temporary entry; the first rename wins and the other is discarded (JSON: the last
``os.replace`` wins). Either way a reader only ever sees complete entries.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import shutil
from pathlib import Path, PurePath
from typing import Any, Callable, TypeVar

from server.storage import LocalStore

T = TypeVar("T")

RESULT = "result"
META = "meta.json"
# Where a scene sits in its video is not what it looks or sounds like: left out of every key.
POSITIONAL = frozenset({"index", "scene_count"})


def canonical(value: object) -> Any:
    """``value`` as plain JSON data with a stable shape: dataclasses by field name (minus the
    ``POSITIONAL`` ones), tuples and lists as lists, sets sorted, paths as strings, enums by value."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: canonical(getattr(value, f.name)) for f in dataclasses.fields(value)
                  if f.name not in POSITIONAL and f.compare}
        return {"__type__": type(value).__name__, **fields}
    if isinstance(value, enum.Enum):
        return canonical(value.value)
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda item: str(item[0]))}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((canonical(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, bytes):
        return {"sha256": hashlib.sha256(value).hexdigest()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"cannot make a cache key from a {type(value).__name__}: use plain values or frozen dataclasses")


def digest(*parts: object) -> str:
    """The sha256 of the canonical encoding of ``parts``."""
    encoded = json.dumps(canonical(list(parts)), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                         allow_nan=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def provider_key(kind: str, provider: object, request: object, *extra: object) -> str:
    """The key of ``provider``'s output for ``request`` (see the module docstring)."""
    return digest(kind, getattr(provider, "name"), getattr(provider, "version"), provider.fingerprint(),  # type: ignore[attr-defined]
                  request, *extra)


class ResultCache:
    """Content-addressed results in one store (``var/cache``; see ``server.storage``)."""

    def __init__(self, root: Path | LocalStore):
        self.store = root if isinstance(root, LocalStore) else LocalStore(Path(root))
        self.root = self.store.root

    @staticmethod
    def _key(kind: str, key: str) -> str:
        if not kind.isidentifier() or len(key) != 64 or not all(c in "0123456789abcdef" for c in key):
            raise ValueError(f"bad cache kind or key: {kind!r}, {key!r}")
        return f"{kind}/{key[:2]}/{key}"

    # JSON results -----------------------------------------------------------------------

    def load_json(self, kind: str, key: str) -> Any | None:
        """The stored JSON value, or None when there is none (or it is unreadable)."""
        try:
            return json.loads(self.store.read_text(f"{self._key(kind, key)}.json"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):  # a damaged entry is a miss; the next store replaces it
            return None

    def store_json(self, kind: str, key: str, value: Any) -> None:
        self.store.put_text(f"{self._key(kind, key)}.json", json.dumps(value, ensure_ascii=False, sort_keys=True))

    def json(self, kind: str, key: str, produce: Callable[[], Any]) -> tuple[Any, bool]:
        """``(value, hit)``: the stored value for ``key``, else ``produce()`` stored first."""
        found = self.load_json(kind, key)
        if found is not None:
            return found, True
        value = produce()
        self.store_json(kind, key, value)
        return value, False

    # Files with a sidecar ---------------------------------------------------------------

    def entry(self, kind: str, key: str, suffix: str) -> tuple[Path, dict[str, Any]] | None:
        """``(file, meta)`` of a complete entry, or None."""
        folder = self._key(kind, key)
        try:
            meta = json.loads(self.store.read_text(f"{folder}/{META}"))
        except (OSError, ValueError):
            return None
        result = self.store.local_path(f"{folder}/{RESULT}{suffix}")
        return (result, meta) if result.is_file() else None

    def file(self, kind: str, key: str, suffix: str,
             produce: Callable[[Path], dict[str, Any] | None]) -> tuple[Path, dict[str, Any], bool]:
        """``(path, meta, hit)``. On a miss ``produce(out)`` writes the file at ``out`` and returns
        the JSON-able sidecar (or None); the entry appears only when both are complete."""
        found = self.entry(kind, key, suffix)
        if found is not None:
            return found[0], found[1], True
        folder = self._key(kind, key)
        scratch = self.store.scratch(folder)
        try:
            out = scratch / f"{RESULT}{suffix}"
            meta = produce(out) or {}
            if not out.is_file() or out.stat().st_size == 0:
                raise RuntimeError(f"the {kind} producer wrote no file (expected {out.name})")
            (scratch / META).write_text(json.dumps(meta, ensure_ascii=False, sort_keys=True), encoding="utf-8")
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        # False: another thread or process made the same entry first; theirs is as good as ours.
        self.store.put_tree(folder, scratch)
        made = self.entry(kind, key, suffix)
        if made is None:
            raise RuntimeError(f"the {kind} cache entry {key} could not be read back after it was stored")
        return made[0], made[1], False


def cached_file(root: Path, kind: str, key_parts: tuple[object, ...], suffix: str,
                produce: Callable[[Path], object]) -> Path:
    """The one-call form for stages and the renderer: the file for ``key_parts`` under ``root``
    (``var/cache``), made by ``produce(out)`` (which writes ``out``) only when it is missing."""
    path, _meta, _hit = ResultCache(root).file(kind, digest(kind, *key_parts), suffix,
                                               lambda out: (produce(out), None)[1])
    return path
