"""Render benchmark: our renderer against plain moviepy and against the encoder alone.

    python bench/render.py --seconds 60 600 [--skip-moviepy-over 60] [--e2e]

For each narration length, one timeline of 12 scenes at 1080x1920, 30 fps (pictures from
the offline image provider's look, narration spoken by espeak-ng so the words are real),
rendered in the same run by:

  (a) ours: ``server.renderer`` with the house style (pans, crossfades, word-timed
      captions, title card, loudness), from a cold cache;
  (b) moviepy: the same crossfades, pans and captions composed the way the popular tools
      write it, with moviepy's own cheap fix applied (``bg_color`` set, so no mask);
  (c) the encoder floor: x264 alone, same preset and CRF and thread count, encoding (a)'s
      frames decoded to raw (the decode runs in its own process and is timed apart).

Printed: wall seconds, realtime factor (video seconds / wall seconds), peak RSS of all
processes (the Python process and every child, summed, sampled every 50 ms), CPU
seconds of all processes (what a shared machine changes least), and the
ratios (a)/(b) and (a)/(c). Then (a) again after editing one paragraph (the cache at
work), a ``--draft`` render and its own floor (x264 ultrafast alone on the draft's
540x960 frames), and with ``--e2e`` a ~600-word corpus article from drop
(``mediabuddy render``) to published video. ``uptime`` is printed beside every figure:
this machine has two cores and may be shared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.digests import file_sha256  # noqa: E402
from server.pipeline.ffmpeg import ffmpeg_exe  # noqa: E402

SCENES = 12
W, H, FPS = 1080, 1920, 30
SENTENCES = [
    "The team measured every step of the process before changing anything.",
    "Small changes, made often, turned out to matter more than one big rewrite.",
    "Each result was written down, so the next person could check it.",
    "When a number looked wrong, they asked why before they fixed it.",
    "The slowest part was never where anyone expected it to be.",
    "Good tools make the right thing the easy thing to do.",
]


class PeakRss:
    """Peak of the summed RSS of this process and all its descendants (from /proc), and the
    CPU seconds they used (user + system; unlike wall time, barely changed by other load)."""

    LAST_CPU = 0.0

    def __init__(self) -> None:
        self.peak = 0
        self.cpu = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _cpu() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def __enter__(self) -> "PeakRss":
        self._cpu0 = self._cpu()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.cpu = self._cpu() - self._cpu0
        PeakRss.LAST_CPU = self.cpu

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _tree_rss(os.getpid()))
            self._stop.wait(0.05)


def _tree_rss(root: int) -> int:
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            ppid, pages = int(fields[1]), int(fields[21])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = pages * os.sysconf("SC_PAGE_SIZE")
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack += children.get(pid, [])
    return total


def load() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def make_timeline(folder: Path, seconds: int, edit: bool = False) -> list:  # noqa: ANN001
    """12 scene pictures and narration totalling about ``seconds`` (espeak-ng, real words)."""
    from PIL import Image, ImageDraw, ImageFilter

    from server.providers.narration.base import narrate
    from server.providers.narration.espeak import EspeakNarrator
    from server.renderer.model import Word
    from server.renderer.plan import SceneInput

    narrator = EspeakNarrator()
    words_per_scene = max(8, round(seconds * 2.6 / SCENES))  # espeak speaks about 2.6 words a second
    scenes = []
    for i in range(SCENES):
        image = folder / f"scene{i:02d}.png"
        if not image.exists():
            picture = Image.new("RGB", (W, H), (20 + 15 * i, 30, 90 - 4 * i))
            draw = ImageDraw.Draw(picture)
            for k in range(60):
                x, y = (k * 137 + i * 71) % W, (k * 251 + i * 53) % H
                draw.ellipse((x, y, x + 90, y + 90), fill=((k * 40) % 255, (k * 90 + i * 30) % 255, 180))
            picture.filter(ImageFilter.GaussianBlur(1.5)).save(image)
        words: list[str] = []
        k = i
        while len(words) < words_per_scene:
            words += SENTENCES[k % len(SENTENCES)].split()
            k += 1
        text = " ".join(words[:words_per_scene]).rstrip(",") + "."
        if edit and i == 5:
            text = "This paragraph was edited: it now says something else, and says it a little differently."
        wav = folder / f"scene{i:02d}-{file_sha256_text(text)}.wav"
        if not wav.exists():
            clip = narrate(narrator, text, wav, 350)
            (wav.with_suffix(".words")).write_text("\n".join(f"{w.start_ms}\t{w.end_ms}\t{w.text}" for w in clip.words))
        spoken = [line.split("\t") for line in wav.with_suffix(".words").read_text().splitlines()]
        scenes.append(SceneInput(image, file_sha256(image), wav, tuple(Word(int(a), int(b), t) for a, b, t in spoken),
                                 chapter=f"Part {i // 4 + 1}" if i % 4 == 0 and i else ""))
    return scenes


def file_sha256_text(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:12]


def ours(folder: Path, cache: Path, scenes: list, out: Path, preset: str, draft: bool = False):  # noqa: ANN001, ANN201
    from server.renderer import render_video
    from server.renderer.audio import BITRATE, DRAFT_BITRATE, lay_out
    from server.renderer.fonts import caption_font, fonts_folder
    from server.renderer.model import Encoding
    from server.renderer.plan import HouseStyle, plan_video

    encoding = Encoding(W // 2 if draft else W, H // 2 if draft else H, FPS, "ultrafast" if draft else preset, 23)
    font = caption_font("en")
    narration = folder / f"{out.stem}-narration.wav"
    house = HouseStyle(encoding, audio_bitrate=DRAFT_BITRATE if draft else BITRATE)   # as compose's
    started = time.perf_counter()
    with PeakRss() as rss:
        plan, layout = plan_video(scenes, "How We Measure", "en", house, font,
                                          fonts_folder(font, cache), narration, cache)
        lay_out(plan.audio)
        result = render_video(plan, out, cache, folder / f"{out.stem}-work", workers=os.cpu_count() or 2)
    return time.perf_counter() - started, rss.peak, layout, result, plan


def moviepy_baseline(scenes: list, layout, out: Path, preset: str) -> tuple[float, int]:  # noqa: ANN001
    """The same video as popular tools write it in moviepy 2: per-scene ImageClips with a pan,
    crossfades, one TextClip per caption phrase, composited with bg_color (no mask)."""
    from moviepy import AudioFileClip, CompositeVideoClip, ImageClip, TextClip, vfx

    from server.renderer.fonts import caption_font

    font = str(caption_font("en").path)
    started = time.perf_counter()
    with PeakRss() as rss:
        clips = []
        fade = 0.32
        for i, (scene, start, duration) in enumerate(zip(scenes, layout.scene_starts_ms, layout.scene_durations_ms)):
            length = duration / 1000 + (fade if i + 1 < len(scenes) else 0)
            base = ImageClip(str(scene.image)).resized(1.12)
            dx, dy = [(0, -1), (1, 0), (0, 1), (-1, 0)][i % 4]
            travel_x, travel_y = base.w - W, base.h - H

            def position(t: float, dx: int = dx, dy: int = dy, tx: int = travel_x, ty: int = travel_y,
                         length: float = length) -> tuple[float, float]:
                k = t / length
                return (-(tx / 2) + dx * (k - 0.5) * tx, -(ty / 2) + dy * (k - 0.5) * ty)

            clip = base.with_position(position).with_start(start / 1000).with_duration(length)
            if i:
                clip = clip.with_effects([vfx.CrossFadeIn(fade)])
            clips.append(clip)
        for phrase in layout.phrases:
            text = TextClip(font=font, text=phrase.text, font_size=69, color="white", stroke_color="black",
                            stroke_width=6, method="label", text_align="center")
            clips.append(text.with_position(("center", H * 0.62)).with_start(phrase.start_ms / 1000)
                         .with_duration((phrase.end_ms - phrase.start_ms) / 1000))
        video = CompositeVideoClip(clips, size=(W, H), bg_color=(0, 0, 0)).with_duration(layout.duration_ms / 1000)
        video = video.with_audio(AudioFileClip(str(scenes[0].narration.parent / "ours-narration.wav")))
        video.write_videofile(str(out), fps=FPS, codec="libx264", preset=preset, audio_codec="aac",
                              ffmpeg_params=["-crf", "23"], logger=None)
    return time.perf_counter() - started, rss.peak


def encoder_floor(source: Path, out: Path, preset: str, size: tuple[int, int] = (W, H)) -> tuple[float, float, int]:
    """(encode wall s, decode-only wall s, peak RSS) for x264 on ``source``'s frames (``size``)."""
    started = time.perf_counter()
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(source), "-f", "null", "-"], check=True)
    decode_s = time.perf_counter() - started
    started = time.perf_counter()
    with PeakRss() as rss:
        decoder = subprocess.Popen([ffmpeg_exe(), "-v", "error", "-i", str(source), "-f", "rawvideo",
                                    "-pix_fmt", "yuv420p", "-"], stdout=subprocess.PIPE)
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{size[0]}x{size[1]}",
                        "-r", str(FPS), "-i", "-", "-c:v", "libx264", "-preset", preset, "-crf", "23",
                        "-threads", str(os.cpu_count() or 2), "-f", "mp4", str(out)], stdin=decoder.stdout, check=True)
        decoder.wait()
    return time.perf_counter() - started, decode_s, rss.peak


