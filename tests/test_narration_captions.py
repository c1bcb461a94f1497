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
