"""The soundtrack: narration laid out in video time, music ducked under it, loudness-normalised,
encoded in cached chunks that join sample-exactly.

The scenes' WAVs are written one after another (streamed, never all in memory), each
placed on a whole video frame and padded with silence to its scene's end, so the audio
can never drift from the picture. Each clip gets a few milliseconds of fade at both ends,
so a join is never a click. ffmpeg then ducks the music under the voice
(``sidechaincompress``), fades it out, and normalises the mix (measured with ``ebur128``,
then one gain, or a gain and a limiter found in a few measured passes) to about -14 LUFS
with the true peak under -1 dBTP.

**Chunks.** AAC encoding is most of the soundtrack's cost (about 10x realtime per core
here for stereo speech), and the loudness gain touches every sample, so an edit used to
re-encode the whole soundtrack. Now each chunk (``model.AudioChunk``: one scene's sound,
a whole number of AAC frames long, silent for at least one AAC frame at both ends) is
encoded on its own to raw AAC (ADTS) and cached by what it holds and the gain, never by
where it sits. The chunks' packets are then concatenated, each chunk's first packet (the
encoder's priming frame) dropped: an AAC frame decodes from the overlap of two packets,
and at a join both packets encode silence, so the joined stream decodes to exactly what one
long encode would (measured: a 3-chunk join and a single encode of the same signal differ
by 3.6e-5 RMS, the same length to the sample), and it starts at sample 0 without an edit
list. Gains are kept on a 0.25 dB grid so that an edit, which moves the mix's loudness by
a few hundredths of a LU, usually finds the same gain and reuses every other chunk.
"""

from __future__ import annotations

import re
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from server.pipeline.cache import ResultCache, cached_file, digest
from server.renderer import process
from server.renderer.model import AudioChunk, AudioMix

FADE_MS = 6
AAC_FRAME = 1024          # samples per AAC-LC frame
OUTPUT_RATE = 48000
BITRATE = "160k"
# A draft's: AAC's cost grows with its bitrate (4 s of speech: 0.12 CPU s at 160k, 0.07 at
# 96k), a third of a draft's CPU went on its sound, and a preview does not need the music's
# top octave.
DRAFT_BITRATE = "96k"
# ffmpeg's "fast" AAC coder: at this bitrate it sounds better than the default two-loop
# coder and costs about half the CPU, as the encoder's maintainer put it when making it the
# default in 2018 (FFmpeg commit fcb681ac); measured here on 60 s of stereo speech: 3.1
# against 5.7 CPU s.
CODER = "fast"
CHUNK_VERSION = "1"       # bump when a chunk's encoding changes: its cache entries are then not reused