def drift_ms(video: Path) -> float:
    """|audio end - video end| of a file, from decoding both streams to the end."""
    import re

    def end(stream: str) -> float:
        log = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(video), "-map", stream, "-f", "null",
                              "-"], capture_output=True, text=True).stderr
        h, m, sec = re.findall(r"time=(\d+):(\d+):([\d.]+)", log)[-1]
        return int(h) * 3600 + int(m) * 60 + float(sec)

    frames = int(re.findall(r"frame=\s*(\d+)", subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(video), "-map", "0:v", "-f", "null", "-"],
        capture_output=True, text=True).stderr)[-1])
    return abs(end("0:a") - frames / FPS) * 1000


def row(name: str, wall: float, video_s: float, rss: int, extra: str = "") -> None:
    cpu = PeakRss.LAST_CPU
    print(f"| {name} | {wall:.1f} | {video_s / wall:.2f}x | {cpu:.1f} | {rss / 1e6:.0f} MB | {extra} | {load()} |",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, nargs="+", default=[60, 600])
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--skip-moviepy-over", type=int, default=10**9,
                        help="skip the moviepy baseline for longer videos (it runs below realtime)")
    parser.add_argument("--e2e", action="store_true", help="also time a ~600-word corpus article end to end")
    args = parser.parse_args()
    print("| variant | wall s | realtime | CPU s (all processes) | peak RSS (all processes) | notes | load (1/5/15 min) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for seconds in args.seconds:
        folder = Path(tempfile.mkdtemp(prefix=f"bench-render-{seconds}-"))
        try:
            cache = folder / "cache"
            scenes = make_timeline(folder, seconds)
            wall_a, rss_a, layout, result, plan = ours(folder, cache, scenes, folder / "ours.mp4", args.preset)
            video_s = layout.duration_ms / 1000
            row(f"{video_s:.0f} s (a) ours, house style", wall_a, video_s, rss_a,
                f"{len(plan.segments)} segments; segments {result.seconds['segments']} s, audio "
                f"{result.seconds['audio']} s, join {result.seconds['join']} s")
            print(f"|  | A/V drift at the end: {drift_ms(result.video):.1f} ms |  |  |  |  |  |", flush=True)
            wall_c, decode_s, rss_c = encoder_floor(result.video, folder / "floor.mp4", args.preset)
            row(f"{video_s:.0f} s (c) x264 floor", wall_c, video_s, rss_c,
                f"(a)/(c) = {wall_a / wall_c:.2f}; decode alone {decode_s:.1f} s")
            if seconds <= args.skip_moviepy_over:
                wall_b, rss_b = moviepy_baseline(scenes, layout, folder / "moviepy.mp4", args.preset)
                row(f"{video_s:.0f} s (b) moviepy, bg_color", wall_b, video_s, rss_b,
                    f"(b)/(a) = {wall_b / wall_a:.1f}x slower")
            edited = make_timeline(folder, seconds, edit=True)
            wall_e, rss_e, layout_e, result_e, _ = ours(folder, cache, edited, folder / "edited.mp4", args.preset)
            row(f"{layout_e.duration_ms / 1000:.0f} s (a) after editing one paragraph", wall_e,
                layout_e.duration_ms / 1000, rss_e,
                f"{result_e.segments_rendered} rendered, {result_e.segments_reused} reused; "
                f"{100 * wall_e / wall_a:.0f}% of the full render")
            wall_d, rss_d, _, result_d, _ = ours(folder, folder / "cache-draft", scenes, folder / "draft.mp4",
                                                 args.preset, draft=True)
            row(f"{video_s:.0f} s (a) --draft (540x960, ultrafast)", wall_d, video_s, rss_d, "")
            wall_dc, _, rss_dc = encoder_floor(result_d.video, folder / "floor-draft.mp4", "ultrafast", (W // 2, H // 2))
            row(f"{video_s:.0f} s (c) x264 floor, draft", wall_dc, video_s, rss_dc,
                f"(a)/(c) = {wall_d / wall_dc:.2f}: x264 ultrafast alone on the draft's frames")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    if args.e2e:
        end_to_end()


def end_to_end() -> None:
    """A ~600-word corpus article through ``mediabuddy render`` (the whole offline pipeline)."""
    corpus = ROOT.parent / "shared" / "corpus" / "articles"
    candidates = sorted(corpus.glob("*.md"), key=lambda p: abs(len(p.read_text(encoding="utf-8").split()) - 650))
    article = candidates[0]
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as scratch:
        env = {**os.environ, "MEDIABUDDY_HOME": scratch, "PYTHONPATH": str(ROOT)}
        started = time.perf_counter()
        with PeakRss() as rss:
            subprocess.run([sys.executable, "-m", "cli", "render", str(article), "-o", f"{scratch}/out.mp4"],
                           cwd=ROOT, env=env, check=True, capture_output=True)
        wall = time.perf_counter() - started
        import json

        manifest = json.loads(Path(f"{scratch}/out.json").read_text(encoding="utf-8"))
        video_s = (manifest["video"]["duration_ms"] or 0) / 1000
        row(f"e2e: {article.name} ({len(article.read_text(encoding='utf-8').split())} words) drop to video",
            wall, video_s, rss.peak, f"stage seconds {manifest['stage_seconds']}")


if __name__ == "__main__":
    main()
