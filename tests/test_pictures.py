"""Offline pictures: icons matched to concepts by meaning, drawn in the theme, captions' zone kept quiet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from server.providers.images import icons, pillow_card
from server.providers.images.theme import PALETTES
from server.providers.types import ImageStyle, SceneSpec

pytestmark = pytest.mark.pipeline


@pytest.mark.parametrize("words, proper, expected", [
    (["database", "backup"], False, "solid/database"),        # the head noun names an icon
    (["budget"], False, "solid/sack-dollar"),                 # a tag: what the icon stands for
    (["mistakes"], False, "solid/circle-xmark"),              # plural to singular, through the tags
    (["error", "handling"], False, "solid/bug"),              # a modifier when the head has no picture
    (["Rust"], True, "brands/rust"),                          # a brand only for a proper noun
    (["mountains"], False, "solid/mountain"),
])
def test_concepts_match_icons_by_meaning(words: list[str], proper: bool, expected: str) -> None:
    found = icons.match(words, proper=proper)
    assert found and found[0][1] == expected and found[0][0] >= icons.GOOD_MATCH


@pytest.mark.parametrize("concept, language, expected", [
    ("boîte", "fr", "solid/box"),                  # the hand table: no spelling rule reaches "box"
    ("marges", "fr", "solid/expand"),             # plural to singular before the table
    ("sécurité", "fr", "solid/shield-halved"),     # a cognate by spelling rule: -ité → -ity
    ("catégorie", "fr", "solid/tags"),             # -ie → -y
    ("mot de passe", "fr", "solid/key"),           # a phrase glossed whole
    ("arrière-plan", "fr", "solid/image"),
    ("猫", "ja", "solid/cat"),                      # kanji, through the small table
    ("コンピューター", "ja", "solid/computer"),      # katakana, through the voice dictionary's readings
    ("ネットワーク", "ja", "solid/globe"),
    ("本棚", "ja", "solid/book"),                   # an unknown compound: its glossed character
])
def test_french_and_japanese_concepts_find_their_picture(concept: str, language: str, expected: str) -> None:
    # With the language given (the planner) and guessed from the words (the card, which has none).
    for given in (language, None):
        found = icons.match(concept.replace("-", " ").split() if given is None else concept.split(),
                            language=given)
        assert found and found[0][1] == expected and found[0][0] >= icons.GOOD_MATCH, (concept, given, found[:3])


def test_the_french_head_noun_comes_first_and_is_glossed() -> None:
    assert icons.in_english(["boîte", "rectangulaire"], "fr")[-1] == "box"
    assert icons.in_english(["zone", "de", "contenu"], "fr") == ["document", "area"]


def test_every_gloss_is_a_word_some_icon_answers_to() -> None:
    from server.providers.images import glossary

    known = icons.vocabulary()
    missing = [(word, gloss) for table in (glossary._FRENCH, glossary._JAPANESE) for word, gloss in table.items()
               if gloss not in known and icons._singular(gloss) not in known]
    assert not missing


def test_english_words_are_not_read_as_french() -> None:
    # "chat" is an English word with its own icon; "police" is not in the French table on purpose.
    assert icons.match(["chat"])[0][1] == "solid/comments"
    assert icons.in_english(["police"]) == ["police"]


def test_a_word_with_no_picture_matches_nothing_good() -> None:
    assert icons.picturable(["whereabouts"]) < icons.GOOD_MATCH
    assert icons.match(["rust"], proper=False)[0][1] != "brands/rust" if icons.match(["rust"]) else True


def test_every_tag_names_an_icon_that_exists() -> None:
    missing = sorted({slug for slugs in icons.TAGS.values() for slug in slugs
                      if f"solid/{slug}" not in icons.catalogue()})
    assert missing == []


def _render(tmp_path: Path, concept: str, text: str, *, index: int = 0, theme: str = "midnight",
            size: tuple[int, int] = (540, 960)) -> np.ndarray:
    out = tmp_path / f"{theme}-{index}-{concept.replace(' ', '_')}.png"
    style = ImageStyle(width=size[0], height=size[1], theme=theme, title="A field guide", scene_count=12)
    pillow_card.render(SceneSpec(index=index, text=text, concept=concept, visual="A picture."), style, out)
    with Image.open(out) as image:
        assert image.size == size and image.mode == "RGB"
        return np.asarray(image).astype(np.int16)


@pytest.mark.parametrize("theme", sorted(PALETTES))
def test_the_picture_sits_in_the_centre_and_the_lower_third_stays_quiet(tmp_path: Path, theme: str) -> None:
    pixels = _render(tmp_path, "lighthouse keeper", "The keeper climbed the stairs.", theme=theme)
    h = pixels.shape[0]
    centre = pixels[int(h * 0.2):int(h * 0.6)]
    lower = pixels[int(h * 0.7):]
    # The centre carries a picture (strong local contrast); below 70% there is only the gradient.
    assert np.abs(np.diff(centre, axis=1)).max() > 100
    assert np.abs(np.diff(lower, axis=1)).max() < 12 and np.abs(np.diff(lower, axis=0)).max() < 12


def test_the_icon_drawn_is_the_concepts_icon(tmp_path: Path) -> None:
    """Render the same card twice, once with each of two different concepts: the badge area differs
    where the icon differs, and the rest of the card is identical."""
    a = _render(tmp_path, "database", "Back up the database.", index=3)
    b = _render(tmp_path, "budget", "Plan the budget.", index=3)
    h, w = a.shape[:2]
    badge = (slice(int(h * 0.15), int(h * 0.55)), slice(int(w * 0.25), int(w * 0.75)))
    assert np.abs(a[badge] - b[badge]).mean() > 5
    assert np.array_equal(a[int(h * 0.7):], b[int(h * 0.7):])
    assert pillow_card.choose_icon(SceneSpec(3, "Back up the database.", "database", "x")) == "solid/database"


def test_a_repeated_concept_varies_from_scene_to_scene(tmp_path: Path) -> None:
    first = _render(tmp_path, "mistakes", "We all make mistakes.", index=4)
    second = _render(tmp_path, "mistakes", "We all make mistakes.", index=5)
    h = first.shape[0]
    assert np.abs(first[: int(h * 0.6)] - second[: int(h * 0.6)]).mean() > 3


def test_a_concept_with_no_icon_borrows_a_noun_from_its_scene(tmp_path: Path) -> None:
    scene = SceneSpec(0, "Her whereabouts were unknown until a letter arrived from the harbour.", "whereabouts", "x")
    assert pillow_card.choose_icon(scene) in {"solid/envelope", "solid/anchor"}
    nothing = SceneSpec(0, "Quietly, slowly, carefully.", "whereabouts", "x")
    assert pillow_card.choose_icon(nothing) == pillow_card.FALLBACK_ICON


def test_landscape_cards_keep_the_picture_above_the_captions(tmp_path: Path) -> None:
    pixels = _render(tmp_path, "rocket launch", "The rocket lifted off at dawn.", size=(960, 540))
    h = pixels.shape[0]
    assert np.abs(np.diff(pixels[int(h * 0.72):], axis=1)).max() < 12


def _always_shown(width: int, height: int) -> tuple[float, float, float, float]:
    """The part of a card (pixels: left, top, right, bottom) that every frame of every pan
    the renderer makes at this size shows, from the renderer's own crop paths."""
    from server.renderer.graph import pan_path
    from server.renderer.model import Cut, Encoding, Still
    from server.renderer.style import motion_for

    box = [0.0, 0.0, float(width), float(height)]
    for index in range(4):
        for frames in (90, 400, 1200):   # short, one full travel, long enough to turn back
            cut = Cut(Still(Path("card.png"), "0" * 64), motion_for(index, width, height), frames, 10)
            path = pan_path(cut, Encoding(width, height, 30), (width, height))
            sx, sy = path.scaled_width / width, path.scaled_height / height
            for n in range(0, frames + 10, 7):
                x = eval(path.x.replace("n", str(n)), {"abs": abs, "mod": lambda a, b: a % b})  # noqa: S307
                y = eval(path.y.replace("n", str(n)), {"abs": abs, "mod": lambda a, b: a % b})  # noqa: S307
                box = [max(box[0], x / sx), max(box[1], y / sy),
                       min(box[2], (x + width) / sx), min(box[3], (y + height) / sy)]
    return box[0], box[1], box[2], box[3]


