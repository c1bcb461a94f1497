"""Word timings from real narrators, and the soundtrack: music ducked under the voice, loudness on target."""

from __future__ import annotations

import json
import re
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from server.pipeline.ffmpeg import ffmpeg_exe
from server.providers.narration.base import narrate, write_wav
from server.providers.narration.espeak import EspeakNarrator
from server.renderer.audio import render_audio
from server.renderer.model import AudioMix, Chapter
from server.renderer.mux import description_list, ffmetadata

pytestmark = pytest.mark.pipeline

TEXT = "Media Buddy turns an article into a video. Every word is timed from the voice itself."


def _samples(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as reader:
        return np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2"), reader.getframerate()


def _check_words(clip, text: str) -> None:  # noqa: ANN001
    samples, rate = _samples(clip.path)
    words = clip.words
    assert [w.text for w in words] == text.split()
    assert all(w.start_ms < w.end_ms for w in words)
    assert all(a.end_ms <= b.start_ms for a, b in zip(words, words[1:]))
    assert words[-1].end_ms <= clip.duration_ms
    # The first word starts where the voice does (the first sample above the noise floor).
    onset_ms = int(np.flatnonzero(np.abs(samples.astype(int)) > 300)[0]) * 1000 // rate
    assert abs(words[0].start_ms - onset_ms) < 120
    # Each caption cue carries its own words and spans them.
    for cue in clip.captions:
        assert cue.words and " ".join(w.text for w in cue.words) == cue.text
        assert (cue.start_ms, cue.end_ms) == (cue.words[0].start_ms, cue.words[-1].end_ms)


def test_piper_gives_word_timings_from_its_alignments(tmp_path: Path) -> None:
    from server.providers.narration.piper_voice import PiperNarrator, bundled_voice

    narrator = PiperNarrator(bundled_voice())
    assert narrator.aligned and narrator.identity.endswith(":aligned")
    samples, rate, spans = narrator.speak_timed("Every word is timed from the voice itself.")
    assert spans is not None and len(spans) == 8 and spans[-1][1] <= len(samples)
    _check_words(narrate(narrator, TEXT, tmp_path / "piper.wav", 350), TEXT)


def test_narrators_without_alignments_share_the_voiced_span(tmp_path: Path) -> None:
    _check_words(narrate(EspeakNarrator(), TEXT, tmp_path / "espeak.wav", 350), TEXT)


def _tone(path: Path, seconds: float, rate: int, hz: float, on: list[tuple[float, float]], level: float) -> None:
    t = np.arange(int(seconds * rate)) / rate
    signal = np.zeros_like(t)
    for a, b in on:
        mask = (t >= a) & (t < b)
        signal[mask] = level * np.sin(2 * np.pi * hz * t[mask])
    write_wav(path, np.round(signal * 32767).astype(np.int16), rate)


def _band_level(pcm: np.ndarray, rate: int, hz: float, start: float, end: float) -> float:
    window = pcm[int(start * rate):int(end * rate)]
    spectrum = np.abs(np.fft.rfft(window * np.hanning(len(window))))
    freqs = np.fft.rfftfreq(len(window), 1 / rate)
    return float(spectrum[(freqs > hz - 30) & (freqs < hz + 30)].max())


def test_music_is_ducked_under_the_voice_and_the_mix_is_normalised(tmp_path: Path) -> None:
    voice, music = tmp_path / "voice.wav", tmp_path / "music.wav"
    # A "voice" (a 220 Hz tone) speaks from 1 s to 4 s and from 7 s to 9 s; the music is a 3 kHz tone.
    _tone(voice, 10, 22050, 220, [(1, 4), (7, 9)], 0.08)
    _tone(music, 4, 44100, 3000, [(0, 4)], 0.5)   # shorter than the video: it loops
    out = tmp_path / "mix.m4a"
    measured = render_audio(AudioMix(voice, 10_000, music=music, music_gain_db=-12), out)
    assert measured["input_i"] < -14
    pcm = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(out), "-ac", "1", "-f", "s16le", "-ar", "48000", "-"],
                         capture_output=True, timeout=60).stdout
    audio = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    assert len(audio) == pytest.approx(10 * 48000, abs=2048)
    during = _band_level(audio, 48000, 3000, 2.0, 3.5)
    between = _band_level(audio, 48000, 3000, 5.0, 6.5)
    assert between > 2 * during        # ducked by more than 6 dB while the voice speaks
    fading = _band_level(audio, 48000, 3000, 9.5, 9.9)
    assert fading < between / 2       # and faded out at the end
    log = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(out), "-af", "ebur128=peak=true",
                          "-f", "null", "-"], capture_output=True, text=True, timeout=60).stderr
    assert -14.5 <= float(re.findall(r"I:\s+(-?[\d.]+) LUFS", log)[-1]) <= -13.5
    assert float(re.findall(r"Peak:\s+(-?[\d.]+) dBFS", log)[-1]) <= -1.0


