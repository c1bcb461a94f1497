"""From scenes to a ``VideoPlan``: frame-exact timing, cuts, captions, title, chapters.

Time is counted in video frames: each scene lasts a whole number of frames (its audio is
padded to match), the title card comes first, and every caption, chapter and SRT cue is
derived from the same frame positions, so the picture, the sound, the burned captions and
the .srt can only agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from math import gcd
from pathlib import Path

from server.renderer import ass, style
from server.digests import file_sha256
from server.pipeline.cache import ResultCache
from server.renderer.audio import AAC_FRAME, BITRATE, OUTPUT_RATE, frames_for, voiced_frames
from server.renderer.fonts import NO_SPACES, CaptionFont, primary_language
from server.renderer.model import (AudioChunk, AudioClip, AudioMix, CaptionTrack, Chapter, Cut, Encoding, Phrase,
                                   Segment, Still, TitleCard, Transition, VideoPlan, Word)
from server.renderer.readability import Audit, Placed, audit


@dataclass(frozen=True)
class SceneInput:
    """One scene as the renderer needs it: picture, speech, word timings (ms from the start
    of the scene's audio) and the chapter heading that starts here, if any."""

    image: Path
    image_sha256: str
    narration: Path
    words: tuple[Word, ...]
    chapter: str = ""


@dataclass(frozen=True)
class HouseStyle:
    encoding: Encoding
    text_rgb: tuple[int, int, int] = (255, 255, 255)
    highlight_rgb: tuple[int, int, int] = (255, 200, 40)
    title_ms: int = 1800
    crossfade_ms: int = 320
    music: Path | None = None
    music_gain_db: float = -20.0
    captions: bool = True
    audio_bitrate: str = BITRATE


@dataclass(frozen=True)
class Layout:
    """Where things landed in video time, for the manifest and the .srt."""

    scene_starts_ms: tuple[int, ...]
    scene_durations_ms: tuple[int, ...]
    phrases: tuple[Phrase, ...]
    audit: Audit | None
    title_ms: int
    duration_ms: int
    joiner: str = " "
    notes: tuple[str, ...] = field(default=())


def ms(frames: int, fps: int) -> int:
    return frames * 1000 // fps


BODY_FRAMES = 120   # at 30 fps (4 s): the longest piece of a scene rendered as one segment
MAX_UNIT_MS = 600   # beyond this (24 fps needs 64 frames, 2.7 s) a scene's rounding would be heard as a gap


def _even_pieces(start: int, end: int, longest: int) -> list[tuple[int, int]]:
    """Frames ``start`` to ``end`` as (start, length) pieces of at most ``longest``, as even as whole frames allow."""
    count = -(-(end - start) // longest)
    edges = [start + (end - start) * k // count for k in range(count + 1)] if count else [start]
    return [(a, b - a) for a, b in zip(edges, edges[1:])]


def audio_unit(fps: int) -> int:
    """The fewest video frames that hold a whole number of AAC frames (1024 samples at
    48 kHz): 16 at 30 fps (533 ms), 8 at 25 fps. 0 when no short unit exists, and then
    the soundtrack is encoded in one piece."""
    if OUTPUT_RATE % fps:
        return 0
    unit = AAC_FRAME // gcd(AAC_FRAME, OUTPUT_RATE // fps)
    return unit if ms(unit, fps) <= MAX_UNIT_MS else 0


def _rounded_up(frames: int, unit: int) -> int:
    return -(-frames // unit) * unit


def plan_video(scenes: list[SceneInput], title: str, language: str | None, house: HouseStyle, font: CaptionFont,
               fonts_dir: Path, narration_track: Path, cache_dir: Path | None = None
               ) -> tuple[VideoPlan, Layout]:
    """The plan and its layout. ``cache_dir``: where the
    readability audit keeps each scene's figures (none: measured afresh)."""
    if not scenes:
        raise ValueError("a video needs at least one scene")
    enc = house.encoding
    fps, width, height = enc.fps, enc.width, enc.height
    spoken = [frames_for(s.narration, fps)[0] for s in scenes]
    title_frames = round(house.title_ms * fps / 1000) if title.strip() else 0
    # Without music each scene's sound is a chunk of its own (see model.AudioChunk): it
    # starts and ends with at least one AAC frame of silence (``guard``) and lasts a whole
    # number of ``unit``s, so an edited scene re-encodes its own sound only and every other
    # scene's, wherever it moved, is the same cached chunk. The scene is rounded to the
    # nearest unit, cutting into the clip's trailing silence (narrators end a clip with
    # about half a second of it; 100 ms is always kept) rather than always rounding up,
    # so the pause between scenes stays what the narrator made it, give or take a quarter
    # of a second (at 30 fps), and the video no longer. With music (which runs across the
    # joins) the soundtrack is one piece and only its end is rounded.
    unit = audio_unit(fps)
    chunked = bool(unit) and house.music is None
    guard = -(-AAC_FRAME * fps // OUTPUT_RATE) if chunked else 0
    leads = [guard] * len(scenes)
    if chunked:
        counts = []
        for scene, natural in zip(scenes, spoken):
            shortest = _rounded_up(guard + voiced_frames(scene.narration, fps) + guard, unit)
            counts.append(max(shortest, round((guard + natural + guard) / unit) * unit))
        if title_frames:
            title_frames = max(unit, round(title_frames / unit) * unit)
    else:
        counts = list(spoken)
        if unit:
            counts[-1] += _rounded_up(title_frames + sum(counts), unit) - title_frames - sum(counts)
    fade = min(round(house.crossfade_ms * fps / 1000), min(counts) // 3, title_frames // 2 if title_frames else 10**6)
    starts = []
    cursor = title_frames
    for count in counts:
        starts.append(cursor)
        cursor += count
    total = cursor
    joiner = "" if primary_language(language) in NO_SPACES else " "

    per_scene: list[list[Word]] = []
    for scene, start, lead in zip(scenes, starts, leads):
        offset = ms(start, fps) + ms(lead, fps)   # not ms(start + lead): the same for a scene wherever it moved
        per_scene.append([Word(offset + w.start_ms, offset + w.end_ms, w.text) for w in scene.words])

    look = style.caption_look(width, height, font.family, house.text_rgb, house.highlight_rgb, 0.0)
    phrases: tuple[Phrase, ...] = ()
    if house.captions:
        for words, start, count in zip(per_scene, starts, counts):
            # Scene-relative times are counted from the scene's own start (``ms(start)``, the
            # offset its words got), so a scene that only moved gets the same captions, to the
            # centisecond, and its segments are reused.
            phrases += style.phrases(words, ms(start, fps) + ms(count, fps), look, font.path, width, joiner)

    card = None
    cuts: list[Cut] = []
    first = Still(scenes[0].image, scenes[0].image_sha256)
    if title_frames:
        size = max(16, round(min(width, height) * 0.1))
        card = TitleCard(style.wrap_title(title.strip(), font.path, size, int(width * 0.8)), title_frames,
                         ms(title_frames, fps), font.family, size, house.highlight_rgb)
        cuts.append(Cut(Still(first.path, first.sha256, blur=max(2, width // 60), dim=0.6),
                        style.motion_for(5, width, height), title_frames))
    for scene, count in zip(scenes, counts):
        # The pan is chosen by the picture, not by the scene's place: an inserted paragraph
        # shifts every later index, and would change (and re-render) every later scene.
        cuts.append(Cut(Still(scene.image, scene.image_sha256),
                        style.motion_for(int(scene.image_sha256[:8], 16), width, height), count))
    cuts = [Cut(c.still, c.motion, c.frames, fade if i + 1 < len(cuts) else 0) for i, c in enumerate(cuts)]

    report = None
    if house.captions and phrases:   # contrast on the frames each phrase is burned into; boxes where short
        placed, frame = [], 0
        for i, cut in enumerate(cuts):
            placed.append(Placed(cut, frame, fade if i else 0))
            frame += cut.frames
        report, boxes = audit(phrases, placed, enc, look, font.path, joiner, (house.text_rgb, house.highlight_rgb),
                              card, ResultCache(cache_dir) if cache_dir is not None else None, font.sha256)
        phrases = tuple(replace(p, box_opacity=b) for p, b in zip(phrases, boxes))
    track = CaptionTrack(phrases, look) if house.captions else None

    segments = []
    frame = 0
    for i, cut in enumerate(cuts):
        # (start, length, entered from): the crossfade into a cut is a segment of its own, so
        # the rest of the cut does not depend on the cut before it (see model.Segment).
        # The rest is cut into even pieces of at most ``BODY_FRAMES``, so an edited scene is
        # rendered on every core at once, not on one while the others wait (even: 150 frames
        # were 120 + 30, and the 120 alone set the edit's time; 121 left a 1-frame segment).
        pieces = [(0, fade, cuts[i - 1])] if i and fade else []
        body = fade if i and fade else 0
        pieces += [(at, length, None) for at, length in _even_pieces(body, cut.frames, BODY_FRAMES * fps // 30)]
        for start, length, before in pieces:
            window = (ms(frame, fps) + ms(start, fps), ms(frame, fps) + ms(start + length, fps))
            text = ass.document(width, height, track.look if track else None, track.phrases if track else (),
                                card, window, joiner)
            segments.append(Segment(cut=cut, enter_from=before, transition=Transition("fade", fade if before else 0),
                                    ass=text, encoding=enc, fonts=(font.sha256,) if text else (), start=start,
                                    length=length))
        frame += cut.frames

    chapters = [Chapter(ms(start, fps) if i else 0, s.chapter.strip())   # the title card opens the first one
                for i, (s, start) in enumerate(zip(scenes, starts)) if s.chapter.strip()]
    if chapters and chapters[0].start_ms > 0:
        chapters.insert(0, Chapter(0, title.strip() or "Introduction"))  # players want the first mark at 0:00
    if len(chapters) < 2:
        chapters = []   # one chapter is the whole video: no marks, no list
    clips = [AudioClip(s.narration, file_sha256(s.narration), lead, count - 2 * lead)   # the guards stay silent
             for s, lead, count in zip(scenes, leads, counts)]
    if chunked:
        chunks = ((AudioChunk(title_frames, ()),) if title_frames else ()) + tuple(
            AudioChunk(count, (clip,)) for clip, count in zip(clips, counts))
    else:
        placed = tuple(AudioClip(c.path, c.sha256, start + c.start_frame, c.frames) for c, start in zip(clips, starts))
        chunks = (AudioChunk(total, placed),)
    mix = AudioMix(narration=narration_track, duration_ms=ms(total, fps), music=house.music,
                   music_gain_db=house.music_gain_db, fps=fps, chunks=chunks, bitrate=house.audio_bitrate)
    video = VideoPlan(tuple(segments), mix, tuple(chapters), enc, fonts_dir, title.strip())
    layout = Layout(tuple(ms(s, fps) for s in starts), tuple(ms(s + c, fps) - ms(s, fps) for s, c in zip(starts, counts)),
                    phrases, report, ms(title_frames, fps), ms(total, fps), joiner)
    return video, layout

