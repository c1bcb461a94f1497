"""Which files in the inbox are articles, and which are temp, editor, OS or sync-tool junk."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

ARTICLE_SUFFIXES = (".md", ".markdown", ".mdx")  # the server accepts the same (server/intake.py)
JUNK_PATTERNS = (
    "*.part", "*.partial", "*.crdownload", "*.download", "*.tmp", "*.temp", "*.swp", "*.swo", "*.swx", "*~",
    "~$*", ".~lock.*", "#*#", ".#*", "*.bak", ".DS_Store", "Thumbs.db", "desktop.ini", "*.icloud",
    ".syncthing.*", "*.sync-conflict-*", ".dropbox*", "*.!sync", "*.unison.tmp", "*.kate-swp",
)


def is_article(path: str | Path, inbox: Path) -> bool:
    """True for a non-hidden ``.md``/``.markdown``/``.mdx`` file inside the inbox that is not junk."""
    path, root = str(path), str(inbox)
    if not path.startswith(root + os.sep):
        return False
    relative = path[len(root) + 1:]
    if relative.startswith(".") or f"{os.sep}." in relative:
        return False
    name = relative.rsplit(os.sep, 1)[-1]
    if not name.lower().endswith(ARTICLE_SUFFIXES):
        return False
    return not any(fnmatch.fnmatchcase(name, pattern) for pattern in JUNK_PATTERNS)


def inside(path: Path, inbox: Path) -> bool:
    """True when ``path`` resolves inside the inbox (symlinks are not followed out of it)."""
    try:
        path.resolve().relative_to(inbox.resolve())
        return True
    except (ValueError, OSError):
        return False