@pytest.mark.utils
def test_chapter_list_and_marks() -> None:
    chapters = (Chapter(0, "Intro"), Chapter(65_000, "Why = how; #1"), Chapter(3_725_000, "Late"))
    assert description_list(chapters) == "0:00 Intro\n1:05 Why = how; #1\n1:02:05 Late\n"
    meta = ffmetadata(chapters, 4_000_000, "A title")
    assert "title=Why \\= how\\; \\#1" in meta and meta.count("[CHAPTER]") == 3
    assert "START=65000\nEND=3725000" in meta and meta.rstrip().endswith("title=Late")


def test_speech_with_high_peaks_reaches_the_target_through_the_limiter(tmp_path: Path) -> None:
    """Piper's voice peaks about 18 dB over its loudness: one gain and a limiter left the
    mix at -15.4 LUFS (measured on rendered videos). The limiter passes make up for it."""
    from server.providers.narration.piper_voice import PiperNarrator, bundled_voice

    clip = narrate(PiperNarrator(bundled_voice()), TEXT + " Plosives pop; the peaks stand proud of the speech.",
                   tmp_path / "piper.wav", 350)
    out = tmp_path / "voice.m4a"
    measured = render_audio(AudioMix(clip.path, clip.duration_ms), out)
    assert measured["limited"] and measured["input_peak"] - measured["input_i"] > 13   # a real crest, not a tone
    log = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(out), "-af", "ebur128=peak=true",
                          "-f", "null", "-"], capture_output=True, text=True, timeout=60).stderr
    integrated = float(re.findall(r"I:\s+(-?[\d.]+) LUFS", log)[-1])
    assert -14.5 <= integrated <= -13.5
    assert float(re.findall(r"Peak:\s+(-?[\d.]+) dBFS", log)[-1]) <= -1.0
    assert abs(measured["output_i"] - integrated) < 0.15



def _onsets_after_pauses(samples: np.ndarray, rate: int) -> list[int]:
    """Samples where the voice resumes after at least 40 ms below the noise floor."""
    loud = np.abs(samples.astype(np.int32)) > 300
    voiced = np.flatnonzero(loud)
    return [int(voiced[k + 1]) for k in np.flatnonzero(np.diff(voiced) >= rate * 0.04)]