@pytest.mark.parametrize("size", [(540, 960), (960, 540), (720, 720)])
def test_masthead_and_counter_stay_inside_every_pan_frame(tmp_path: Path, size: tuple[int, int]) -> None:
    """The pan used to cut the masthead and the counter at the top edge (seen on the
    first and last frames of scenes): they were drawn at 7% of the height, the pan hides
    up to 9%."""
    w, h = size
    scene = SceneSpec(index=0, text="The keeper climbed.", concept="lighthouse", visual="A picture.")
    cards = {}
    for name, title, count in (("full", "A field guide to lighthouses", 12), ("bare", "", 12),
                               ("count", "A field guide to lighthouses", 98)):
        out = tmp_path / f"{name}.png"
        pillow_card.render(scene, ImageStyle(width=w, height=h, theme="midnight", title=title, scene_count=count), out)
        with Image.open(out) as image:
            cards[name] = np.asarray(image).astype(np.int16)
    left, top, right, bottom = _always_shown(w, h)
    assert top > 0.05 * h or left > 0.05 * w   # the pans do hide an edge
    for other in ("bare", "count"):   # where the masthead (then the counter) is drawn
        ys, xs = np.nonzero(np.abs(cards["full"] - cards[other]).max(axis=2) > 24)
        assert len(ys) > 50
        assert ys.min() >= top and ys.max() < bottom and xs.min() >= left and xs.max() < right, \
            (other, (xs.min(), ys.min(), xs.max(), ys.max()), (left, top, right, bottom))


