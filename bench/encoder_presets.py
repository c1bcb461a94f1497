"""Encoder settings from measurement: x264 preset x CRF on house-style frames.

    python bench/encoder_presets.py [--frames 150] [--presets ...] [--crfs 20 23 26]

The frames are what the renderer really encodes: a 1080x1920 still panning one pixel per
frame (drawn by ``server.renderer.graph``, so the filters cost next to nothing) with
burned captions. Two stills: a photo-like picture (coloured 1/f noise, the spectrum of
natural images: fine detail everywhere, the hard case) and the offline provider's card
(gradients, an icon, text: what an offline render shows). Each preset x CRF encode runs
alone in one ffmpeg with the renderer's own x264 arguments (one thread, as each segment
runs), and is scored against the exact frames with ffmpeg's ``ssim`` filter (the frames
are drawn again on the fly: they are deterministic). Printed per row: encoder frames per
CPU second, kbit/s, SSIM (all planes; dB = -10 log10(1 - SSIM)), peak RSS of the
encoding ffmpeg. A second table varies the x264 memory knobs at the chosen preset.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.pipeline.ffmpeg import ffmpeg_exe  # noqa: E402
from server.renderer import graph, process  # noqa: E402
from server.renderer.model import Cut, Encoding, Segment, Still, Transition  # noqa: E402

W, H, FPS = 1080, 1920, 30


def photo_like(path: Path, seed: int = 7) -> None:
    """Coloured 1/f^1.3 noise: amplitude falling with frequency like a photograph's."""
    rng = np.random.default_rng(seed)
    fy, fx = np.meshgrid(np.fft.fftfreq(H), np.fft.fftfreq(W), indexing="ij")
    falloff = np.maximum(np.hypot(fx, fy), 1 / max(W, H)) ** -1.3
    planes = []
    for _ in range(3):
        spectrum = np.fft.fft2(rng.standard_normal((H, W))) * falloff
        plane = np.real(np.fft.ifft2(spectrum))
        planes.append((plane - plane.mean()) / plane.std())
    mixed = np.stack(planes, axis=2) @ np.array([[0.8, 0.5, 0.3], [0.2, 0.7, 0.4], [0.1, 0.2, 0.9]])
    Image.fromarray(np.clip(128 + 45 * mixed, 0, 255).astype(np.uint8)).save(path)


def offline_card(path: Path) -> None:
    from server.providers.images.pillow_card import render
    from server.providers.types import ImageStyle, SceneSpec

    render(SceneSpec(3, "The lighthouse keeper wrote the storm into the logbook.", "lighthouse", "a lighthouse"),
           ImageStyle(W, H, "midnight", "How We Measure", 12), path)