def test_espeak_times_words_from_its_own_word_events(tmp_path: Path) -> None:
    """espeak-ng's synth callback carries a WORD event with its sample position per word.
    Before, words shared the voiced span by length, which put "green" 230 ms early and
    "internationalisation" 270 ms early here. A word after a comma starts where the voice
    resumes after the pause: that onset is the reference."""
    narrator = EspeakNarrator()
    sentence = "Red, green, internationalisation, blue, and a cat."
    samples, rate, spans = narrator.speak_timed(sentence)
    assert spans is not None and len(spans) == len(sentence.split())
    assert all(a < b <= c for (a, b), (c, _) in zip(spans, spans[1:])) and spans[-1][1] <= len(samples)
    onsets = _onsets_after_pauses(samples, rate)
    after_comma = [spans[i][0] for i in (1, 2, 3, 4)]   # green, internationalisation, blue, and
    for start in after_comma:
        nearest = min(onsets, key=lambda onset: abs(onset - start))
        assert abs(start - nearest) * 1000 / rate < 40, (start * 1000 // rate, nearest * 1000 // rate)
    # Through the narrator: every word, in order, each caption cue carrying its words.
    _check_words(narrate(narrator, TEXT, tmp_path / "espeak.wav", 350), TEXT)


def _voice_clip(path: Path, seconds: float, hz: float, seed: int) -> Path:
    """A speech-like clip: a tone with a syllable rhythm and noise, voiced nearly edge to edge."""
    rate = 22050
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2
    signal = 0.25 * envelope * np.sin(2 * np.pi * hz * t) + 0.02 * rng.standard_normal(len(t))
    write_wav(path, np.round(np.clip(signal, -1, 1) * 32767).astype(np.int16), rate)
    return path


def test_espeak_words_it_says_as_one_share_that_word_and_keep_the_sentence_timed(tmp_path: Path) -> None:
    """espeak gives "of the" and "do not" one word event: the whole sentence's timings were
    dropped for it (two of three English test sentences were shared out by length). Now the
    two words share the spoken word's span, and every other word keeps its own event."""
    from server.providers.narration.espeak import word_spans

    narrator = EspeakNarrator()
    sentence = "You do not belong, she said, and the rest of the team agreed."
    samples, rate, spans = narrator.speak_timed(sentence)
    tokens = sentence.split()
    assert spans is not None and len(spans) == len(tokens)
    assert all(a < b <= c for (a, b), (c, _) in zip(spans, spans[1:]))
    do, not_ = spans[tokens.index("do")], spans[tokens.index("not")]
    assert do[1] == not_[0] and (not_[1] - not_[0]) > (do[1] - do[0])   # one spoken word, shared by length
    onsets = _onsets_after_pauses(samples, rate)
    for word in ("she", "and"):   # after a comma: the voice resumes where the word starts
        start = spans[tokens.index(word)][0]
        assert min(abs(start - onset) for onset in onsets) * 1000 / rate < 40, word
    # Words before the first event go with the first word that has one; none at all: None.
    silent = np.zeros(1000, np.int16)
    silent[100:900] = 5000
    assert word_spans("of the cat", [(8, 100)], silent) == [(100, 300), (300, 600), (600, 900)]
    assert word_spans("of the cat", [], silent) is None


def _chunked_mix(folder: Path, clips: list[Path], name: str) -> AudioMix:
    from server.digests import file_sha256
    from server.renderer.audio import frames_for, lay_out
    from server.renderer.model import AudioChunk, AudioClip
    from server.renderer.plan import audio_unit

    fps, unit, guard = 30, audio_unit(30), 1
    chunks = []
    for clip in clips:
        frames = -(-(frames_for(clip, fps)[0] + 2 * guard) // unit) * unit
        chunks.append(AudioChunk(frames, (AudioClip(clip, file_sha256(clip), guard, frames - 2 * guard),)))
    total = sum(c.frames for c in chunks)
    mix = AudioMix(folder / f"{name}.wav", total * 1000 // fps, fps=fps, chunks=tuple(chunks))
    lay_out(mix)
    return mix


def _decoded(path: Path) -> np.ndarray:
    pcm = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-ac", "1", "-f", "f32le", "-"],
                         capture_output=True, check=True, timeout=60).stdout
    return np.frombuffer(pcm, dtype=np.float32)


def test_chunks_join_to_what_one_encode_gives_to_the_sample(tmp_path: Path) -> None:
    """Each scene's sound is encoded apart and the packets joined: the result must be as
    long as the picture to the sample, start on time, and sound like one encode of the whole,
    with nothing at the joins (a click would show as a large difference there)."""
    from dataclasses import replace

    clips = [_voice_clip(tmp_path / f"c{i}.wav", s, hz, i) for i, (s, hz) in enumerate([(2.3, 180), (1.7, 240), (2.9, 150)])]
    mix = _chunked_mix(tmp_path, clips, "narration")
    joined = render_audio(mix, tmp_path / "joined.m4a", tmp_path / "cache")
    whole = render_audio(replace(mix, chunks=()), tmp_path / "whole.m4a")   # the same mix as one piece
    assert joined["output_i"] == pytest.approx(-14, abs=0.4) and joined["output_tp"] <= -1.0
    # The figures reported come from the chunks and the analysis, not from measuring the
    # joined file: they must be that file's own.
    log = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(tmp_path / "joined.m4a"), "-af",
                          "ebur128=peak=true", "-f", "null", "-"], capture_output=True, text=True, timeout=60).stderr
    assert joined["output_i"] == pytest.approx(float(re.findall(r"I:\s+(-?[\d.]+) LUFS", log)[-1]), abs=0.15)
    assert joined["output_tp"] == pytest.approx(float(re.findall(r"Peak:\s+(-?[\d.]+) dBFS", log)[-1]), abs=0.1)
    a, b = _decoded(tmp_path / "joined.m4a"), _decoded(tmp_path / "whole.m4a")
    samples = sum(c.frames for c in mix.chunks) * 48000 // 30
    assert len(a) == samples                                   # no priming left, no padding: in step with the picture
    reference = np.frombuffer(subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(mix.narration), "-af", "aresample=48000", "-f", "f32le",
         "-"], capture_output=True, check=True, timeout=60).stdout, dtype=np.float32)
    onset = lambda x: int(np.flatnonzero(np.abs(x) > 0.01)[0])  # noqa: E731
    assert abs(onset(a) - onset(reference)) <= 64              # the voice starts where the narration has it
    n = min(len(a), len(b))
    difference = a[:n] - b[:n]
    assert np.sqrt(np.mean(difference ** 2)) < 0.01 * np.sqrt(np.mean(b[:n] ** 2))
    joins = np.cumsum([c.frames * 1600 for c in mix.chunks])[:-1]
    for at in joins:
        assert np.abs(a[at - 1024:at + 1024]).max() < 0.01     # an AAC frame of silence on both sides of every join
        assert np.abs(difference[at - 4096:at + 4096]).max() < 0.05


