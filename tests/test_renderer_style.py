"""House-style rules that hold for every aspect: captions placement and phrasing, pans, music choice."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import video_size
from server.renderer.fonts import caption_font
from server.renderer.graph import pan_path
from server.renderer.model import Cut, Encoding, Still, Word
from server.renderer.music import MusicProblem, choose_music
from server.renderer.style import caption_look, motion_for, phrases

pytestmark = pytest.mark.utils


@pytest.mark.parametrize("aspect", ["9:16", "16:9", "1:1", "4:5"])
def test_captions_sit_below_the_centre_inside_safe_margins(aspect: str) -> None:
    width, height = video_size(aspect, 1080)
    look = caption_look(width, height, "Source Sans Pro", (255, 255, 255), (255, 200, 40), 0)
    two_lines_top = height - look.margin_v - 2 * 1.25 * look.font_size
    assert two_lines_top > height * 0.5             # never over the picture's centre
    assert look.margin_v >= height * 0.08            # clear of the bottom edge and players' controls
    assert look.margin_h >= int(width * 0.08)
    assert look.font_size >= min(width, height) * 0.06   # readable on a phone


def test_phrases_have_at_most_two_lines_that_fit() -> None:
    font = caption_font("en")
    width, height = 1080, 1920
    look = caption_look(width, height, font.family, (255, 255, 255), (255, 200, 40), 0)
    text = ("Extraordinarily long words like internationalisation and incomprehensibilities appear, "
            "and then some short ones follow. Then a sentence ends. Another begins here and keeps going "
            "for quite a while without any pause at all until it finally stops.").split()
    words = [Word(i * 300, i * 300 + 250, w) for i, w in enumerate(text)]
    cut = phrases(words, len(words) * 300 + 500, look, font.path, width)
    assert [w.text for p in cut for w in p.words] == text   # every word, once, in order
    from PIL import ImageFont

    face = ImageFont.truetype(str(font.path), look.font_size)
    for phrase in cut:
        assert 1 <= len(phrase.lines) <= 2
        for line in phrase.lines:
            assert face.getlength(" ".join(w.text for w in line)) <= width - 2 * look.margin_h
        assert phrase.start_ms == phrase.words[0].start_ms and phrase.end_ms >= phrase.words[-1].end_ms
    assert all(a.end_ms <= b.start_ms for a, b in zip(cut, cut[1:]))
    assert all(len(p.words) >= 2 for p in cut)


@pytest.mark.parametrize("sentence", [
    "The sign read 'No entry' in faded paint, and the gulls ignored it completely as gulls always do.",
    "She called it the \u201cquiet season of the year\u201d when ships stayed home and the sea rested.",
    "The keeper (who never slept much anyway) trimmed the wick by hand every single hour.",
])
def test_phrases_do_not_end_inside_a_short_quotation(sentence: str) -> None:
    """A phrase cut between 'No and entry' showed a quotation mark that opens on one
    caption and closes on the next."""
    font = caption_font("en")
    look = caption_look(1080, 1920, font.family, (255, 255, 255), (255, 200, 40), 0)
    text = sentence.split()
    cut = phrases([Word(i * 300, i * 300 + 250, w) for i, w in enumerate(text)], len(text) * 300, look,
                  font.path, 1080)
    assert [w.text for p in cut for w in p.words] == text
    for phrase in cut:
        opened = sum(w.text[0] in "'\u201c(" for w in phrase.words)
        closed = sum(w.text.rstrip(",.")[-1] in "'\u201d)" for w in phrase.words)
        assert opened == closed, [p.text for p in cut]


def test_phrases_are_balanced_and_never_a_lone_word() -> None:
    """The previous cut closed a phrase when its second line was full, so a sentence's last
    word ("code.") flashed alone; a one-word sentence did too."""
    font = caption_font("en")
    look = caption_look(1080, 1920, font.family, (255, 255, 255), (255, 200, 40), 0)
    text = ("It is a more powerful and flexible replacement for the old request object in your code. "
            "Why? The reason is simple, and it shows in every line you write.").split()
    words = [Word(i * 300, i * 300 + 250, w) for i, w in enumerate(text)]
    cut = phrases(words, len(words) * 300, look, font.path, 1080)
    assert [w.text for p in cut for w in p.words] == text
    assert all(2 <= len(p.words) <= 8 for p in cut)
    sizes = [len(p.words) for p in cut]
    assert max(sizes) - min(sizes) <= 3          # balanced, not 8 words then 1
    assert any(p.words[-1].text == "simple," for p in cut)   # a comma is a natural break
    assert not any(p.words[-1].text in ("the", "a", "and") for p in cut[:-1])
    # A pause of a second starts a new phrase, unless it would leave one word alone.
    paused = [Word(0, 250, "Look"), Word(300, 550, "here."), Word(1600, 1850, "Now.")]
    assert [len(p.words) for p in phrases(paused, 2500, look, font.path, 1080)] == [3]
    paused.append(Word(1900, 2100, "Go!"))
    assert [p.text for p in phrases(paused, 2500, look, font.path, 1080)] == ["Look here.", "Now. Go!"]
    # French articles do not dangle either.
    french = ("Lors de la mise en page d'un document, le moteur de rendu du navigateur représente chaque "
              "élément sous la forme d'une boîte rectangulaire selon le modèle de boîte CSS de base.").split()
    cut = phrases([Word(i * 300, i * 300 + 250, w) for i, w in enumerate(french)], len(french) * 300, look,
                  font.path, 1080)
    assert not any(p.words[-1].text in ("la", "le", "de", "du", "d'une") for p in cut[:-1]), [p.text for p in cut]
    # A scene that says one word still shows it.
    assert [p.text for p in phrases([Word(0, 300, "Hello.")], 900, look, font.path, 1080)] == ["Hello."]


def test_pans_run_along_the_long_side_and_stay_inside_the_picture() -> None:
    for aspect in ("9:16", "16:9"):
        width, height = video_size(aspect, 1080)
        enc = Encoding(width, height, 30)
        for index in range(4):
            motion = motion_for(index, width, height)
            assert (motion.dx == 0) == (height > width) and abs(motion.dx) + abs(motion.dy) == 1
            for frames in (90, 600):   # a short scene, and one long enough to turn back
                cut = Cut(Still(Path("x.png"), "0" * 64), motion, frames, 10)
                path = pan_path(cut, enc, (width, height))
                for n in range(0, frames + 10):
                    x = eval(path.x.replace("n", str(n)), {"abs": abs, "mod": lambda a, b: a % b})  # noqa: S307
                    y = eval(path.y.replace("n", str(n)), {"abs": abs, "mod": lambda a, b: a % b})  # noqa: S307
                    assert 0 <= x <= path.scaled_width - width and 0 <= y <= path.scaled_height - height
                assert path.scaled_width <= width * 1.12 and path.scaled_height <= height * 1.12


def test_music_choice(tmp_path: Path) -> None:
    (tmp_path / "calm.mp3").write_bytes(b"x")
    (tmp_path / "bright.ogg").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("not music")
    assert choose_music(tmp_path, "calm", "a") == tmp_path / "calm.mp3"
    assert choose_music(tmp_path, "none", "a") is None
    assert choose_music(tmp_path, None, "a") == choose_music(tmp_path, None, "a")   # stable per article
    assert choose_music(None, None, "a") is None
    with pytest.raises(MusicProblem, match="available: bright.ogg, calm.mp3"):
        choose_music(tmp_path, "../secret", "a")
    with pytest.raises(MusicProblem, match="MEDIABUDDY_MUSIC_DIR is not set"):
        choose_music(None, "calm", "a")


def test_title_lines_are_balanced() -> None:
    """The greedy wrap left "CSS" alone on the title card's last line (seen in the French render)."""
    from server.renderer.style import wrap_title

    font = caption_font("fr")
    lines = wrap_title("Introduction au modèle de boîte CSS", font.path, 108, 864).split("\n")
    assert len(lines) == 3 and all(len(line.split()) >= 2 for line in lines[1:]), lines
    assert wrap_title("Fetch API", font.path, 108, 864) == "Fetch API"
    long = wrap_title("A very long title about the things that matter most in software engineering today and "
                      "tomorrow and beyond", font.path, 108, 864)
    assert long.count("\n") == 3 and long.endswith("…")
