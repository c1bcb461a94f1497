"""The spool: a ready file is copied here (write, fsync, rename) before it is queued."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def spool_copy(source: Path, spool_dir: Path) -> tuple[str, Path, int]:
    """Copy ``source`` into the spool under its sha256; return (sha256, spool path, size)."""
    spool_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    temp = spool_dir / f".incoming.{os.getpid()}.{os.urandom(4).hex()}"
    size = 0
    try:
        with source.open("rb") as reader, temp.open("wb") as writer:
            for block in iter(lambda: reader.read(1 << 20), b""):
                digest.update(block)
                writer.write(block)
                size += len(block)
            writer.flush()
            os.fsync(writer.fileno())
        sha = digest.hexdigest()
        target = spool_dir / f"{sha}.md"
        os.replace(temp, target)  # same content, same name: replacing it changes nothing
        _fsync_dir(spool_dir)
        return sha, target, size
    finally:
        temp.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
