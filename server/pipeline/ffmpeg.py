"""Running the ffmpeg binary that imageio-ffmpeg ships (no apt package needed)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from server.errors import StageError
from server.pipeline import cancel


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def run_ffmpeg(args: list[str], *, stage: str = "compose", timeout: float = 900) -> None:
    """Run ffmpeg quietly; on failure raise StageError with the tail of its log."""
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]
    with subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, errors="replace") as process, cancel.watch(process):
        try:
            _out, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as error:
            process.kill()
            process.communicate()
            raise StageError(stage, f"ffmpeg took longer than {timeout:.0f} s") from error
    if process.returncode != 0:
        tail = "\n".join(stderr.strip().splitlines()[-6:])
        if process.returncode < 0:  # killed by a signal (SIGKILL: most likely out of memory): not retried unchanged
            raise StageError(stage, f"ffmpeg was killed by signal {-process.returncode}: {tail}", retryable=False)
        raise StageError(stage, f"ffmpeg failed (exit {process.returncode}): {tail}")


@dataclass(frozen=True)
class MediaFacts:
    """What ffprobe would say, read from ``ffmpeg -i`` (imageio-ffmpeg ships no ffprobe)."""

    duration_s: float
    video_codec: str | None
    width: int | None
    height: int | None
    audio_codec: str | None


def probe(path: Path) -> MediaFacts:
    result = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
                            capture_output=True, text=True, timeout=60, check=False)
    log = result.stderr
    duration = re.search(r"Duration: (\d+):(\d+):(\d+\.\d+)", log)
    video = re.search(r"Stream #\S+.*?: Video: (\w+).*?, (\d{2,5})x(\d{2,5})", log)
    audio = re.search(r"Stream #\S+.*?: Audio: (\w+)", log)
    seconds = 0.0
    if duration:
        h, m, s = duration.groups()
        seconds = int(h) * 3600 + int(m) * 60 + float(s)
    return MediaFacts(
        duration_s=seconds,
        video_codec=video.group(1) if video else None,
        width=int(video.group(2)) if video else None,
        height=int(video.group(3)) if video else None,
        audio_codec=audio.group(1) if audio else None,
    )
