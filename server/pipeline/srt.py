"""SubRip captions: the same cues that are burned into the video, in global time."""

from __future__ import annotations

from collections.abc import Iterable

from server.models import Scene


def timestamp(ms: int) -> str:
    hours, rest = divmod(max(0, ms), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d},{millis:03d}"


def srt_document(scenes: Iterable[Scene]) -> str:
    blocks = []
    for scene in scenes:
        for cue in scene.captions or []:
            start = (scene.start_ms or 0) + int(cue["start_ms"])
            end = (scene.start_ms or 0) + int(cue["end_ms"])
            blocks.append(f"{len(blocks) + 1}\n{timestamp(start)} --> {timestamp(end)}\n{cue['text']}\n")
    return "\n".join(blocks)
