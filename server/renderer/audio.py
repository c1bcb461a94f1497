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


def render_audio(mix: AudioMix, out: Path) -> dict[str, float]:
    """Mix, normalise and encode the soundtrack to AAC in ``out`` (.m4a); return the
    loudness measured before normalising.

    Pass one measures the mix with ``ebur128`` (integrated loudness and true peak; a tenth
    of ``loudnorm``'s cost, which resamples to 192 kHz); pass two applies one linear gain
    and, only where the peaks would pass the ceiling, a limiter set below it.
    """
    log = process.run([*_inputs(mix), "-filter_complex", _graph(mix, "ebur128=peak=true:framelog=verbose"),
                       "-map", "[out]", "-f", "null", "-"], "the soundtrack (loudness pass)", loglevel="info")
    integrated = re.findall(r"I:\s+(-?[\d.]+|-inf) LUFS", log)
    peak = re.findall(r"Peak:\s+(-?[\d.]+|-inf) dBFS", log)
    if not integrated or not peak:
        raise process.RenderFailed("the soundtrack (loudness pass)", 1, "ebur128 printed no summary")
    measured_i = float(integrated[-1]) if integrated[-1] != "-inf" else mix.loudness_lufs
    measured_tp = float(peak[-1]) if peak[-1] != "-inf" else -90.0
    gain = max(-30.0, min(30.0, mix.loudness_lufs - measured_i))   # silence is not boosted without bound
    steps = f"volume={gain:.2f}dB"
    if measured_tp + gain > mix.true_peak_db:
        # alimiter works on sample peaks; 0.5 dB of headroom covers the overshoot between samples.
        ceiling = 10 ** ((mix.true_peak_db - 0.5) / 20)
        steps += f",alimiter=limit={ceiling:.4f}:level=false:attack=5:release=60"
    process.run([*_inputs(mix), "-filter_complex", _graph(mix, steps), "-map", "[out]",
                 "-t", f"{mix.duration_ms / 1000:.3f}", "-c:a", "aac", "-b:a", "160k", "-ar", str(mix.sample_rate),
                 "-f", "mp4", str(out)], "the soundtrack")
    return {"input_i": measured_i, "input_tp": measured_tp, "gain_db": round(gain, 2)}