def test_an_edited_scene_re_encodes_only_its_own_sound(tmp_path: Path) -> None:
    """After one scene changes (and the scenes after it move), the other scenes' encoded
    chunks are the cache's: only the edited one is made again, and only its true peak is
    measured again (the others' are kept with them)."""
    cache = tmp_path / "cache"
    clips = [_voice_clip(tmp_path / f"c{i}.wav", 2.0 + 0.3 * i, 160 + 20 * i, i) for i in range(4)]
    edited = _voice_clip(tmp_path / "edited.wav", 3.1, 210, 9)

    def entries(kind: str = "soundtrack", pattern: str = "*.aac") -> set[Path]:
        return set((cache / kind).rglob(pattern)) if (cache / kind).exists() else set()

    render_audio(_chunked_mix(tmp_path, clips, "before"), tmp_path / "before.m4a", cache)
    made, peaks = entries(), entries("soundtrack_peak", "*.json")
    assert len(made) == 4 and len(peaks) == 4
    after = render_audio(_chunked_mix(tmp_path, [clips[0], edited, clips[2], clips[3]], "after"),
                         tmp_path / "after.m4a", cache)
    assert len(entries() - made) == 1 and len(entries("soundtrack_peak", "*.json") - peaks) == 1
    assert after["output_i"] == pytest.approx(-14, abs=0.4)
    log = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(tmp_path / "after.m4a"), "-af",
                          "ebur128=peak=true", "-f", "null", "-"], capture_output=True, text=True, timeout=60).stderr
    assert after["output_tp"] == pytest.approx(float(re.findall(r"Peak:\s+(-?[\d.]+) dBFS", log)[-1]), abs=0.1)



