"""Small frozen values the stages pass between them (never ORM objects)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SceneSpec:
    """One scene of the timeline: what is said and the one concept that is shown."""

    index: int
    text: str
    concept: str
    visual: str

    @property
    def word_count(self) -> int:
        return len(self.text.split())


@dataclass(frozen=True)
class ImageStyle:
    """How scene images look: size, theme, and the article's title for the masthead."""

    width: int
    height: int
    theme: str
    title: str
    scene_count: int


@dataclass(frozen=True)
class Caption:
    """A caption cue, in milliseconds from the start of its scene."""

    start_ms: int
    end_ms: int
    text: str


@dataclass(frozen=True)
class NarrationClip:
    """A scene's speech: a mono 16-bit WAV, its length, and caption cues timed from the audio."""

    path: Path
    duration_ms: int
    captions: tuple[Caption, ...]
    provider: str


@dataclass(frozen=True)
class RenderSettings:
    """Per-job video settings, fixed when the job is created (front matter may override)."""

    width: int
    height: int
    fps: int
    theme: str
    aspect: str
