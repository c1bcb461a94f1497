"""The cheap filtergraph draws what the plain one would: a pan cut from two yuv420p phase
copies equals a 4:4:4 crop converted per frame, and the overlay crossfade equals xfade's.

Real ffmpeg, small frames, raw output compared plane by plane.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from server.pipeline.ffmpeg import ffmpeg_exe
from server.renderer import process
from server.renderer.graph import pan_path, prepare_command, prepared_still, segment_graph
from server.renderer.model import Cut, Encoding, Motion, Segment, Still, Transition

pytestmark = pytest.mark.pipeline

W, H, FPS = 160, 284, 30


def _still(path: Path, seed: int) -> Still:
    rng = np.random.default_rng(seed)
    # Coloured blocks of 3 px: sharp chroma edges at odd positions, where a half-step would show.
    blocks = rng.integers(0, 255, (H // 3 + 12, W // 3 + 12, 3), dtype=np.uint8)
    Image.fromarray(np.kron(blocks, np.ones((3, 3, 1), dtype=np.uint8))).save(path)
    return Still(path, f"{seed:064d}")


def _raw(inputs: list[str], graph: str, label: str, frames: int) -> np.ndarray:
    raw = subprocess.run([ffmpeg_exe(), "-v", "error", *inputs, "-filter_complex", graph, "-map", f"[{label}]",
                          "-frames:v", str(frames), "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"],
                         capture_output=True, check=True, timeout=120).stdout
    return np.frombuffer(raw, np.uint8).reshape(frames, -1).astype(np.int16)


def _planes(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = frame[: W * H].reshape(H, W)
    u = frame[W * H: W * H * 5 // 4].reshape(H // 2, W // 2)
    v = frame[W * H * 5 // 4:].reshape(H // 2, W // 2)
    return y, u, v


def _prepared(segment: Segment, sizes: dict[str, tuple[int, int]], folder: Path) -> dict:
    """Each cut's still prepared the way ``segments`` does (without the cache)."""
    made = {}
    for cut in (segment.cut, segment.enter_from):
        if cut is not None:
            still = prepared_still(cut, segment.encoding, sizes[cut.still.sha256])
            out = folder / f"prepared-{len(made)}.mkv"
            process.run(prepare_command(cut.still.path, still, out), "a test still")
            made[still] = out
    return made


def _graph(segment: Segment, sizes: dict[str, tuple[int, int]], folder: Path) -> tuple[list[str], str, str]:
    return segment_graph(segment, sizes, _prepared(segment, sizes, folder), None, folder)


def _reference(still: Still, cut: Cut, enc: Encoding, size: tuple[int, int], frames: int, offset: int = 0) -> str:
    """The plain way: crop the scaled still in 4:4:4 on every frame, then convert to 4:2:0."""
    path = pan_path(cut, enc, size, offset)
    odd_x, odd_y = cut.motion.dx % 2, cut.motion.dy % 2
    return (f"scale={path.scaled_width + odd_x}:{path.scaled_height + odd_y}:flags=lanczos,format=yuv444p,"
            f"loop=loop=-1:size=1:start=0,setpts=N,crop={W}:{H}:x='{path.x}':y='{path.y}':exact=1,"
            f"format=yuv420p,trim=end_frame={frames}")


@pytest.mark.parametrize("motion", [Motion(0, 1), Motion(0, -1), Motion(1, 0), Motion(-1, 1), Motion(0, 2)])
def test_pan_from_phase_copies_moves_the_colour_planes_exactly(tmp_path: Path, motion: Motion) -> None:
    enc = Encoding(W, H, FPS)
    still = _still(tmp_path / "still.png", 1)
    cut = Cut(still, motion, 24)
    segment = Segment(cut, None, Transition(), "", enc, ())
    ours = _raw(*_graph(segment, {still.sha256: (W + 36, H + 36)}, tmp_path), cut.frames)
    plain = _raw(["-i", str(still.path)], f"[0:v]{_reference(still, cut, enc, (W + 36, H + 36), cut.frames)}[v]", "v",
                 cut.frames)
    for n in range(cut.frames):
        for mine, theirs in zip(_planes(ours[n]), _planes(plain[n])):
            inner = (slice(2, -2), slice(2, -2))   # the conversion's filter sees past the edge in one of them
            assert np.abs(mine[inner] - theirs[inner]).max() <= 2, (motion, n)


def test_overlay_crossfade_is_a_linear_fade_from_the_previous_cut(tmp_path: Path) -> None:
    enc = Encoding(W, H, FPS)
    a, b = _still(tmp_path / "a.png", 2), _still(tmp_path / "b.png", 3)
    fade = 8
    before = Cut(a, Motion(0, -1), 20, tail=fade)
    cut = Cut(b, Motion(0, 1), 30)
    sizes = {a.sha256: (W + 36, H + 36), b.sha256: (W + 36, H + 36)}
    ours = _raw(*_graph(Segment(cut, before, Transition("fade", fade), "", enc, ()), sizes, tmp_path), cut.frames)
    # The two pictures alone, drawn the plain way: the previous cut's tail and this cut.
    prev = _raw(["-i", str(a.path)], f"[0:v]{_reference(a, before, enc, sizes[a.sha256], fade, before.frames)}[v]",
                "v", fade)
    this = _raw(["-i", str(b.path)], f"[0:v]{_reference(b, cut, enc, sizes[b.sha256], cut.frames)}[v]", "v", cut.frames)
    assert np.abs(ours[0] - prev[0]).mean() < 0.5              # the fade starts on the previous picture, in motion
    assert np.abs(ours[fade:] - this[fade:]).mean() < 0.5      # and ends on this one, untouched by the blend
    for n in range(1, fade):
        apart = (prev[n] - this[n]).astype(np.float64)
        differ = np.abs(apart) > 20
        weight = float(((ours[n] - this[n])[differ] / apart[differ]).mean())
        assert abs(weight - (1 - n / fade)) < 0.03, (n, weight)   # linear, frame by frame, like xfade's fade


