"""The spool: a ready file is copied here (write, fsync, rename) before it is queued.

Each queued version gets its own spool file, named ``<sha256>.<random>.md``, so deleting
one after delivery can never pull content out from under another queue item. Dead
letters keep theirs until they are replayed or purged.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

INCOMING_PREFIX = ".incoming."


def spool_copy(source: Path | str, spool_dir: Path, sync_dir: bool = True) -> tuple[str, Path, int]:
    """Copy ``source`` into the spool; return (sha256, spool path, size). Raises OSError.

    With ``sync_dir=False`` the caller fsyncs the spool folder itself, once for a batch,
    before it queues anything that points at these files.
    """
    spool_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    token = os.urandom(6).hex()
    temp = spool_dir / f"{INCOMING_PREFIX}{token}"
    size = 0
    try:
        with open(source, "rb") as reader, temp.open("wb") as writer:
            for block in iter(lambda: reader.read(1 << 20), b""):
                digest.update(block)
                writer.write(block)
                size += len(block)
            writer.flush()
            os.fsync(writer.fileno())
        sha = digest.hexdigest()
        target = spool_dir / f"{sha}.{token}.md"
        os.replace(temp, target)
        if sync_dir:
            fsync_dir(spool_dir)
        return sha, target, size
    finally:
        temp.unlink(missing_ok=True)


def discard(spool_path: str | Path) -> None:
    """Remove a spool file that no queue item needs any more."""
    if spool_path:
        Path(spool_path).unlink(missing_ok=True)


def collect_garbage(spool_dir: Path, referenced: Iterable[str]) -> int:
    """Delete spool files nothing refers to (left by a crash between spooling and queueing)."""
    if not spool_dir.is_dir():
        return 0
    keep = {Path(p).name for p in referenced if p}
    removed = 0
    with os.scandir(spool_dir) as entries:
        for entry in entries:
            if entry.is_file(follow_symlinks=False) and entry.name not in keep:
                os.unlink(entry.path)
                removed += 1
    return removed


def fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
