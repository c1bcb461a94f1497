"""Joining: segments concatenated without re-encoding, the soundtrack and chapter marks muxed in.

The result is H.264 High yuv420p + AAC in an MP4 with ``+faststart`` (the index first, so
a player starts before the download ends) and chapter marks from an ffmetadata file,
which players show as chapters.
"""

from __future__ import annotations

from pathlib import Path

from server.renderer import process
from server.renderer.model import Chapter


def _quote(path: Path) -> str:
    return str(path).replace("'", r"'\''")


def ffmetadata(chapters: tuple[Chapter, ...], duration_ms: int, title: str) -> str:
    """Chapters as an ffmetadata document (each runs to the next one's start)."""

    def escape(value: str) -> str:
        for ch in "\\=;#\n":
            value = value.replace(ch, "\\" + ch)
        return value

    lines = [";FFMETADATA1"]
    if title:
        lines.append(f"title={escape(title)}")
    for i, chapter in enumerate(chapters):
        end = chapters[i + 1].start_ms if i + 1 < len(chapters) else duration_ms
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={chapter.start_ms}", f"END={end}",
                  f"title={escape(chapter.title)}"]
    return "\n".join(lines) + "\n"


def join(segments: list[Path], audio: Path, metadata: Path, out: Path) -> None:
    listing = out.with_name(f".{out.stem}.segments.txt")
    listing.write_text("".join(f"file '{_quote(p)}'\n" for p in segments), encoding="utf-8")
    try:
        process.run(["-f", "concat", "-safe", "0", "-i", str(listing), "-i", str(audio), "-i", str(metadata),
                     "-map", "0:v:0", "-map", "1:a:0", "-map_metadata", "2", "-map_chapters", "2",
                     "-c", "copy", "-movflags", "+faststart", "-f", "mp4", str(out)], "the final join")
    finally:
        listing.unlink(missing_ok=True)


def description_list(chapters: tuple[Chapter, ...]) -> str:
    """Chapters as a list to paste into a video description (YouTube's format: the first
    at 0:00, one per line)."""

    def stamp(ms: int) -> str:
        s = ms // 1000
        h, rest = divmod(s, 3600)
        m, s = divmod(rest, 60)
        return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"

    return "".join(f"{stamp(c.start_ms)} {c.title}\n" for c in chapters)
