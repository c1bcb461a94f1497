"""The author's style profile: measured from real samples, stable, and telling authors apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.providers.voice import style
from tests.conftest import CORPUS

pytestmark = pytest.mark.pipeline
TWAIN = CORPUS / "voice"


def _articles() -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted((CORPUS / "articles").glob("*.md")) if "-fr-" not in p.name]


def test_profile_measures_rhythm_vocabulary_punctuation_and_phrases():
    texts, sha = style.read_samples(TWAIN)
    profile = style.profile_texts(texts, sha)
    assert profile.words > 20_000 and profile.sentences > 800
    assert 12 < profile.sentence_mean < 30 and profile.sentence_p90 > profile.sentence_median
    assert profile.punctuation["semicolon"] > 5  # Twain's semicolons; technical writing has few
    assert set(profile.function_words) >= {"the", "and", "of"}
    phrases = profile.signature_phrases
    assert 5 <= len(phrases) <= 12
    # Style, not topic: no phrase carries the essays' subjects.
    assert not any(topic in p for p in phrases for topic in ("wagner", "cooper", "switzerland", "deerslayer"))
    guide = profile.guide()
    assert "words on average" in guide and "semicolon" in guide


def test_profile_is_stable_and_tells_authors_apart():
    texts, sha = style.read_samples(TWAIN)
    first, again = style.profile_texts(texts, sha), style.profile_texts(list(texts), sha)
    assert first == again and first.distance(again) == 0
    halves = style.profile_texts(texts[:2]).distance(style.profile_texts(texts[2:]))
    other = style.profile_texts(_articles())
    assert first.distance(other) > 1.4 * halves, (first.distance(other), halves)
    assert other.punctuation["parenthesis"] > 5 * first.punctuation["parenthesis"]


def test_profile_is_cached_by_the_samples_content(tmp_path: Path):
    samples = tmp_path / "samples"
    samples.mkdir()
    for source in sorted(TWAIN.iterdir())[:2]:
        (samples / source.name).write_bytes(source.read_bytes())
    cache = tmp_path / "cache"
    profile, excerpts = style.load_profile(samples, cache)
    entries = list((cache / "style").rglob("*.json"))
    assert len(entries) == 1 and excerpts and all(len(e.split()) <= 120 for e in excerpts)
    (samples / "renamed.txt").write_bytes((samples / sorted(p.name for p in samples.iterdir())[0]).read_bytes())
    (samples / sorted(p.name for p in samples.iterdir())[0]).unlink()
    assert style.load_profile(samples, cache)[0] == profile  # names do not matter, content does
    assert len(list((cache / "style").rglob("*.json"))) == 1
    (samples / "more.txt").write_text("A new sample changes the profile. " * 50, encoding="utf-8")
    assert style.load_profile(samples, cache)[0] != profile
    assert len(list((cache / "style").rglob("*.json"))) == 2


def test_unusable_samples_are_clear_errors(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(style.SamplesError, match="MEDIABUDDY_VOICE_SAMPLES"):
        style.read_samples(tmp_path / "empty")
    (tmp_path / "bad.txt").write_bytes(b"caf\xe9 au lait")
    with pytest.raises(style.SamplesError, match="not UTF-8"):
        style.read_samples(tmp_path / "bad.txt")
    (tmp_path / "tiny.txt").write_text("Too short to have a style.", encoding="utf-8")
    with pytest.raises(style.SamplesError, match="a few thousand"):
        style.profile_texts(style.read_samples(tmp_path / "tiny.txt")[0])
