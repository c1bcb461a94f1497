"""Where finished files go: one small interface, a local-filesystem implementation.

Workers on several machines must write the outbox (and read assets and the cache) in one
place every machine reaches. Today that is a shared folder (NFS, SMB); object storage is
one more class with the same four methods. Keys are relative POSIX paths; a key can never
name anything outside the store's root.

Every write is atomic for readers: the bytes go to a temporary name beside the target and
are renamed into place, so a watcher of the outbox never sees half a file.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath
from typing import Protocol

from config import Settings


class StorageKeyError(ValueError):
    """A key that is empty, absolute, hidden or climbs out of the store with ``..``."""

    def __init__(self, key: str):
        super().__init__(f"storage key {key!r} must be a relative path inside the store (no '..', not hidden)")
        self.key = key


class FileStore(Protocol):
    def put_file(self, key: str, source: Path) -> None: ...
    def put_text(self, key: str, text: str) -> None: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...


class LocalStore:
    """A folder on this machine (or a mount every worker shares)."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, key: str) -> Path:
        parts = PurePosixPath(key).parts
        if not parts or key.startswith("/") or "\\" in key or "\x00" in key \
                or any(p in ("..", ".") or p.startswith(".") for p in parts):
            raise StorageKeyError(key)
        return self.root.joinpath(*parts)

    def put_file(self, key: str, source: Path) -> None:
        target = self.path(key)
        temp = self._temp(target)
        shutil.copyfile(source, temp)
        with temp.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, target)

    def put_text(self, key: str, text: str) -> None:
        target = self.path(key)
        temp = self._temp(target)
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, target)

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    @staticmethod
    def _temp(target: Path) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        return target.with_name(f".{target.name}.{os.getpid()}.tmp{target.suffix}")


def outbox_store(settings: Settings) -> FileStore:
    """The store finished videos and error notes are published to."""
    return LocalStore(settings.outbox_dir)
