"""Where files live: one small interface, a local-filesystem implementation.

Three stores share it: the **outbox** (finished videos and error notes), the **assets**
(``var/jobs/<id>/``: a job's own intermediate files) and the **cache** (``var/cache``:
content-addressed results every job shares). Workers on several machines must reach all
three in one place; today that is a shared folder (NFS, SMB) and ``LocalStore``; object
storage is one more class with the same methods. Keys are relative POSIX paths; a key can
never name anything outside the store's root.

Every write is atomic for readers: the bytes go to a temporary name beside the target
(unique per process and thread) and are renamed into place, so a watcher of the outbox
never sees half a file, and a cache reader never sees a file without its sidecar
(``put_tree`` renames a whole folder at once; the first writer of a key wins).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Protocol

from config import Settings


class StorageKeyError(ValueError):
    """A key that is empty, absolute, hidden or climbs out of the store with ``..``."""

    def __init__(self, key: str):
        super().__init__(f"storage key {key!r} must be a relative path inside the store (no '..', not hidden)")
        self.key = key


class FileStore(Protocol):
    def put_file(self, key: str, source: Path, *, move: bool = False) -> None: ...
    def put_text(self, key: str, text: str) -> None: ...
    def put_tree(self, key: str, folder: Path) -> bool: ...
    def read_text(self, key: str) -> str: ...
    def local_path(self, key: str) -> Path: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def scratch(self, key: str) -> Path: ...


class LocalStore:
    """A folder on this machine (or a mount every worker shares)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        parts = PurePosixPath(key).parts
        if not parts or key.startswith("/") or "\\" in key or "\x00" in key \
                or any(p in ("..", ".") or p.startswith(".") for p in parts):
            raise StorageKeyError(key)
        return self.root.joinpath(*parts)

    def put_file(self, key: str, source: Path, *, move: bool = False) -> None:
        """Store a copy of ``source`` (or ``source`` itself with ``move``: no copy on one filesystem)."""
        target = self.path(key)
        temp = self._temp(target)
        try:
            if move:
                shutil.move(source, temp)
            else:
                shutil.copyfile(source, temp)
            os.chmod(temp, FILE_MODE)
            _fsync(temp)
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def put_text(self, key: str, text: str) -> None:
        target = self.path(key)
        temp = self._temp(target)
        try:
            with temp.open("w", encoding="utf-8") as stream:
                stream.write(text)
                stream.flush()
                os.fsync(stream.fileno())
            os.chmod(temp, FILE_MODE)
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        _fsync_folder(target.parent)

    def put_tree(self, key: str, folder: Path) -> bool:
        """Publish ``folder`` (made with ``scratch``) as ``key`` in one rename.

        False when ``key`` already exists: another writer was first and theirs is kept
        (``folder`` is removed either way)."""
        target = self.path(key)
        try:
            for item in folder.iterdir():
                if item.is_file():
                    os.chmod(item, FILE_MODE)
                    _fsync(item)
            os.chmod(folder, FOLDER_MODE)
            _fsync_folder(folder)
            try:
                os.rename(folder, target)
            except OSError:
                if target.is_dir():
                    return False
                raise
            _fsync_folder(target.parent)
            return True
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def read_text(self, key: str) -> str:
        return self.path(key).read_text(encoding="utf-8")

    def local_path(self, key: str) -> Path:
        """A file on this machine holding ``key``'s bytes, to read (here: the stored file itself)."""
        return self.path(key)

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def scratch(self, key: str) -> Path:
        """A new private folder on the same filesystem as ``key``, for building what ``put_*`` stores."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))

    @staticmethod
    def _temp(target: Path) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=f".tmp{target.suffix}")
        os.close(handle)
        return Path(name)


def _current_umask() -> int:
    mask = os.umask(0o022)   # reading it means setting it: done once, at import, before any thread writes
    os.umask(mask)
    return mask


# What a file or folder made the ordinary way would get. Temporary names come from mkstemp and
# mkdtemp, which make them private (0600, 0700): published videos were unreadable by anyone else.
_UMASK = _current_umask()
FILE_MODE, FOLDER_MODE = 0o666 & ~_UMASK, 0o777 & ~_UMASK


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


def outbox_store(settings: Settings) -> LocalStore:
    """The store finished videos and error notes are published to."""
    return LocalStore(settings.outbox_dir)


def asset_store(settings: Settings) -> LocalStore:
    """Jobs' own intermediate files, under ``<job id>/``."""
    return LocalStore(settings.var_dir / "jobs")


def cache_store(settings: Settings) -> LocalStore:
    """The content-addressed result cache every job shares."""
    return LocalStore(settings.var_dir / "cache")
