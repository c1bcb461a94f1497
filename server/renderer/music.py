"""Background music: which file, if any, from MEDIABUDDY_MUSIC_DIR and the front matter.

Front matter ``music: NAME`` picks a file in the music folder (a name, never a path out
of it); ``music: none`` turns music off; with no choice, a file is picked from the folder
by the article's slug, so the same article always gets the same track.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

AUDIO_SUFFIXES = frozenset({".mp3", ".m4a", ".aac", ".ogg", ".opus", ".wav", ".flac"})


class MusicProblem(ValueError):
    """The music asked for cannot be used; the video is made without it and the job says why."""


def choose_music(folder: Path | None, asked: object, slug: str) -> Path | None:
    if isinstance(asked, str) and asked.strip().lower() in ("none", "off", "false", ""):
        return None
    if asked is False:
        return None
    if folder is None:
        if asked:
            raise MusicProblem(f"front matter asks for music {asked!r} but MEDIABUDDY_MUSIC_DIR is not set; "
                               f"made the video without music")
        return None
    tracks = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    if asked:
        name = str(asked).strip()
        for track in tracks:
            if name in (track.name, track.stem):
                return track
        raise MusicProblem(f"music {name!r} is not in MEDIABUDDY_MUSIC_DIR ({folder}); available: "
                           f"{', '.join(t.name for t in tracks) or 'none'}; made the video without music")
    if not tracks:
        return None
    return tracks[int(hashlib.sha256(slug.encode()).hexdigest(), 16) % len(tracks)]
