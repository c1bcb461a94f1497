"""SubRip captions: exactly the phrases burned into the video, at the same times."""

from __future__ import annotations

from collections.abc import Iterable

from server.renderer.model import Phrase


def timestamp(ms: int) -> str:
    hours, rest = divmod(max(0, ms), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d},{millis:03d}"


def phrases_srt(phrases: Iterable[Phrase], joiner: str = " ") -> str:
    """One cue per on-screen phrase (its lines as shown), in video time."""
    blocks = []
    for i, phrase in enumerate(phrases, start=1):
        text = "\n".join(joiner.join(w.text for w in line) for line in phrase.lines)
        blocks.append(f"{i}\n{timestamp(phrase.start_ms)} --> {timestamp(phrase.end_ms)}\n{text}\n")
    return "\n".join(blocks)