def _wav(path: Path, ms: int, rate: int = 22050) -> Path:
    import wave

    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(b"\0\0" * (rate * ms // 1000))
    return path


@pytest.mark.parametrize("extra_ms", [0, 17, 33, 50, 71, 100, 133])
def test_a_scene_that_only_moved_keeps_its_segments(tmp_path: Path, extra_ms: int) -> None:
    """However far an edit before it moves a scene, its body (and the crossfade out of an
    unchanged scene) are the same values, so the cache reuses them: captions included."""
    from server.renderer.fonts import caption_font
    from server.renderer.model import Word
    from server.renderer.plan import HouseStyle, SceneInput, plan_video

    font = caption_font("en")
    # Word times 5 ms past a centisecond after the 333 ms crossfade: where a 1 ms slip would show.
    words = tuple(Word(338 + 170 * i, 338 + 170 * i + 150, w) for i, w in
                  enumerate("Each result was written down so the next person could check it.".split()))
    pictures = [_still(tmp_path / f"p{i}.png", 10 + i) for i in range(3)]

    def plan(first_ms: int):  # noqa: ANN202
        lengths = [first_ms, 2900, 3200]
        scenes = [SceneInput(p.path, p.sha256, _wav(tmp_path / f"s{i}-{first_ms}.wav", lengths[i]), words)
                  for i, p in enumerate(pictures)]
        return plan_video(scenes, "Moved", "en", HouseStyle(Encoding(W, H, FPS)), font, tmp_path,
                          tmp_path / "n.wav")[0]

    before, after = plan(2400), plan(2400 + 1000 + extra_ms)
    changed = [s for s in after.segments if s not in before.segments]
    assert len(changed) == 3                                   # the edited scene's two pieces, the fade out of it
    assert all(s.cut.still == pictures[0] or s.enter_from.still == pictures[0] for s in changed)


def test_a_paragraph_inserted_before_scenes_keeps_their_segments(tmp_path: Path) -> None:
    """A new scene shifts the index of every scene after it; nothing of those scenes may
    depend on the index (their pan among it), or an insert re-renders the whole rest."""
    from server.renderer.fonts import caption_font
    from server.renderer.model import Word
    from server.renderer.plan import HouseStyle, SceneInput, plan_video

    font = caption_font("en")
    words = tuple(Word(338 + 170 * i, 338 + 170 * i + 150, w) for i, w in
                  enumerate("Each result was written down so the next person could check it.".split()))
    pictures = [_still(tmp_path / f"p{i}.png", 10 + i) for i in range(5)]
    audio = {i: _wav(tmp_path / f"s{i}.wav", 2400 + 300 * i) for i in range(5)}

    def plan(order: list[int]):  # noqa: ANN202
        scenes = [SceneInput(pictures[i].path, pictures[i].sha256, audio[i], words) for i in order]
        return plan_video(scenes, "Inserted", "en", HouseStyle(Encoding(W, H, FPS)), font, tmp_path,
                          tmp_path / "n.wav")[0]

    before, after = plan([0, 2, 3, 4]), plan([0, 1, 2, 3, 4])
    changed = [s for s in after.segments if s not in before.segments]
    # the new scene's crossfade and body, and the crossfade from it into the next scene
    assert len(changed) == 3, [(s.cut.still.path.name, s.start) for s in changed]
    assert all(s.cut.still == pictures[1] or s.enter_from.still == pictures[1] for s in changed)


def test_the_readability_audit_is_reused_for_scenes_an_edit_did_not_touch(tmp_path: Path) -> None:
    """The audit's figures are cached per cut by what is on screen there: an unchanged plan
    measures nothing again, an edit to the first scene re-measures it and the scene its
    crossfade enters, and the cached figures are the ones a fresh audit finds."""
    from server.renderer.fonts import caption_font
    from server.renderer.model import Word
    from server.renderer.plan import HouseStyle, SceneInput, plan_video

    font = caption_font("en")
    words = tuple(Word(338 + 170 * i, 338 + 170 * i + 150, w) for i, w in
                  enumerate("Each result was written down so the next person could check it.".split()))
    pictures = [_still(tmp_path / f"p{i}.png", 20 + i) for i in range(4)]
    cache = tmp_path / "cache"

    def audit(first_ms: int, cached: bool):  # noqa: ANN202
        lengths = [first_ms, 2900, 3200, 2600]
        scenes = [SceneInput(p.path, p.sha256, _wav(tmp_path / f"s{i}-{first_ms}.wav", lengths[i]), words)
                  for i, p in enumerate(pictures)]
        layout = plan_video(scenes, "Audited", "en", HouseStyle(Encoding(W, H, FPS)), font, tmp_path,
                            tmp_path / "n.wav", cache if cached else None)[1]
        return layout.audit

    def entries() -> set[Path]:
        return set((cache / "readability").rglob("*.json")) if (cache / "readability").exists() else set()

    first = audit(2400, cached=True)
    made = entries()
    assert len(made) == 5                                      # one per scene, and the title card's figure
    assert audit(2400, cached=True) == first and entries() == made
    edited = audit(3500, cached=True)
    assert len(entries() - made) == 2
    assert edited == audit(3500, cached=False)                 # what the cache gives is what a fresh audit finds
