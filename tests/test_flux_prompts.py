"""FLUX prompts: prose, subject first, the theme written in, 30-80 words, nothing negative."""

from __future__ import annotations

import re

import pytest

from config import THEMES
from server.providers.images.prompts import MAX_WORDS, MIN_WORDS, THEME_STYLE, flux_prompt
from server.providers.types import SceneSpec

pytestmark = pytest.mark.utils

NEGATIVE = re.compile(r"\b(no|not|without|never|avoid|none)\b", re.IGNORECASE)

CASES = [
    ("lighthouse", "A weathered lighthouse stands on a rocky headland above a stormy grey sea.",
     "A weathered lighthouse stands on a rocky headland"),
    ("brass key", "An old brass key lies on a wooden desk, with no people in the room and no text.",
     "An old brass key lies on a wooden desk."),
    ("lighthouse", "lighthouse, storm, rocks, sea, night", "A single lighthouse"),
    ("kubernetes cluster", "", "A single kubernetes cluster"),
    ("orchard", "**An apple orchard** in `full` bloom under a pale sky.", "An apple orchard in full bloom"),
    ("village", "A mountain village wakes at dawn. " * 12, "A mountain village wakes at dawn. A mountain village "
     "wakes at dawn. Drawn as"),
    ("bridge", " ".join(["a long suspension bridge"] * 30), "A long suspension bridge"),
    ("archive", "Rows of grey filing cabinets fill a quiet archive, avoid any clutter.",
     "Rows of grey filing cabinets fill a quiet archive."),
    ("fox", "A fox in a snowy forest with light snow falling.", "A fox in a snowy forest with light snow falling."),
    ("Rust Foundation", "A single bold symbolic illustration of Rust Foundation, centered on a plain deep navy "
     "background, drawn in a clean flat graphic style under soft even studio light.",
     "A single bold symbolic illustration of Rust Foundation. Drawn as"),
    ("barista", "A barista pours steamed milk into a cup, shot from above with a 35mm lens. Warm window light falls "
     "across the counter.", "A barista pours steamed milk into a cup. Drawn as"),
    ("candle", "A candle burns on a table in a flat graphic style under soft light.", "A candle burns on a table. Dr"),
]


def sections(prompt: str) -> list[int]:
    """Where style, lighting and camera start: they must come in this order, after the subject."""
    return [prompt.index("Drawn as"), prompt.index(" lit by "), prompt.index("Medium shot")]


@pytest.mark.parametrize("concept, visual, opening", CASES)
def test_prompts_are_prose_of_the_right_length_subject_first(concept, visual, opening):
    prompt = flux_prompt(SceneSpec(0, "text", concept, visual), "midnight", "9:16")
    words = prompt.split()
    assert MIN_WORDS <= len(words) <= MAX_WORDS, (len(words), prompt)
    assert prompt.startswith(opening), prompt
    assert sections(prompt) == sorted(sections(prompt)) and sections(prompt)[0] > 0
    assert not NEGATIVE.search(prompt), prompt
    assert not re.search(r"[*`#<>\[\]{}]", prompt)
    assert prompt.endswith(".") and "  " not in prompt
    assert prompt.count(",") <= len(words) // 6, "reads like a keyword list"
    assert len(re.findall(r"\blight\b|\bstyle\b", prompt.split("Drawn as")[0])) <= ("light" in opening), \
        "the visual's own style and light would contradict the theme's"


@pytest.mark.parametrize("theme", THEMES)
def test_every_theme_is_written_into_the_prompt(theme):
    style, light = THEME_STYLE[theme]
    prompt = flux_prompt(SceneSpec(0, "t", "harbour", "A small harbour at dawn."), theme, "16:9")
    assert style in prompt and f"lit by {light}" in prompt
    assert MIN_WORDS <= len(prompt.split()) <= MAX_WORDS


def test_themes_differ_and_the_frame_follows_the_aspect():
    scene = SceneSpec(0, "t", "harbour", "A small harbour at dawn.")
    assert len({flux_prompt(scene, theme) for theme in THEMES}) == len(THEMES)
    assert "tall vertical frame" in flux_prompt(scene, "paper", "9:16")
    assert "wide frame" in flux_prompt(scene, "paper", "16:9")
    assert "square frame" in flux_prompt(scene, "paper", "1:1")
    assert flux_prompt(scene, "paper", "4:5") == flux_prompt(scene, "paper", "4:5")