def _peaky_clip(path: Path, seconds: float, hz: float, seed: int) -> Path:
    """A quiet speech-like clip with sharp clicks: peaks far over its loudness, as piper's
    plosives are, so one gain would clip and the limiter is needed."""
    rate = 22050
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    signal = 0.04 * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2) * np.sin(2 * np.pi * hz * t)
    for at in rng.uniform(0.1, seconds - 0.1, size=int(seconds * 6)):
        signal[int(at * rate):int(at * rate) + 40] += 0.5 * np.hanning(40)
    write_wav(path, np.round(np.clip(signal, -1, 1) * 32767).astype(np.int16), rate)
    return path


def test_an_edit_measures_the_gain_its_earlier_render_settled_on_first(tmp_path: Path) -> None:
    """A limited mix's gain is found in measured passes (each a pass over the whole mix). After
    an edit the loudness moves by hundredths of a LU, so the gain the earlier render settled
    on (its chunks are cached) is measured first: one limiter pass, and the other chunks reused."""
    from server.renderer.audio import GAIN_STEP_DB, analyse

    cache = tmp_path / "cache"
    clips = [_peaky_clip(tmp_path / f"p{i}.wav", 2.5 + 0.4 * i, 170 + 15 * i, i) for i in range(5)]
    before = render_audio(_chunked_mix(tmp_path, clips, "before"), tmp_path / "before.m4a", cache)
    assert before["limited"] and before["passes"] >= 5, before   # the search took two limiter passes or more
    edited = _chunked_mix(tmp_path, [*clips[:2], _peaky_clip(tmp_path / "e.wav", 3.0, 200, 9), *clips[3:]], "after")
    level = analyse(edited, cache)
    assert len(level.tried) == 1 and abs(level.tried[0][0] - before["gain_db"]) < GAIN_STEP_DB / 2, level.tried
    assert abs(level.tried[0][1] - -14) <= 0.3


def test_each_chunks_true_peak_kept_in_the_cache_is_its_own(tmp_path: Path) -> None:
    """A first render measures every chunk's true peak from the joined soundtrack's 100 ms
    frames (a frame across a join counts for both chunks), an edit its new chunks apart
    (``PEAK_BATCH`` to an ffmpeg): the figure kept for a chunk is the one ebur128 finds on
    that chunk alone, or, from the frames, never below it nor above its neighbours'."""
    from server.renderer.audio import PEAK_BATCH, _measure_peaks

    clips = [_voice_clip(tmp_path / f"c{i}.wav", 0.6 + 0.05 * i, 150 + 7 * i, i) for i in range(2 * PEAK_BATCH + 3)]
    for i, clip in enumerate(clips):   # louder and louder: the peaks differ, so an order mix-up shows
        with wave.open(str(clip), "rb") as reader:
            samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
        write_wav(clip, np.round(samples * (0.2 + 0.04 * i)).astype(np.int16), 22050)
    cache = tmp_path / "cache"
    render_audio(_chunked_mix(tmp_path, clips, "many"), tmp_path / "many.m4a", cache)
    chunks = sorted((cache / "soundtrack").rglob("*.aac"))
    assert len(chunks) == len(clips)

    def own(chunk: Path) -> float:
        log = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(chunk), "-af", "ebur128=peak=true",
                              "-f", "null", "-"], capture_output=True, text=True, timeout=60).stderr
        return float(re.findall(r"Peak:\s+(-?[\d.]+) dBFS", log)[-1])

    kept = {chunk: json.loads((cache / "soundtrack_peak" / chunk.parent.name[:2] / f"{chunk.parent.name}.json")
                              .read_text()) for chunk in chunks}
    assert len(set(kept.values())) > PEAK_BATCH
    alone = {chunk: own(chunk) for chunk in chunks}
    order = sorted(chunks, key=alone.get)   # quietest first
    for i, chunk in enumerate(order):
        # The chunks were made louder and louder, so a chunk's neighbours in time are the
        # chunks next to it in loudness.
        assert alone[chunk] - 0.05 <= kept[chunk] <= max(alone[c] for c in order[max(0, i - 1):i + 2]) + 0.05
    for chunk, peak in zip(chunks[:PEAK_BATCH], _measure_peaks(chunks[:PEAK_BATCH]), strict=True):
        assert peak == pytest.approx(own(chunk), abs=0.05)