def captions(path: Path, frames: int) -> Path:
    from server.renderer import ass, style
    from server.renderer.fonts import caption_font
    from server.renderer.model import Word

    font = caption_font("en")
    look = style.caption_look(W, H, font.family, (255, 255, 255), (255, 200, 40), 0.55)
    words = [Word(i * 350, i * 350 + 300, w) for i, w in
             enumerate("Small changes made often turned out to matter more than one big rewrite.".split())]
    phrases = style.phrases(words, frames * 1000 // FPS, look, font.path, W)
    path.write_text(ass.document(W, H, look, phrases, None, (0, frames * 1000 // FPS)), encoding="utf-8")
    return path


def frames_graph(still: Path, folder: Path, frames: int, ass_file: Path) -> tuple[list[str], str, str, Segment]:
    from server.digests import file_sha256
    from server.renderer.fonts import caption_font, fonts_folder
    from server.renderer.style import motion_for

    with Image.open(still) as picture:
        size = picture.size
    cut = Cut(Still(still, file_sha256(still)), motion_for(0, W, H), frames)
    segment = Segment(cut, None, Transition(), "x", Encoding(W, H, FPS), ())
    prepared = folder / f"{still.stem}.mkv"
    if not prepared.exists():
        process.run(graph.prepare_command(still, graph.prepared_still(cut, segment.encoding, size), prepared), "prep")
    sizes = {cut.still.sha256: size}
    inputs, filters, label = graph.segment_graph(segment, sizes, {graph.prepared_still(cut, segment.encoding, size):
                                                                  prepared}, ass_file,
                                                 fonts_folder(caption_font("en"), folder / "cache"))
    return inputs, filters, label, segment


def encode(inputs: list[str], filters: str, label: str, enc: Encoding, frames: int, out: Path,
           params: str | None = None) -> tuple[float, int]:
    """(CPU seconds, peak RSS bytes) of one encode by the renderer's own x264 arguments."""
    args = graph.encoder_args(enc, 1)
    if params is not None:
        args[args.index("-x264-params") + 1] = params
    command = [ffmpeg_exe(), "-v", "error", "-y", *inputs, "-filter_complex", filters, "-map", f"[{label}]",
               "-frames:v", str(frames), "-filter_complex_threads", "1", *args, "-an", "-f", "mp4", str(out)]
    run = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", *command], capture_output=True, text=True, check=True)
    user, system, kb = run.stderr.strip().splitlines()[-1].split()
    return float(user) + float(system), int(kb) * 1024


def ssim(inputs: list[str], filters: str, label: str, encoded: Path, frames: int) -> float:
    log = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", *inputs, "-i", str(encoded), "-filter_complex",
                          f"{filters};[{label}][{len(inputs) // 4}:v]ssim", "-frames:v", str(frames),
                          "-f", "null", "-"],
                         capture_output=True, text=True, check=True).stderr
    return float(re.findall(r"All:([\d.]+)", log)[-1])


def filters_only_cpu(inputs: list[str], filters: str, label: str, frames: int) -> float:
    run = subprocess.run(["/usr/bin/time", "-f", "%U %S", ffmpeg_exe(), "-v", "error", *inputs, "-filter_complex",
                          filters, "-map", f"[{label}]", "-frames:v", str(frames), "-f", "null", "-"],
                         capture_output=True, text=True, check=True)
    user, system = run.stderr.strip().splitlines()[-1].split()
    return float(user) + float(system)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--presets", nargs="+", default=["ultrafast", "superfast", "veryfast", "faster", "fast",
                                                         "medium"])
    parser.add_argument("--crfs", type=int, nargs="+", default=[20, 23, 26])
    parser.add_argument("--knobs-preset", default="veryfast")
    args = parser.parse_args()
    load = lambda: "/".join(f"{v:.1f}" for v in os.getloadavg())  # noqa: E731
    with tempfile.TemporaryDirectory(prefix="bench-presets-") as scratch:
        folder = Path(scratch)
        stills = {"photo-like": folder / "photo.png", "offline card": folder / "card.png"}
        photo_like(stills["photo-like"])
        offline_card(stills["offline card"])
        ass_file = captions(folder / "captions.ass", args.frames)
        graphs = {name: frames_graph(path, folder, args.frames, ass_file) for name, path in stills.items()}
        for name, (inputs, filters, label, _) in graphs.items():
            cpu = filters_only_cpu(inputs, filters, label, args.frames)
            print(f"{name}: drawing {args.frames} frames without encoding: {cpu:.2f} CPU s (load {load()})")
        print()
        print("| picture | preset | CRF | encode fps per CPU s | kbit/s | SSIM | SSIM dB | peak RSS | load |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for name, (inputs, filters, label, segment) in graphs.items():
            for preset in args.presets:
                for crf in args.crfs:
                    enc = Encoding(W, H, FPS, preset, crf)
                    out = folder / f"{preset}-{crf}.mp4"
                    cpu, rss = encode(inputs, filters, label, enc, args.frames, out)
                    score = ssim(inputs, filters, label, out, args.frames)
                    kbps = out.stat().st_size * 8 / 1000 / (args.frames / FPS)
                    print(f"| {name} | {preset} | {crf} | {args.frames / cpu:.0f} | {kbps:.0f} | {score:.5f} | "
                          f"{-10 * np.log10(max(1e-9, 1 - score)):.2f} | {rss / 1e6:.0f} MB | {load()} |", flush=True)
        print()
        print(f"x264 memory knobs at {args.knobs_preset}, CRF 23 (photo-like picture):")
        print("| x264-params | encode fps per CPU s | kbit/s | SSIM dB | peak RSS | load |")
        print("| --- | --- | --- | --- | --- | --- |")
        inputs, filters, label, segment = graphs["photo-like"]
        for params in ("rc-lookahead=10:bframes=3", "rc-lookahead=5:sync-lookahead=0:bframes=1",
                       "rc-lookahead=3:sync-lookahead=0:bframes=1", "rc-lookahead=5:sync-lookahead=0:bframes=0",
                       "rc-lookahead=0:sync-lookahead=0:bframes=0:mbtree=0"):
            enc = Encoding(W, H, FPS, args.knobs_preset, 23)
            out = folder / "knob.mp4"
            cpu, rss = encode(inputs, filters, label, enc, args.frames, out, params)
            score = ssim(inputs, filters, label, out, args.frames)
            kbps = out.stat().st_size * 8 / 1000 / (args.frames / FPS)
            print(f"| {params} | {args.frames / cpu:.0f} | {kbps:.0f} | {-10 * np.log10(max(1e-9, 1 - score)):.2f} | "
                  f"{rss / 1e6:.0f} MB | {load()} |", flush=True)


if __name__ == "__main__":
    main()