@pytest.mark.parametrize("words, proper, expected", [
    (["box", "model"], False, "solid/box"),               # CSS: the modifier settles what "model" means
    (["data", "model"], False, "solid/database"),
    (["business", "model"], False, "solid/briefcase"),
    (["role", "model"], False, "solid/star"),             # a phrase tag names the whole compound
    (["language", "model"], False, "solid/robot"),        # the sense the robot does picture
    (["control", "flow"], False, "solid/diagram-project"),
    (["docker", "images"], False, "brands/docker"),       # the tool's mark, not a photograph
    (["service", "workers"], False, "solid/gears"),       # a script in the browser, not a person at work
    (["service", "account"], False, "solid/user"),        # an account, not a hotel bell
    (["communication", "failure"], False, "solid/comments"),   # people talking past each other, not a bug
])
def test_a_compound_is_pictured_in_the_sense_its_modifier_gives(words: list[str], proper: bool,
                                                                 expected: str) -> None:
    found = icons.match(words, proper=proper)
    assert found and found[0][1] == expected and found[0][0] >= icons.GOOD_MATCH, found[:3]


@pytest.mark.parametrize("words", [["execution", "order"], ["box", "model"], ["comparison", "operator"]])
def test_an_unsettled_ambiguous_head_never_draws_its_other_sense(words: list[str]) -> None:
    keys = {key for _, key in icons.match(words)}
    assert not keys & {"solid/cart-shopping", "solid/robot", "solid/user-gear"}


def test_a_repeated_concept_keeps_its_icon_when_the_second_is_weaker() -> None:
    """"GitHub Flow" drew the GitHub mark on even scenes and water (a tag of "flow") on odd ones."""
    icons_drawn = {pillow_card.choose_icon(SceneSpec(i, "Learn the GitHub Flow.", "GitHub Flow", "x"))
                   for i in range(6)}
    assert icons_drawn == {"brands/github"}
    # Equally good candidates (two tags of one word) may still alternate.
    assert len({pillow_card.choose_icon(SceneSpec(i, "The maintenance.", "maintenance", "x"))
                for i in range(4)}) == 2


def test_a_concept_without_an_icon_never_borrows_from_a_persons_name() -> None:
    """"Stacked Borrows" was drawn as a tree taken from "Forest Anderson" in the same scene."""
    scene = SceneSpec(44, 'Ralf Jung: "I am still surprised anyone is taking Miri and Stacked Borrows seriously." '
                          'Forest Anderson: "As someone', "Stacked Borrows", "x")
    assert pillow_card.choose_icon(scene) == pillow_card.FALLBACK_ICON
    # Nor from a proper noun that names something else in the scene ("Windows" in a list of systems).
    systems = SceneSpec(31, "On Windows. Hyperfine can be installed via Chocolatey, Scoop, or Winget.", "Winget", "x")
    assert pillow_card.choose_icon(systems) == pillow_card.FALLBACK_ICON
    # Nor from a noun that only modifies another ("error" of "error handling" is not the scene's thing).
    generics = SceneSpec(5, "For a while, the lack of generics surpassed complaints about error handling.",
                         "generics", "x")
    assert pillow_card.choose_icon(generics) == pillow_card.FALLBACK_ICON


def test_a_concept_without_an_icon_is_pictured_by_its_own_words_first() -> None:
    # "stacked" → stack (layers), before any noun of the scene ("letter" → envelope).
    scene = SceneSpec(0, "A letter explained the stacked borrows model.", "stacked borrows", "x")
    assert pillow_card.choose_icon(scene) == "solid/layer-group"
    # A concept that is a technology's name in lower case keeps its mark.
    github = SceneSpec(40, "I respond to github or zulip notifications.", "github", "x")
    assert pillow_card.choose_icon(github) == "brands/github"
