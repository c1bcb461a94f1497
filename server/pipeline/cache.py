"""THE result cache: a paid or slow result is made once, whoever asks for it again.

Check, else produce into a temporary name in the same folder, fsync, rename. Two kinds
of entries, both under ``var/cache/<kind>/<key[:2]>/``:

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
import os
import shutil
import tempfile
from pathlib import Path, PurePath
from typing import Any, Callable, TypeVar

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


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_folder(path: Path) -> None:
    if os.name == "posix":  # folders cannot be opened for fsync on Windows; renames are durable enough there
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


class ResultCache:
    """Content-addressed results under one root folder (``var/cache``)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _folder(self, kind: str, key: str) -> Path:
        if not kind.isidentifier() or len(key) != 64:
            raise ValueError(f"bad cache kind or key: {kind!r}, {key!r}")
        folder = self.root / kind / key[:2]
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    # JSON results -----------------------------------------------------------------------

    def load_json(self, kind: str, key: str) -> Any | None:
        """The stored JSON value, or None when there is none (or it is unreadable)."""
        path = self._folder(kind, key) / f"{key}.json"
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):  # a damaged entry is a miss; the next store replaces it
            return None

    def store_json(self, kind: str, key: str, value: Any) -> None:
        target = self._folder(kind, key) / f"{key}.json"
        handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{key}.", suffix=".tmp")
        temp = Path(temp_name)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(value, stream, ensure_ascii=False, sort_keys=True)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        _fsync_folder(target.parent)

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
        folder = self._folder(kind, key) / key
        try:
            meta = json.loads((folder / META).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        result = folder / f"{RESULT}{suffix}"
        return (result, meta) if result.is_file() else None

    def file(self, kind: str, key: str, suffix: str,
             produce: Callable[[Path], dict[str, Any] | None]) -> tuple[Path, dict[str, Any], bool]:
        """``(path, meta, hit)``. On a miss ``produce(out)`` writes the file at ``out`` and returns
        the JSON-able sidecar (or None); the entry appears only when both are complete."""
        found = self.entry(kind, key, suffix)
        if found is not None:
            return found[0], found[1], True
        parent = self._folder(kind, key)
        scratch = Path(tempfile.mkdtemp(dir=parent, prefix=f".{key}.", suffix=".tmp"))
        try:
            out = scratch / f"{RESULT}{suffix}"
            meta = produce(out) or {}
            if not out.is_file() or out.stat().st_size == 0:
                raise RuntimeError(f"the {kind} producer wrote no file (expected {out.name})")
            (scratch / META).write_text(json.dumps(meta, ensure_ascii=False, sort_keys=True), encoding="utf-8")
            _fsync(out)
            _fsync(scratch / META)
            _fsync_folder(scratch)
            final = parent / key
            try:
                os.rename(scratch, final)
            except OSError:
                if self.entry(kind, key, suffix) is None:
                    raise
                # Another thread or process made the same entry first: theirs is as good as ours.
                shutil.rmtree(scratch, ignore_errors=True)
            else:
                _fsync_folder(parent)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        made = self.entry(kind, key, suffix)
        assert made is not None, "a renamed cache entry must be readable"
        return made[0], made[1], False


def cached_file(root: Path, kind: str, key_parts: tuple[object, ...], suffix: str,
                produce: Callable[[Path], object]) -> Path:
    """The one-call form for stages and the renderer: the file for ``key_parts`` under ``root``
    (``var/cache``), made by ``produce(out)`` (which writes ``out``) only when it is missing."""
    path, _meta, _hit = ResultCache(root).file(kind, digest(kind, *key_parts), suffix,
                                               lambda out: (produce(out), None)[1])
    return path
