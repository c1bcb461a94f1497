"""Which files in the inbox are articles, and which are temp, editor, OS or sync-tool junk."""

from __future__ import annotations

import fnmatch
from pathlib import Path

ARTICLE_SUFFIXES = (".md", ".markdown")
JUNK_PATTERNS = (
    "*.part", "*.partial", "*.crdownload", "*.download", "*.tmp", "*.temp", "*.swp", "*.swo", "*.swx", "*~",
    "~$*", ".~lock.*", "#*#", ".#*", "*.bak", ".DS_Store", "Thumbs.db", "desktop.ini", "*.icloud",
    ".syncthing.*", "*.sync-conflict-*", ".dropbox*", "*.!sync", "*.unison.tmp", "*.kate-swp",
)


def is_article(path: Path, inbox: Path) -> bool:
    """True for a non-hidden ``.md``/``.markdown`` file inside the inbox that is not junk."""
    try:
        relative = path.relative_to(inbox)
    except ValueError:
        return False
    if any(part.startswith(".") for part in relative.parts):
        return False
    name = path.name
    if any(fnmatch.fnmatchcase(name, pattern) for pattern in JUNK_PATTERNS):
        return False
    return path.suffix.lower() in ARTICLE_SUFFIXES


def inside(path: Path, inbox: Path) -> bool:
    """True when ``path`` resolves inside the inbox (symlinks are not followed out of it)."""
    try:
        path.resolve().relative_to(inbox.resolve())
        return True
    except (ValueError, OSError):
        return False
