"""Caption text from narration: every character of the scene's text reaches the captions."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.providers.narration.base import narrate
from server.providers.narration.captions import split_sentences
from server.providers.narration.espeak import EspeakNarrator

QUOTED = ('The keeper said, "Light the lamp before the storm." Nobody answered him that night. '
          '"Why do you climb?" the child asked. He wrote \'stop.\' Then he left (as keepers do.) The end')


@pytest.mark.parametrize(("text", "sentences"), [
    (QUOTED, ['The keeper said, "Light the lamp before the storm."', "Nobody answered him that night.",
              '"Why do you climb?" the child asked.', "He wrote 'stop.'", "Then he left (as keepers do.)",
              "The end"]),
    ("It costs 3.5 dollars. 4 people paid it.", ["It costs 3.5 dollars.", "4 people paid it."]),
    ("one sentence without an end", ["one sentence without an end"]),
    ("  \n ", []),
])
def test_sentences_keep_their_closing_quotes_and_brackets(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences
    assert " ".join(split_sentences(text)).split() == text.split()   # nothing but whitespace is lost


def test_caption_words_are_the_texts_words_quotes_included(tmp_path: Path) -> None:
    """Through a real narrator: the timed words, and the cues, read exactly as written."""
    clip = narrate(EspeakNarrator("en"), QUOTED, tmp_path / "quoted.wav", 300)
    assert [w.text for w in clip.words] == QUOTED.split()
    assert " ".join(c.text for c in clip.captions).split() == QUOTED.split()


class _Untimed:
    """A narrator that says no word timings (as a voice without alignments): espeak-ng's
    speech through ``speak`` alone."""

    name = identity = "espeak-untimed"

    def __init__(self) -> None:
        self._voice = EspeakNarrator("en")

    def speak(self, sentence: str):  # noqa: ANN201
        return self._voice.speak(sentence)


def test_words_of_a_narrator_without_timings_start_at_the_pauses(tmp_path: Path) -> None:
    """Where a narrator gives no timings, the words are placed at the pauses in its audio:
    each word after a comma or semicolon starts within 60 ms of where espeak-ng itself says
    it does (shared out by length, they were up to 180 ms off)."""
    text = ("Every evening, without fail, the keeper climbed the spiral stairs; then, at last, "
            "he lit the lamp for the ships.")
    own = narrate(EspeakNarrator("en"), text, tmp_path / "own.wav", 300).words
    placed = narrate(_Untimed(), text, tmp_path / "placed.wav", 300).words
    assert [w.text for w in placed] == [w.text for w in own] == text.split()
    after_pause = [i + 1 for i, w in enumerate(own[:-1]) if w.text.endswith((",", ";"))]
    assert len(after_pause) == 5
    assert all(abs(placed[i].start_ms - own[i].start_ms) <= 60 for i in after_pause), \
        [(own[i].text, own[i].start_ms, placed[i].start_ms) for i in after_pause]
    assert all(a.end_ms <= b.start_ms for a, b in zip(placed, placed[1:]))
