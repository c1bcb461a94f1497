"""Content digests, used to verify downloaded-by-pip models and to key caches and assets."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cached_file_sha256(path: Path) -> str:
    """file_sha256, computed once per process for each (path, size, mtime): for large model files."""
    st = path.stat()
    return _cached(str(path), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=16)
def _cached(path: str, _size: int, _mtime_ns: int) -> str:
    return file_sha256(Path(path))