def frames_for(path: Path, fps: int) -> tuple[int, int]:
    """(video frames the clip needs, its sample rate)."""
    with wave.open(str(path), "rb") as reader:
        samples, rate = reader.getnframes(), reader.getframerate()
    return max(1, -(-samples * fps // rate)), rate


SILENCE = 100           # |sample| at or below this (-50 dBFS) is silence, for trimming a clip's end
KEPT_TAIL_MS = 100      # of a clip's trailing silence, at least this much is always kept


def voiced_frames(path: Path, fps: int) -> int:
    """The video frames a clip needs to end no sooner than ``KEPT_TAIL_MS`` after its last
    sound (its trailing silence beyond that may be cut, see ``plan.plan_video``)."""
    with wave.open(str(path), "rb") as reader:
        rate = reader.getframerate()
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > SILENCE)
    end = min(len(samples), (int(loud[-1]) + 1 if len(loud) else 0) + rate * KEPT_TAIL_MS // 1000)
    return max(1, -(-end * fps // rate))


def lay_out(mix: AudioMix) -> int:
    """Write ``mix.narration``, the whole narration track (what the loudness is measured
    on), from the mix's chunks. Returns its sample rate."""
    return _write_chunks(mix.chunks, mix.fps, mix.narration)


def _write_chunks(chunks: tuple[AudioChunk, ...], fps: int, out: Path) -> int:
    """Each chunk's clips at their frames (counted from the chunk's start, so a chunk's
    samples do not depend on where it sits), silence between and after them."""
    rate = 0
    for chunk in chunks:
        for clip in chunk.clips:
            rate = rate or _rate_of(clip.path)
    rate = rate or OUTPUT_RATE   # only silence (a title card's chunk)
    with wave.open(str(out), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        for chunk in chunks:
            written = 0
            for clip in chunk.clips:
                with wave.open(str(clip.path), "rb") as reader:
                    if reader.getnchannels() != 1 or reader.getsampwidth() != 2:
                        raise ValueError(f"{clip.path.name}: narration must be mono 16-bit PCM")
                    if reader.getframerate() != rate:
                        raise ValueError(f"{clip.path.name} has a sample rate of {reader.getframerate()} Hz, "
                                         f"the first scene {rate} Hz")
                    samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2").astype(np.float32)
                start = round(clip.start_frame * rate / fps)
                end = round((clip.start_frame + clip.frames) * rate / fps)   # exact frame boundary, no drift
                written += _silence(writer, start - written)
                writer.writeframes(_faded(samples[: end - written], rate).astype("<i2").tobytes())
                written += min(len(samples), end - written)
                written += _silence(writer, end - written)
            _silence(writer, round(chunk.frames * rate / fps) - written)
    return rate


def _rate_of(path: Path) -> int:
    with wave.open(str(path), "rb") as reader:
        return reader.getframerate()


def _faded(samples: np.ndarray, rate: int) -> np.ndarray:
    n = min(len(samples) // 2, rate * FADE_MS // 1000)
    if n > 0:
        ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, n, dtype=np.float32))
        samples = samples.copy()
        samples[:n] *= ramp
        samples[-n:] *= ramp[::-1]
    return np.clip(np.round(samples), -32768, 32767)


def _silence(writer: wave.Wave_write, count: int) -> int:
    if count > 0:
        writer.writeframes(b"\0\0" * count)
    return max(0, count)


def _graph(mix: AudioMix, loudnorm: str, with_music: bool, samples: int | None = None) -> str:
    seconds = mix.duration_ms / 1000
    voice = f"[0:a]aresample={mix.sample_rate},aformat=sample_fmts=fltp:channel_layouts=stereo"
    exact = f",apad=whole_len={samples},atrim=end_sample={samples}" if samples else ""
    if not with_music or mix.music is None:
        return f"{voice},{loudnorm}{exact}[out]"
    fade = min(mix.music_fade_ms / 1000, seconds / 3)
    return (f"{voice},asplit=2[voice][key];"
            f"[1:a]aresample={mix.sample_rate},aformat=sample_fmts=fltp:channel_layouts=stereo,"
            f"volume={mix.music_gain_db}dB,atrim=end={seconds:.3f},afade=t=in:d=0.8,"
            f"afade=t=out:st={max(0.0, seconds - fade):.3f}:d={fade:.3f}[music];"
            f"[music][key]sidechaincompress=threshold=0.02:ratio=8:attack=20:release=400[ducked];"
            f"[voice][ducked]amix=inputs=2:duration=first:normalize=0,{loudnorm}{exact}[out]")


def _inputs(narration: Path, music: Path | None) -> list[str]:
    args = ["-i", str(narration)]
    if music is not None:
        args += ["-stream_loop", "-1", "-i", str(music)]
    return args


LOUDNESS_TOLERANCE_DB = 0.3   # integrated loudness this close to the target is on target
MAX_LIMITER_PASSES = 4
PEAK_MARGIN_DB = 1.0
GAIN_STEP_DB = 0.25           # gains tried lie on this grid (see the module's docstring)
LIMITER_REACH_DB = 12.0       # how far above the linear gain a cached limited gain is looked for
FIRST_SLOPE = 0.6   # LU gained per dB of gain into the limiter: 0.57 for piper's voice, 0.71 for espeak-ng (measured)


def _measure(mix: AudioMix, steps: str, what: str) -> tuple[float, float]:
    """Integrated loudness (LUFS) and sample peak (dBFS) of the whole mix after ``steps``, no
    output written. (The true peak, 4x oversampled, cost three times the pass: it is measured
    once, on the encoded result.)"""
    log = process.run([*_inputs(mix.narration, mix.music), "-filter_complex",
                       _graph(mix, f"{steps},ebur128=peak=sample:framelog=verbose", True),
                       "-map", "[out]", "-t", f"{mix.duration_ms / 1000:.3f}", "-f", "null", "-"], what, loglevel="info")
    return _summary(log, what)


def _summary(log: str, what: str) -> tuple[float, float]:
    integrated = re.findall(r"I:\s+(-?[\d.]+|-inf) LUFS", log)
    peak = re.findall(r"Peak:\s+(-?[\d.]+|-inf) dBFS", log)
    if not integrated or not peak:
        raise process.RenderFailed(what, 1, "ebur128 printed no summary")
    return (float(integrated[-1]) if integrated[-1] != "-inf" else float("-inf"),
            float(peak[-1]) if peak[-1] != "-inf" else -90.0)


def _limited(gain: float, ceiling_db: float) -> str:
    # alimiter works on sample peaks: the margin covers the overshoot between samples and the
    # AAC encoder's (espeak-ng's voice limited at -2.0 dBFS measured -1.1 dBTP once encoded).
    return (f"volume={gain:.2f}dB,alimiter=limit={10 ** ((ceiling_db - PEAK_MARGIN_DB) / 20):.4f}:level=false"
            f":attack=5:release=60")


def _gain_of(steps: str) -> float:
    """The gain (dB) in filters made by ``loudness_steps`` (0 for none)."""
    found = re.findall(r"volume=(-?[\d.]+)dB", steps)
    return float(found[0]) if found else 0.0


def _on_grid(gain: float) -> float:
    return round(max(-30.0, min(30.0, gain)) / GAIN_STEP_DB) * GAIN_STEP_DB


def loudness_steps(mix: AudioMix, measured_i: float, measured_peak: float, first_guess: float | None = None
                   ) -> tuple[str, list[tuple[float, float]]]:
    """The filters that bring the mix to the target, and the (gain, loudness) points tried.

    A mix whose peaks stay under the ceiling after the gain needs the gain alone (exact,
    linear). Otherwise the limiter shaves the peaks and with them some loudness (speech
    with a high crest factor, piper's voice among them, lost 1.4 dB this way), so the gain
    is raised and measured again, by the secant through the points tried, until the
    limited mix is within ``LOUDNESS_TOLERANCE_DB`` of the target. Gains are on a
    ``GAIN_STEP_DB`` grid, which puts the mix at most 0.125 LU off a gain found exactly.
    ``first_guess``: the limited gain to measure first (``analyse`` passes the one an
    earlier render of most of this mix settled on).
    """
    if measured_i == float("-inf"):
        return "anull", []   # silence: nothing to normalise
    gain = _on_grid(mix.loudness_lufs - measured_i)
    if measured_peak + gain <= mix.true_peak_db - PEAK_MARGIN_DB:   # a sample peak this low stays under in true peak
        return f"volume={gain:.2f}dB", [(gain, measured_i + gain)]
    if first_guess is not None:
        gain = _on_grid(first_guess)
    tried: list[tuple[float, float]] = []
    for attempt in range(MAX_LIMITER_PASSES):
        loudness, _peak = _measure(mix, _limited(gain, mix.true_peak_db), "the soundtrack (limiter pass)")
        tried.append((gain, loudness))
        if abs(loudness - mix.loudness_lufs) <= LOUDNESS_TOLERANCE_DB or attempt + 1 == MAX_LIMITER_PASSES:
            break
        slope = FIRST_SLOPE
        if len(tried) >= 2 and tried[-1][0] != tried[-2][0]:
            slope = (tried[-1][1] - tried[-2][1]) / (tried[-1][0] - tried[-2][0])
        slope = min(1.0, max(0.2, slope))   # a limiter gives back between a fifth and all of each dB
        step = _on_grid(gain + (mix.loudness_lufs - loudness) / slope) - gain
        gain += step or (GAIN_STEP_DB if loudness < mix.loudness_lufs else -GAIN_STEP_DB)   # always a new point
    best = min(tried, key=lambda point: abs(point[1] - mix.loudness_lufs))
    return _limited(best[0], mix.true_peak_db), tried


@dataclass(frozen=True)
class Level:
    """What the loudness analysis decided: the filters for every chunk, and its figures."""

    steps: str
    input_i: float
    input_peak: float
    tried: tuple[tuple[float, float], ...]


def analyse(mix: AudioMix, cache_dir: Path | None = None) -> Level:
    """Measure the whole mix and find its gain (and limiter): one pass, plus the limiter's.

    Pass one measures the mix with ``ebur128`` (a tenth of ``loudnorm``'s cost, which
    resamples to 192 kHz); then ``loudness_steps``. Last, among the grid's gains that put
    the mix on target too, the one whose chunks are already encoded wins (``_reuse``)."""
    measured_i, measured_peak = _measure(mix, "anull", "the soundtrack (loudness pass)")
    guess = _cached_limited_gain(mix, measured_i, cache_dir) if cache_dir is not None else None
    steps, tried = loudness_steps(mix, measured_i, measured_peak, guess)
    if cache_dir is not None and tried:
        steps = _reuse(mix, steps, tried, cache_dir)
    return Level(steps, measured_i, measured_peak, tuple(tried))


def _cached_limited_gain(mix: AudioMix, measured_i: float, cache_dir: Path) -> float | None:
    """The limited gain most of whose chunks are cached, if any: an edited article's earlier
    render landed there, and the edit moved the loudness by hundredths of a LU, so measuring
    it first usually ends the search in one limiter pass instead of two to four. Looked for
    from the linear gain up (the limiter only ever takes loudness away) by ``LIMITER_REACH_DB``;
    each gain is first probed with a few chunks, and counted in full only when one is there."""
    chunks = [chunk for chunk in pieces(mix) if chunk is not None]
    if not chunks or measured_i == float("-inf"):
        return None
    cache = ResultCache(cache_dir)
    probes = chunks[::max(1, len(chunks) // 3)][:3]

    def cached(chunk: AudioChunk, steps: str) -> bool:
        return _is_cached(cache, mix, chunk, steps)

    linear = _on_grid(mix.loudness_lufs - measured_i)
    best, best_cached = None, 0
    for step in range(round(LIMITER_REACH_DB / GAIN_STEP_DB) + 1):
        steps = _limited(linear + step * GAIN_STEP_DB, mix.true_peak_db)
        if any(cached(chunk, steps) for chunk in probes):
            count = sum(cached(chunk, steps) for chunk in chunks)
            if count > best_cached:
                best, best_cached = linear + step * GAIN_STEP_DB, count
    return best


def _reuse(mix: AudioMix, steps: str, tried: list[tuple[float, float]], cache_dir: Path) -> str:
    """``steps`` with its gain moved along the grid (two steps at most, the loudness predicted
    from the points measured staying within the tolerance) to the gain most of whose chunks
    are cached: the previous render of an edited article, whose loudness moved by a few
    hundredths of a LU, may have landed one step away."""
    limited = "alimiter" in steps
    gain = _gain_of(steps)
    loudness = next(level for g, level in tried if abs(g - gain) < 1e-9)
    slope = 1.0
    if limited:
        slope = FIRST_SLOPE
        if len(tried) >= 2 and tried[-1][0] != tried[-2][0]:
            slope = min(1.0, max(0.2, (tried[-1][1] - tried[-2][1]) / (tried[-1][0] - tried[-2][0])))
    cache = ResultCache(cache_dir)
    chunks = pieces(mix)
    best, best_cached = steps, -1
    for k in (0, -1, 1, -2, 2):   # nearest first: among as many cached chunks, the measured gain wins
        g = gain + k * GAIN_STEP_DB
        if abs(loudness + slope * (g - gain) - mix.loudness_lufs) > LOUDNESS_TOLERANCE_DB + 1e-6:
            continue
        candidate = _limited(g, mix.true_peak_db) if limited else f"volume={g:.2f}dB"
        cached = sum(chunk is not None and _is_cached(cache, mix, chunk, candidate) for chunk in chunks)
        if cached > best_cached:
            best, best_cached = candidate, cached
    return best


def _is_cached(cache: ResultCache, mix: AudioMix, chunk: AudioChunk, steps: str) -> bool:
    """Whether ``chunk`` encoded with ``steps`` is in the cache (what ``encode`` would reuse)."""
    return cache.entry("soundtrack", digest("soundtrack", *_chunk_key(mix, chunk, steps)), ".aac") is not None


def pieces(mix: AudioMix) -> list[AudioChunk | None]:
    """What is encoded apart: each chunk, or (None) the whole mix in one piece when music
    runs under it or the mix came without chunks."""
    if mix.music is None and len(mix.chunks) > 1:
        return list(mix.chunks)
    return [None]


@dataclass(frozen=True)
class Encoded:
    """An encoded piece of the soundtrack, ``seconds`` long; ``key`` names a cached chunk
    (None: the whole mix)."""

    path: Path
    key: str | None
    seconds: float


def encode(mix: AudioMix, piece: AudioChunk | None, level: Level, cache_dir: Path | None, work_dir: Path) -> Encoded:
    """One piece as raw AAC (ADTS): a chunk from the cache (made when missing), or the whole mix."""
    if piece is None:
        out = work_dir / "soundtrack-whole.aac"
        samples = sum(c.frames for c in mix.chunks) * mix.sample_rate // mix.fps if mix.chunks else None
        _encode(mix, mix.narration, mix.music, samples, level.steps, out)
        return Encoded(out, None, samples / mix.sample_rate if samples else mix.duration_ms / 1000)

    def produce(out: Path) -> None:
        source = out.with_name("chunk.wav")
        _write_chunks((piece,), mix.fps, source)
        _encode(mix, source, None, piece.frames * mix.sample_rate // mix.fps, level.steps, out)
        source.unlink()

    key = digest("soundtrack", *_chunk_key(mix, piece, level.steps))
    if cache_dir is None:
        out = work_dir / f"chunk-{key[:16]}.aac"
        produce(out)
        return Encoded(out, None, piece.frames / mix.fps)
    return Encoded(cached_file(cache_dir, "soundtrack", _chunk_key(mix, piece, level.steps), ".aac", produce), key,
                   piece.frames / mix.fps)


def _chunk_key(mix: AudioMix, piece: AudioChunk, steps: str) -> tuple[object, ...]:
    return (CHUNK_VERSION, piece, mix.fps, mix.sample_rate, steps, mix.bitrate, CODER)


def _encode(mix: AudioMix, narration: Path, music: Path | None, samples: int | None, steps: str, out: Path) -> None:
    length = [] if samples else ["-t", f"{mix.duration_ms / 1000:.3f}"]
    process.run([*_inputs(narration, music), "-filter_complex", _graph(mix, steps, music is not None, samples),
                 "-map", "[out]", *length, "-c:a", "aac", "-aac_coder", CODER, "-b:a", mix.bitrate,
                 "-ar", str(mix.sample_rate),
                 "-f", "adts", str(out)], "the soundtrack")
    if samples:
        made = len(adts_packets(out.read_bytes()))
        if made != -(-samples // AAC_FRAME) + 1:   # the priming frame, then the chunk's own
            raise process.RenderFailed("the soundtrack", 1, f"the AAC encoder wrote {made} frames for "
                                       f"{samples} samples; expected {-(-samples // AAC_FRAME) + 1}")


def adts_packets(data: bytes) -> list[bytes]:
    """An ADTS stream's packets (each with its 7- or 9-byte header)."""
    packets, at = [], 0
    while at < len(data):
        if at + 7 > len(data) or data[at] != 0xFF or data[at + 1] & 0xF0 != 0xF0:
            raise ValueError(f"not an ADTS frame at byte {at}")
        length = ((data[at + 3] & 0x03) << 11) | (data[at + 4] << 3) | (data[at + 5] >> 5)
        if length < 7 or at + length > len(data):
            raise ValueError(f"a truncated ADTS frame at byte {at}")
        packets.append(data[at:at + length])
        at += length
    return packets


def join(files: list[Path], out: Path) -> None:
    """The pieces' packets in order, each piece's priming frame dropped (see the module's
    docstring), in an MP4 audio file (.m4a) at ``out``. (Muxed straight from ADTS into the
    video, the MP4's chapter track got durations in the raw stream's time base and was
    dropped: the MP4 had chapters for ffmpeg but none for QuickTime players.)"""
    raw = out.with_name(f".{out.stem}.joined.aac")
    try:
        with open(raw, "wb") as writer:
            for path in files:
                for packet in adts_packets(path.read_bytes())[1:]:
                    writer.write(packet)
        process.run(["-i", str(raw), "-c", "copy", "-f", "mp4", str(out)], "the soundtrack (joining its chunks)")
    finally:
        raw.unlink(missing_ok=True)


def output_loudness(level: Level, pieces: list[Encoded], joined: Path, cache_dir: Path | None) -> tuple[float, float]:
    """Integrated loudness and true peak of the soundtrack in ``joined``, made from ``pieces``.

    The true peak is the highest of the pieces' (the soundtrack holds their very packets,
    and every join lies in silence). Each piece's is kept with the cache, so an edit
    measures its new chunks only, ``PEAK_BATCH`` to an ffmpeg; when more are new (a first
    render), one pass over ``joined`` measures the file's loudness and true peak, and each
    piece's from the 100 ms frames it touches (a frame across a join counts for both
    pieces: a piece's kept figure may include a few tens of ms of its neighbour's sound,
    so it can only overstate). Otherwise the loudness is the one the analysis measured on
    the mix at the gain (and limiter) used (AAC moves it by a few hundredths of a LU), or,
    when ``_reuse`` moved the gain to a point it predicted, ``joined``'s, measured again."""
    cache = ResultCache(cache_dir) if cache_dir is not None else None
    peaks = [cache.load_json("soundtrack_peak", piece.key) if cache and piece.key else None for piece in pieces]
    missing = [i for i, peak in enumerate(peaks) if peak is None]
    file_figures = None
    if len(missing) > PEAK_BATCH:   # a first render: measure the file, and each piece from its frames
        *file_figures, frames = _measure_frames(joined, sum(piece.seconds for piece in pieces))
        start = 0.0
        for i, piece in enumerate(pieces):
            end = start + piece.seconds
            # A frame's peak counts for every piece it overlaps (at a join, silence on both sides).
            peaks[i] = max((frame_peak for t, frame_peak in frames if t > start and t - FRAME_S < end), default=-90.0)
            start = end
    else:
        for at in range(0, len(missing), PEAK_BATCH):
            batch = missing[at:at + PEAK_BATCH]
            for i, peak in zip(batch, _measure_peaks([pieces[i].path for i in batch]), strict=True):
                peaks[i] = peak
    if cache:
        for i in missing:
            if pieces[i].key:
                cache.store_json("soundtrack_peak", pieces[i].key, peaks[i])
    if file_figures is not None:
        return file_figures[0], file_figures[1]
    peak = max((float(p) for p in peaks), default=-90.0)
    gain = _gain_of(level.steps)
    if "alimiter" not in level.steps:
        return level.input_i + gain, peak   # a gain alone moves the loudness by exactly itself
    measured = [value for tried, value in level.tried if abs(tried - gain) < 1e-9]
    return (measured[0], peak) if measured else measure_file(joined)


# New chunks measured apart, per ffmpeg. It runs beside two segment ffmpegs, so its memory
# adds to the render's peak: 60 MB for one or two inputs (as the loudness pass), 79 MB for
# four, 103 MB for eight, ~5 MB more per input. More new chunks than this: one pass over
# the joined file instead.
PEAK_BATCH = 2
FRAME_S = 0.1   # ebur128's frame log: one line per 100 ms


def _measure_frames(path: Path, seconds: float) -> tuple[float, float, list[tuple[float, float]]]:
    """The integrated loudness and true peak of ``path`` and, for each 100 ms frame, (its
    end in seconds, its true peak over the channels)."""
    what = "the soundtrack (final measure)"
    log = process.run(["-i", str(path), "-af", "ebur128=peak=true:framelog=info", "-f", "null", "-"], what,
                      loglevel="info", keep=int(seconds / FRAME_S) + 200)
    frames = []
    for t, values in re.findall(r"\bt:\s*([\d.]+)\s.*?FTPK:\s*([-\d.inf ]+?)\s*dBFS", log):
        frames.append((float(t), max(-90.0 if v == "-inf" else float(v) for v in values.split())))
    if not frames or frames[-1][0] < seconds - 2 * FRAME_S:
        raise process.RenderFailed(what, 1, f"ebur128 logged frames to {frames[-1][0] if frames else 0:.1f} s "
                                            f"of {seconds:.1f} s")
    return (*_summary(log, what), frames)


def _measure_peaks(paths: list[Path]) -> list[float]:
    """The true peak of each file, in one ffmpeg: an ``ebur128`` on each input, mixed into
    one output to discard."""
    what = "the soundtrack (true peaks)"
    n = len(paths)
    graph = "".join(f"[{k}:a]ebur128=peak=true[m{k}];" for k in range(n))
    graph += "".join(f"[m{k}]" for k in range(n)) + f"amix=inputs={n}:duration=longest[out]"
    log = process.run([*(arg for path in paths for arg in ("-i", str(path))), "-filter_complex", graph,
                       "-map", "[out]", "-f", "null", "-"], what, loglevel="info", keep=20 * n + 50)
    # Each ebur128 prints its summary (14 lines) under its own name, Parsed_ebur128_<k> for
    # the graph's k-th filter, in no fixed order.
    found = {int(index): float(peak) for index, peak in re.findall(
        r"\[Parsed_ebur128_(\d+) @ [^\]]*\] Summary:.*?Peak:\s+(-?[\d.]+) dBFS",
        log.replace("-inf dBFS", "-90.0 dBFS"), flags=re.S)}
    if sorted(found) != list(range(n)):
        raise process.RenderFailed(what, 1, "ebur128 printed no summary for every piece")
    return [found[k] for k in range(n)]


def measure_file(path: Path) -> tuple[float, float]:
    """Integrated loudness and true peak of an encoded soundtrack: what the viewer hears."""
    what = "the soundtrack (final measure)"
    return _summary(process.run(["-i", str(path), "-af", "ebur128=peak=true:framelog=verbose", "-f", "null", "-"],
                                what, loglevel="info"), what)


def figures(level: Level, final: tuple[float, float]) -> dict[str, float]:
    """The loudness figures for the manifest: before normalising, the gain, and on the encoded result."""
    gain = _gain_of(level.steps)
    limited = "alimiter" in level.steps
    return {"input_i": level.input_i if level.input_i != float("-inf") else -70.0, "input_peak": level.input_peak,
            "gain_db": round(gain, 2), "limited": limited,
            # measure, [limiter passes], encode, final measure (the file's, or an edit's new chunks')
            "passes": 3 + (len(level.tried) if limited else 0),
            "output_i": final[0] if final[0] != float("-inf") else -70.0, "output_tp": final[1]}


def render_audio(mix: AudioMix, out: Path, cache_dir: Path | None = None) -> dict[str, float]:
    """Mix, normalise and encode the soundtrack to AAC in ``out`` (.m4a), one piece after
    another; return the loudness figures. (``render_video`` runs the same steps with the
    pieces in parallel beside the picture.)"""
    level = analyse(mix, cache_dir)
    encoded = [encode(mix, piece, level, cache_dir, out.parent) for piece in pieces(mix)]
    join([piece.path for piece in encoded], out)
    return figures(level, output_loudness(level, encoded, out, cache_dir))
