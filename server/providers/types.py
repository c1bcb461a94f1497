"""The values providers and stages exchange: small frozen dataclasses, never ORM objects.

Every request type is hashable and made only of plain values, so the result cache can key
a provider's output on ``(kind, provider name, version, fingerprint, request)`` — never on
a scene's index — and a re-run, a resumed job or an edited article pays nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class SceneSpec:
    """One scene of the timeline: what is said and the one concept that is shown."""

    index: int
    text: str
    concept: str
    visual: str
    chapter: str = ""   # the heading that starts at this scene (a chapter mark), else empty

    @property
    def word_count(self) -> int:
        return len(self.text.split())


HEADING_MARK = "## "


def split_sections(text: str) -> list[tuple[str, str]]:
    """Split narration text into ``(heading, body)`` pairs.

    Narration text is paragraphs separated by blank lines; a paragraph that starts with
    ``HEADING_MARK`` is a heading (spoken, and it starts a new scene and a chapter). Text
    before the first heading has the heading ``""``. Every stage that rewrites the text
    keeps heading paragraphs, so chapters survive to the renderer.
    """
    sections: list[tuple[str, list[str]]] = [("", [])]
    for paragraph in (p.strip() for p in text.split("\n\n")):
        if not paragraph:
            continue
        if paragraph.startswith(HEADING_MARK):
            sections.append((paragraph[len(HEADING_MARK):].strip(), []))
        else:
            sections[-1][1].append(paragraph)
    return [(heading, "\n\n".join(body)) for heading, body in sections if heading or body]


def join_sections(sections: list[tuple[str, str]]) -> str:
    """The inverse of ``split_sections``."""
    parts: list[str] = []
    for heading, body in sections:
        if heading:
            parts.append(f"{HEADING_MARK}{heading}")
        if body:
            parts.append(body)
    return "\n\n".join(parts)


@dataclass(frozen=True)
class ImageStyle:
    """How scene images look: size, theme, and the article's title for the masthead."""

    width: int
    height: int
    theme: str
    title: str
    scene_count: int


@dataclass(frozen=True)
class WordTiming:
    """One spoken word, in milliseconds from the start of its scene's audio."""

    start_ms: int
    end_ms: int
    text: str


@dataclass(frozen=True)
class Caption:
    """A caption cue, in milliseconds from the start of its scene, with its words' timings
    where the narrator gave them (so they travel with the cue through caches and the database)."""

    start_ms: int
    end_ms: int
    text: str
    words: tuple[WordTiming, ...] = ()


@dataclass(frozen=True)
class NarrationClip:
    """A scene's speech: a mono 16-bit WAV, its length, caption cues and word timings from the audio."""

    path: Path
    duration_ms: int
    captions: tuple[Caption, ...]
    provider: str
    words: tuple[WordTiming, ...] = ()


@dataclass(frozen=True)
class RenderSettings:
    """Per-job video settings, fixed when the job is created (front matter may override)."""

    width: int
    height: int
    fps: int
    theme: str
    aspect: str


# Requests and results, one pair per provider kind ------------------------------------------


@dataclass(frozen=True)
class VoiceRequest:
    """Text to make speakable, optionally rewritten in an author's voice."""

    text: str
    title: str = ""
    language: str = "en"
    style_guide: str = ""          # a written style profile; empty when there are no samples
    style_excerpts: tuple[str, ...] = ()
    max_words: int | None = None   # condense to at most this many words when set
    sentence_limit: int | None = None  # the author's long-sentence length (90th percentile), for local pacing


@dataclass(frozen=True)
class VoiceResult:
    text: str
    rewritten: bool                # False: the text was only normalised, not rewritten
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TimelineRequest:
    """Spoken text to cut into scenes, each with one concrete concept and a visual description."""

    text: str
    title: str = ""
    language: str = "en"
    theme: str = "midnight"


@dataclass(frozen=True)
class Timeline:
    scenes: tuple[SceneSpec, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImageRequest:
    """One scene's picture: the scene and how every picture of this video looks."""

    scene: SceneSpec
    style: ImageStyle
    aspect: str = "9:16"


@dataclass(frozen=True)
class ImageResult:
    path: Path
    seed: int | None = None
    meta: dict[str, object] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class NarrationRequest:
    """One scene's text to speak, with the silence that follows it."""

    text: str
    language: str = "en"
    voice: str = ""                # a provider-specific voice name; empty for the provider's default
    pause_ms: int = 350


@dataclass(frozen=True)
class Usage:
    """What one external call consumed, for the cost ledger."""

    input_tokens: int = 0
    output_tokens: int = 0
    images: int = 0
    audio_tokens: int = 0
