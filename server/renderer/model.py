"""What to render: small frozen dataclasses, separate from how ffmpeg renders them.

moviepy's ``Effect`` dataclasses are the model: each value says what a viewer sees or
hears and carries only plain data (sizes in pixels, times in frames or milliseconds,
files by path *and* content digest). The ``graph``, ``ass`` and ``audio`` modules turn
them into ffmpeg filtergraphs; ``segments`` keys its cache on these values, so anything
that changes a frame must be a field here and nothing else may be.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Encoding:
    """The output stream: size, rate and x264 settings (identical for every segment, so
    segments join without re-encoding)."""

    width: int
    height: int
    fps: int
    preset: str = "veryfast"
    crf: int = 23

    def __post_init__(self) -> None:
        if self.width % 2 or self.height % 2:
            raise ValueError(f"H.264 needs even sizes, got {self.width}x{self.height}")


@dataclass(frozen=True)
class Motion:
    """A slow pan across a still: ``dx``/``dy`` whole pixels per frame (sub-pixel steps
    would need interpolation per frame or jitter from rounding), turning back halfway when
    the cut is too long to travel one way without over-zooming."""

    dx: int
    dy: int
    max_travel: float = 0.10   # of the frame's size along the pan; beyond it the pan turns back


@dataclass(frozen=True)
class Still:
    """A scene picture: its file (for ffmpeg) and digest (for cache keys)."""

    path: Path = field(compare=False, hash=False)
    sha256: str
    blur: int = 0        # the title card's backdrop: blurred and dimmed once, before the loop
    dim: float = 0.0


@dataclass(frozen=True)
class Cut:
    """A still in motion for ``frames`` frames; ``tail`` more frames run on under the
    crossfade into the next cut, so both segments agree on where the pan is."""

    still: Still
    motion: Motion
    frames: int
    tail: int = 0

    @property
    def travel_frames(self) -> int:
        return self.frames + self.tail


@dataclass(frozen=True)
class Transition:
    """How a cut is entered: a crossfade of ``frames`` frames (0: a hard cut)."""

    kind: str = "fade"
    frames: int = 0


@dataclass(frozen=True)
class Word:
    """One spoken word in video time."""

    start_ms: int
    end_ms: int
    text: str


@dataclass(frozen=True)
class Phrase:
    """A caption on screen: at most two lines of words, each word highlighted while spoken."""

    lines: tuple[tuple[Word, ...], ...]
    start_ms: int
    end_ms: int
    box_opacity: float = 0.0   # a dark box behind this phrase, where the readability audit asked for one

    @property
    def words(self) -> tuple[Word, ...]:
        return tuple(w for line in self.lines for w in line)

    @property
    def text(self) -> str:
        return "\n".join(" ".join(w.text for w in line) for line in self.lines)


@dataclass(frozen=True)
class CaptionLook:
    """How captions are set: font, size, colours and the backing that keeps them legible."""

    font_family: str
    font_size: int
    text_rgb: tuple[int, int, int]
    highlight_rgb: tuple[int, int, int]
    outline: int
    margin_v: int          # pixels from the bottom edge to the caption's baseline block
    margin_h: int
    box_opacity: float     # 0: outline only; else a dark box of this opacity behind each line


@dataclass(frozen=True)
class CaptionTrack:
    phrases: tuple[Phrase, ...]
    look: CaptionLook


@dataclass(frozen=True)
class TitleCard:
    """The opening card: the title over the first picture, blurred and dimmed."""

    title: str
    frames: int
    end_ms: int           # when the title leaves the screen, in video time
    font_family: str
    font_size: int
    accent_rgb: tuple[int, int, int]


@dataclass(frozen=True)
class Chapter:
    start_ms: int
    title: str


@dataclass(frozen=True)
class AudioClip:
    """One scene's narration: its file (for reading) and digest (for cache keys), placed
    ``start_frame`` video frames into its chunk, with ``frames`` frames of room (the clip,
    then silence)."""

    path: Path = field(compare=False, hash=False)
    sha256: str
    start_frame: int
    frames: int


@dataclass(frozen=True)
class AudioChunk:
    """A stretch of the soundtrack encoded on its own and cached by what it holds, not where
    it is: ``frames`` video frames (a whole number of AAC frames, see ``plan.audio_unit``)
    that begin and end in silence, so encoded chunks join sample-exactly without a click."""

    frames: int
    clips: tuple[AudioClip, ...]


@dataclass(frozen=True)
class AudioMix:
    """The soundtrack: narration (laid out in video time by ``audio.lay_out``) and optional
    music. ``chunks`` (with ``fps``) split it into pieces encoded and cached apart; none:
    the whole mix is one piece (so it is with music, which runs across every join)."""

    narration: Path
    duration_ms: int
    music: Path | None = None
    music_gain_db: float = -20.0
    music_fade_ms: int = 2500
    loudness_lufs: float = -14.0
    true_peak_db: float = -1.5      # aim below -1 dBTP so the AAC encode stays under it
    sample_rate: int = 48000
    fps: int = 30
    chunks: tuple[AudioChunk, ...] = ()
    bitrate: str = "160k"           # AAC, stereo


@dataclass(frozen=True)
class Segment:
    """One independently rendered, cached piece of the video: ``length`` frames of a cut
    from its frame ``start`` (0: to the cut's end), entered by a transition from the
    previous cut's tail when it has one, with captions in segment-local time.

    A crossfade is its own short segment and the rest of the cut another, so the body of
    a scene does not depend on the scene before it: an edit re-renders its own scene and
    the two short crossfades around it, not the whole next scene."""

    cut: Cut
    enter_from: Cut | None
    transition: Transition
    ass: str                 # the ASS document burned into this segment ("" for none)
    encoding: Encoding
    fonts: tuple[str, ...]   # font files' digests: a font update re-renders
    start: int = 0
    length: int = 0

    @property
    def frames(self) -> int:
        return self.length or self.cut.frames - self.start


@dataclass(frozen=True)
class VideoPlan:
    """Everything the renderer needs for one video."""

    segments: tuple[Segment, ...]
    audio: AudioMix
    chapters: tuple[Chapter, ...]
    encoding: Encoding
    fonts_dir: Path
    title: str = ""

    @property
    def frames(self) -> int:
        return sum(s.frames for s in self.segments)
