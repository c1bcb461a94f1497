"""The soundtrack: narration laid out in video time, music ducked under it, loudness-normalised.

The scenes' WAVs are written one after another (streamed, never all in memory), each
padded with silence to a whole number of video frames, so every scene starts on a frame
and the audio can never drift from the picture. Each clip gets a few milliseconds of fade
at both ends, so a join is never a click. ffmpeg then ducks the music under the voice
(``sidechaincompress``), fades it out, and normalises the mix in two passes (measure with
``ebur128``, then one gain and a limiter) to about -14 LUFS with the true peak under -1 dBTP.
"""

from __future__ import annotations

import re
import wave
from pathlib import Path

import numpy as np

from server.renderer import process
from server.renderer.model import AudioMix

FADE_MS = 6


def frames_for(path: Path, fps: int) -> tuple[int, int]:
    """(video frames the clip needs, its sample rate)."""
    with wave.open(str(path), "rb") as reader:
        samples, rate = reader.getnframes(), reader.getframerate()
    return max(1, -(-samples * fps // rate)), rate


def lay_out(clips: list[Path], frames: list[int], lead_frames: int, fps: int, out: Path) -> int:
    """Write the narration track to ``out``: ``lead_frames`` of silence (the title card),
    then each clip padded to its frame count. Returns the track's sample rate."""
    rate = 0
    with wave.open(str(out), "wb") as writer:
        written = 0
        cum_frames = lead_frames
        for i, (clip, count) in enumerate(zip(clips, frames, strict=True)):
            with wave.open(str(clip), "rb") as reader:
                if reader.getnchannels() != 1 or reader.getsampwidth() != 2:
                    raise ValueError(f"{clip.name}: narration must be mono 16-bit PCM")
                if i == 0:
                    rate = reader.getframerate()
                    writer.setnchannels(1)
                    writer.setsampwidth(2)
                    writer.setframerate(rate)
                    written = _silence(writer, round(lead_frames * rate / fps))
                elif reader.getframerate() != rate:
                    raise ValueError(f"{clip.name} has a sample rate of {reader.getframerate()} Hz, "
                                     f"the first scene {rate} Hz")
                samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2").astype(np.float32)
            cum_frames += count
            end = round(cum_frames * rate / fps)   # exact frame boundary, no accumulated rounding
            writer.writeframes(_faded(samples[: end - written], rate).astype("<i2").tobytes())
            written += min(len(samples), end - written)
            written += _silence(writer, end - written)
    return rate


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


def _graph(mix: AudioMix, loudnorm: str) -> str:
    seconds = mix.duration_ms / 1000
    voice = f"[0:a]aresample={mix.sample_rate},aformat=sample_fmts=fltp:channel_layouts=stereo"
    if mix.music is None:
        return f"{voice},{loudnorm}[out]"
    fade = min(mix.music_fade_ms / 1000, seconds / 3)
    return (f"{voice},asplit=2[voice][key];"
            f"[1:a]aresample={mix.sample_rate},aformat=sample_fmts=fltp:channel_layouts=stereo,"
            f"volume={mix.music_gain_db}dB,atrim=end={seconds:.3f},afade=t=in:d=0.8,"
            f"afade=t=out:st={max(0.0, seconds - fade):.3f}:d={fade:.3f}[music];"
            f"[music][key]sidechaincompress=threshold=0.02:ratio=8:attack=20:release=400[ducked];"
            f"[voice][ducked]amix=inputs=2:duration=first:normalize=0,{loudnorm}[out]")


def _inputs(mix: AudioMix) -> list[str]:
    args = ["-i", str(mix.narration)]
    if mix.music is not None:
        args += ["-stream_loop", "-1", "-i", str(mix.music)]
    return args


LOUDNESS_TOLERANCE_DB = 0.3   # integrated loudness this close to the target is on target
MAX_LIMITER_PASSES = 4
PEAK_MARGIN_DB = 1.0
FIRST_SLOPE = 0.6   # LU gained per dB of gain into the limiter: 0.57 for piper's voice, 0.71 for espeak-ng (measured)


def _measure(mix: AudioMix, steps: str, what: str) -> tuple[float, float]:
    """Integrated loudness (LUFS) and true peak (dBTP) of the mix after ``steps``, no output written."""
    log = process.run([*_inputs(mix), "-filter_complex", _graph(mix, f"{steps},ebur128=peak=true:framelog=verbose"),
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


def loudness_steps(mix: AudioMix, measured_i: float, measured_tp: float) -> tuple[str, list[tuple[float, float]]]:
    """The filters that bring the mix to the target, and the (gain, loudness) points tried.

    A mix whose peaks stay under the ceiling after the gain needs the gain alone (exact,
    linear). Otherwise the limiter shaves the peaks and with them some loudness (speech
    with a high crest factor, piper's voice among them, lost 1.4 dB this way), so the gain
    is raised and measured again, by the secant through the points tried, until the
    limited mix is within ``LOUDNESS_TOLERANCE_DB`` of the target.
    """
    if measured_i == float("-inf"):
        return "anull", []   # silence: nothing to normalise
    gain = max(-30.0, min(30.0, mix.loudness_lufs - measured_i))
    if measured_tp + gain <= mix.true_peak_db:
        return f"volume={gain:.2f}dB", [(gain, measured_i + gain)]
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
        gain = max(-30.0, min(30.0, gain + (mix.loudness_lufs - loudness) / slope))
    best = min(tried, key=lambda point: abs(point[1] - mix.loudness_lufs))
    return _limited(best[0], mix.true_peak_db), tried


def render_audio(mix: AudioMix, out: Path) -> dict[str, float]:
    """Mix, normalise and encode the soundtrack to AAC in ``out`` (.m4a); return the
    loudness measured before normalising and on the encoded result.

    Pass one measures the mix with ``ebur128`` (integrated loudness and true peak; a tenth
    of ``loudnorm``'s cost, which resamples to 192 kHz); then one linear gain, or a gain
    and a limiter found in a few measured passes (``loudness_steps``); the encoded file is
    measured last, so the figures reported are the viewer's.
    """
    measured_i, measured_tp = _measure(mix, "anull", "the soundtrack (loudness pass)")
    steps, tried = loudness_steps(mix, measured_i, measured_tp)
    process.run([*_inputs(mix), "-filter_complex", _graph(mix, steps), "-map", "[out]",
                 "-t", f"{mix.duration_ms / 1000:.3f}", "-c:a", "aac", "-b:a", "160k", "-ar", str(mix.sample_rate),
                 "-f", "mp4", str(out)], "the soundtrack")
    what = "the soundtrack (final measure)"
    final_i, final_tp = _summary(process.run(["-i", str(out), "-af", "ebur128=peak=true:framelog=verbose",
                                              "-f", "null", "-"], what, loglevel="info"), what)
    gain = float(re.findall(r"volume=(-?[\d.]+)dB", steps)[0]) if "volume=" in steps else 0.0
    return {"input_i": measured_i if measured_i != float("-inf") else -70.0, "input_tp": measured_tp,
            "gain_db": round(gain, 2), "limited": "alimiter" in steps,
            "passes": 3 + (len(tried) if "alimiter" in steps else 0),   # measure, [limiter passes], encode, measure
            "output_i": final_i if final_i != float("-inf") else -70.0, "output_tp": final_tp}
