"""The renderer with real ffmpeg, real narrators and real fonts, at small sizes.

Checks behaviour a viewer would notice: frame counts and A/V sync, chapters a player
shows, loudness, no black frames, smooth motion, captions burned where the .srt says,
and that an edited scene re-renders only the segments it touches.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from server.digests import file_sha256
from server.pipeline.ffmpeg import ffmpeg_exe
from server.pipeline.srt import phrases_srt
from server.providers.narration.base import narrate
from server.providers.narration.espeak import EspeakNarrator
from server.renderer import process, render_video
from server.renderer.audio import lay_out
from server.renderer.fonts import caption_font, fonts_folder, missing_glyphs
from server.renderer.model import Encoding, Word
from server.renderer.plan import HouseStyle, SceneInput, plan_video

pytestmark = pytest.mark.pipeline

W, H, FPS = 240, 426, 30
TEXTS = ["Welcome to the renderer. This first scene has a few words to show.",
         "The second scene is about something else, and it keeps going for a while.",
         "Finally, the third scene closes the video. Thank you for watching."]
COLOURS = [(30, 40, 90), (200, 190, 170), (20, 90, 60)]


def _picture(path: Path, colour: tuple[int, int, int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (W, H), colour)
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x, y, r = int(rng.integers(0, W)), int(rng.integers(0, H)), int(rng.integers(4, 20))
        draw.ellipse((x, y, x + r, y + r), fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    image.save(path)


_SPOKEN: dict[str, object] = {}   # the narration cache's rule: the same text is not spoken again


def _scenes(folder: Path, texts: list[str]) -> list[SceneInput]:
    narrator = EspeakNarrator()
    scenes = []
    for i, text in enumerate(texts):
        image = folder / f"scene{i}.png"
        _picture(image, COLOURS[i % 3], i)
        if text not in _SPOKEN:
            _SPOKEN[text] = narrate(narrator, text, folder / f"scene{i}-{len(_SPOKEN)}.wav", 350)
        clip = _SPOKEN[text]
        scenes.append(SceneInput(image, file_sha256(image), clip.path,
                                 tuple(Word(w.start_ms, w.end_ms, w.text) for w in clip.words),
                                 chapter=["", "The middle", "The end"][i]))
    return scenes


def _render(folder: Path, cache: Path, texts: list[str], name: str = "out", preset: str = "veryfast"):  # noqa: ANN202
    folder.mkdir(parents=True, exist_ok=True)
    scenes = _scenes(folder, texts)
    font = caption_font("en")
    narration = folder / f"{name}-narration.wav"
    plan, layout = plan_video(scenes, "A Renderer Test", "en", HouseStyle(Encoding(W, H, FPS, preset)),
                                      font, fonts_folder(font, cache), narration)
    lay_out(plan.audio)
    result = render_video(plan, folder / f"{name}.mp4", cache, folder / f"{name}-work", workers=2)
    return plan, layout, result


def _ffmpeg_log(*args: str) -> str:
    return subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", *args], capture_output=True, text=True,
                          timeout=120).stderr


def _frames(video: Path, start_s: float = 0.0, count: int = 1, size: tuple[int, int] = (W, H)) -> np.ndarray:
    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-ss", f"{start_s:.3f}", "-i", str(video), "-frames:v",
                          str(count), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, timeout=60).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, size[1], size[0], 3).astype(np.float64)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):  # noqa: ANN001, ANN201
    folder = tmp_path_factory.mktemp("render")
    cache = folder / "cache"
    return folder, cache, *_render(folder, cache, TEXTS)


def test_streams_frames_and_sync(rendered) -> None:  # noqa: ANN001
    folder, cache, plan, layout, result = rendered
    log = _ffmpeg_log("-i", str(result.video))
    assert re.search(r"Video: h264 \(High\).*yuv420p", log) and "Audio: aac" in log
    decoded = _ffmpeg_log("-i", str(result.video), "-map", "0:v", "-f", "null", "-")
    frames = int(re.findall(r"frame=\s*(\d+)", decoded)[-1])
    assert frames == plan.frames == layout.duration_ms * FPS // 1000 + (1 if layout.duration_ms * FPS % 1000 else 0)
    audio = _ffmpeg_log("-i", str(result.video), "-map", "0:a", "-f", "null", "-")
    audio_s = [float(h) * 3600 + float(m) * 60 + float(s) for h, m, s in re.findall(r"time=(\d+):(\d+):([\d.]+)", audio)][-1]
    assert abs(audio_s - frames / FPS) < 0.040   # A/V drift under 40 ms
    with result.video.open("rb") as handle:   # +faststart: the index (moov) before the media (mdat)
        head = handle.read(1 << 16)
    assert 0 <= head.find(b"moov") < (head.find(b"mdat") if b"mdat" in head else 1 << 30)


def test_chapters_in_the_file_and_in_plan(rendered) -> None:  # noqa: ANN001
    folder, cache, plan, layout, result = rendered
    meta = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(result.video), "-f", "ffmetadata", "-"],
                          capture_output=True, text=True, timeout=60).stdout
    titles = re.findall(r"\[CHAPTER\][^\[]*?title=([^\n]*)", meta)
    assert titles == ["A Renderer Test", "The middle", "The end"]
    starts = [round(int(start) * 1000 * int(num) / int(den))
              for num, den, start in re.findall(r"TIMEBASE=(\d+)/(\d+)\s+START=(\d+)", meta)]
    assert starts[0] == 0 and starts[1:] == list(layout.scene_starts_ms[1:])
    # QuickTime and Apple players read chapters from the MP4's chapter text track; ffmpeg
    # lists them from another box even when that track is missing (a mux straight from the
    # soundtrack's ADTS dropped it, in a 3-minute video), so the track is checked apart.
    warnings = subprocess.run([ffmpeg_exe(), "-v", "warning", "-i", str(result.video), "-frames:v", "1", "-f", "null",
                               "-"], capture_output=True, text=True, timeout=60).stderr
    assert "chapter track not found" not in warnings
    assert result.video.read_bytes().count(b"trak") == 3      # video, sound, and the chapters' text track


def test_loudness_on_target(rendered) -> None:  # noqa: ANN001
    folder, cache, plan, layout, result = rendered
    log = _ffmpeg_log("-nostats", "-i", str(result.video), "-af", "ebur128=peak=true", "-f", "null", "-")
    integrated = float(re.findall(r"I:\s+(-?[\d.]+) LUFS", log)[-1])
    peak = float(re.findall(r"Peak:\s+(-?[\d.]+) dBFS", log)[-1])
    assert -14.5 <= integrated <= -13.5        # -14 LUFS within half a decibel
    assert peak <= -1.0
    assert abs(result.loudness["output_i"] - integrated) < 0.15   # the figure reported is the file's


def test_no_black_frames(rendered) -> None:  # noqa: ANN001
    folder, cache, plan, layout, result = rendered
    log = _ffmpeg_log("-i", str(result.video), "-vf", "blackdetect=d=0.04:pix_th=0.05", "-an", "-f", "null", "-")
    assert "black_start" not in log


def test_motion_is_smooth(rendered) -> None:  # noqa: ANN001
    """Consecutive frames of one scene move by the same whole-pixel step: no jitter."""
    folder, cache, plan, layout, result = rendered
    start = layout.scene_starts_ms[1] / 1000 + 0.5
    frames = _frames(result.video, start, 12).mean(axis=3)
    band = frames[:, 20:140, 20:220]   # above the captions
    steps = []
    for a, b in zip(band, band[1:]):
        errors = {(dy, dx): np.abs(np.roll(a, (dy, dx), axis=(0, 1))[4:-4, 4:-4] - b[4:-4, 4:-4]).mean()
                  for dy in (-2, -1, 0, 1, 2) for dx in (-2, -1, 0, 1, 2)}
        steps.append(min(errors, key=errors.get))
    assert len(set(steps)) == 1 and steps[0] != (0, 0), steps


def test_captions_burned_where_the_srt_says(rendered) -> None:  # noqa: ANN001
    folder, cache, plan, layout, result = rendered
    srt = phrases_srt(layout.phrases)
    assert srt.count(" --> ") == len(layout.phrases) > 3
    spoken = " ".join(w.text for p in layout.phrases for w in p.words)
    assert spoken == " ".join(TEXTS)
    band = slice(int(H * 0.55), int(H * 0.76))
    phrase = next(p for p in layout.phrases if len(p.words) >= 4)
    during = _frames(result.video, (phrase.start_ms + phrase.end_ms) / 2000)[0][band]
    gap_ms = layout.phrases[0].start_ms - 300   # the title card: no caption yet
    before = _frames(result.video, gap_ms / 1000)[0][band]
    white = lambda f: int(((f > 200).all(axis=2)).sum())  # noqa: E731 - caption letters are white
    assert white(during) > 100 and white(before) < 10, (white(during), white(before))


def test_edit_re_renders_only_touched_segments(rendered, tmp_path) -> None:  # noqa: ANN001
    folder, cache, plan, layout, result = rendered
    assert result.segments_rendered == len(plan.segments)
    texts = [TEXTS[0], "The second scene now says something shorter.", TEXTS[2]]
    plan2, layout2, again = _render(tmp_path, cache, texts, "edited")
    # The edited scene (its crossfade in and its body) and the crossfade out of it, which
    # starts from the edited scene's tail; the next scene's body is reused.
    assert again.segments_rendered == 3 and again.segments_reused == len(plan2.segments) - 3
    fresh = {i for i, s in enumerate(plan2.segments) if s not in plan.segments}
    assert [plan2.segments[i].frames for i in sorted(fresh)][2] == plan2.segments[max(fresh)].transition.frames
    assert layout2.duration_ms != layout.duration_ms


def test_killed_ffmpeg_is_not_retryable(tmp_path) -> None:
    errors: list[process.RenderFailed] = []

    def work() -> None:
        try:
            process.run(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-t", "600", "-c:v", "libx264",
                         "-f", "null", "-"], "a long test render")
        except process.RenderFailed as error:
            errors.append(error)

    thread = threading.Thread(target=work)
    thread.start()
    deadline = time.monotonic() + 10
    pid = None
    while pid is None and time.monotonic() < deadline:
        found = subprocess.run(["pgrep", "-f", "testsrc2=size=640x360:rate=30", "-P", str(__import__("os").getpid())],
                               capture_output=True, text=True).stdout.split()
        pid = int(found[0]) if found else None
        time.sleep(0.05)
    assert pid is not None
    __import__("os").kill(pid, 9)
    thread.join(timeout=30)
    assert errors and errors[0].killed and not errors[0].retryable
    assert "SIGKILL" in str(errors[0]) and "out of memory" in str(errors[0])


def test_cjk_font_has_the_glyphs() -> None:
    japanese = "日本語の字幕、中文字幕、한국어 자막"
    assert missing_glyphs(caption_font("ja"), japanese) == set()
    assert missing_glyphs(caption_font("en"), japanese)   # Source Sans would draw boxes
    assert missing_glyphs(caption_font("en"), "Café, naïve — “quoted”") == set()


def test_readability_audit_reads_the_rendered_frames_and_boxes_only_short_phrases(rendered) -> None:  # noqa: ANN001
    """The audit draws the frames each phrase is burned into (pan position and crossfade
    included) and boxes the phrases that fall short of 4.5:1, not the whole video."""
    from PIL import ImageFont

    from server.renderer.readability import WCAG_MIN, FrameDrawer, Placed, caption_area, luminance
    from server.renderer.style import caption_look

    folder, cache, plan, layout, result = rendered
    report = layout.audit
    assert report is not None and len(report.cues) == len(layout.phrases) and report.frames_sampled >= len(layout.phrases)
    assert report.min_ratio >= WCAG_MIN
    assert report.title_ratio is not None and report.title_ratio >= WCAG_MIN   # white on the dimmed, blurred card
    scene_of = [max(i for i, start in enumerate(layout.scene_starts_ms) if start <= p.start_ms) for p in layout.phrases]
    boxes = [p.box_opacity for p in layout.phrases]
    assert all(b > 0 for b, s in zip(boxes, scene_of) if s == 1)     # the light picture: boxed
    assert any(b == 0 for b, s in zip(boxes, scene_of) if s == 0)    # the dark one: outline only
    assert [c.box_opacity for c in report.cues] == boxes

    # The audit's frames are the video's: draw one mid-scene and compare with the decoded frame
    # above the captions (a frame off by a few pan steps would differ far more).
    placed, frame = [], 0
    for segment in plan.segments:
        if segment.start:   # the rest of a cut after its own crossfade segment: placed already
            continue
        placed.append(Placed(segment.cut, frame, segment.transition.frames))
        frame += segment.cut.frames
    drawer = FrameDrawer(placed, plan.encoding)
    at = (layout.scene_starts_ms[2] + 1500) * FPS // 1000
    drawn = drawer.frames(at)[0].astype(np.float64)
    decoded = _frames(result.video, at / FPS + 0.001)[0]
    half = decoded.reshape(H // 2, 2, W // 2, 2, 3).mean(axis=(1, 3))
    top = slice(10, 90)
    assert np.abs(drawn[top] - half[top]).mean() < 8
    shifted = drawer.frames(at + 12)[0].astype(np.float64)
    assert np.abs(shifted[top] - half[top]).mean() > np.abs(drawn[top] - half[top]).mean() + 2

    # A boxed phrase really has its box burned in: the caption area is darker than the bare frame.
    phrase = next(p for p, s in zip(layout.phrases, scene_of) if s == 1)
    look = caption_look(W, H, "Source Sans Pro", (255, 255, 255), (255, 200, 40), 0)
    face = ImageFont.truetype(str(caption_font("en").path), look.font_size)
    left, top_y, right, bottom = caption_area(phrase, look, face, W, H, " ")
    mid = (phrase.start_ms + phrase.end_ms) // 2 * FPS // 1000
    burned = _frames(result.video, mid / FPS + 0.001)[0][top_y:bottom, left:right]
    bare = drawer.frames(mid)[0].astype(np.float64)[top_y // 2:bottom // 2, left // 2:right // 2]
    assert np.median(luminance(burned)) < np.median(luminance(bare)) / 2



def test_title_card_has_the_title_and_an_accent_rule_under_it(rendered) -> None:  # noqa: ANN001
    folder, cache, plan, layout, result = rendered
    frame = _frames(result.video, layout.title_ms * 0.6 / 1000)[0]
    middle = frame[int(H * 0.4):int(H * 0.5)]
    below = frame[int(H * 0.5):int(H * 0.62)]
    white = int(((middle > 220).all(axis=2)).sum())
    accent = int((np.abs(below - np.array([255, 200, 40])).max(axis=2) < 45).sum())
    assert white > 100 and accent > 40, (white, accent)
