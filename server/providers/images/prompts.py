"""FLUX prompts from a scene: plain prose a T5 encoder reads well, with the theme written in.

FLUX reads its prompt through T5 (256 tokens for schnell) beside CLIP (77), so it follows
sentences, not tag lists. The rules (issue 8): subject first, then setting, style,
lighting and camera; say what is wanted, never what is not (FLUX has no negative prompt
and tends to draw what a "no" names); always name the lighting; 30 to 80 words; one
concept per picture. The theme is written into the prompt rather than applied by a second
paid styling pass.
"""

from __future__ import annotations

import re

from config import THEMES
from server.providers.types import SceneSpec

MIN_WORDS, MAX_WORDS = 30, 80
VERSION = "1"   # bump when the same scene would get a different prompt: cached pictures are then redrawn

# Style and light per theme, matching the palettes in theme.py so remote and local pictures agree.
THEME_STYLE: dict[str, tuple[str, str]] = {
    "midnight": ("a calm editorial illustration in deep navy and indigo with warm amber accents",
                 "soft moonlight and the warm glow of a single lamp"),
    "paper": ("a clean hand-drawn illustration on warm cream paper with muted ink lines and rust-orange accents",
              "soft, even daylight"),
    "forest": ("a rich painterly illustration in deep forest greens with bright lime highlights",
               "dappled morning sunlight falling through leaves"),
    "sunset": ("a warm cinematic illustration in plum, burnt orange and gold",
               "low golden-hour sunlight with long soft shadows"),
    "ocean": ("a cool, airy illustration in deep teal and sea blue with bright aqua accents",
              "clear daylight shimmering off water"),
}
assert set(THEME_STYLE) == set(THEMES), "every theme in config.THEMES needs a style phrase"

# Words that mark a clause as style, light or camera rather than subject: the theme supplies
# those once, so a visual's own ("under soft studio light") would only contradict it.
_LOOK = re.compile(r"\b(style|styled|light|lighting|lit|background|backdrop|cent(er|re)d|composition|drawn|painted|"
                   r"rendered|photograph(ed)?|camera|lens|palette|tones|aesthetic|shot)\b", re.IGNORECASE)
# A clause ending "... under soft studio light" / "... in a flat graphic style": cut from its last
# preposition ("A fox in a snowy forest with light snow falling" keeps everything).
_LOOK_TAIL = re.compile(r"\s+(under|in|with|against|on)\s+(?:(?!\b(?:under|in|with|against|on)\b)[^,.])*?"
                        r"\b(light|lighting|style|background|backdrop)$", re.IGNORECASE)
_NEGATION = re.compile(r"\b(no|not|without|never|avoid|none|nothing|don't|doesn't)\b", re.IGNORECASE)
_MARKUP = re.compile(r"[*_`#<>\[\]{}|~^\\\"]+")


def _clean(text: str) -> str:
    text = _MARKUP.sub(" ", text)
    return re.sub(r"\s+", " ", text).strip(" ,;:-")


def _is_tag_list(text: str) -> bool:
    """"lighthouse, storm, rocks, sea" is a keyword list, not a description."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    return len(parts) >= 3 and sum(len(part.split()) <= 2 for part in parts) >= len(parts) - 1


def _positive(text: str) -> str:
    """Drop the clauses that say what should not be there (FLUX would draw it)."""
    sentences = re.split(r"(?<=[.!?])\s+", text)
    kept = []
    for sentence in sentences:
        clauses = [c for c in re.split(r",\s*|;\s*", sentence.rstrip(".!?")) if c and not _NEGATION.search(c)]
        if clauses:
            kept.append(", ".join(clauses) + ".")
    return " ".join(kept)


def _subject_only(text: str) -> str:
    """Keep what the visual shows; drop its own style, light and framing (the theme gives those)."""
    def untail(clause: str) -> str:
        while (shorter := _LOOK_TAIL.sub("", clause.strip())) != clause.strip():
            clause = shorter
        return clause.strip()

    kept = []
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        clauses = re.split(r",\s*", sentence.rstrip(".!?"))
        head = untail(clauses[0])
        rest = [untail(c) for c in clauses[1:] if not _LOOK.search(c)]
        if head and (not kept or not _LOOK.search(head)):
            kept.append(", ".join([head, *[c for c in rest if c]]) + ".")
    return " ".join(kept)


def _limit(text: str, words: int) -> str:
    """At most ``words`` words, cut after a whole sentence, else a clause, else a word."""
    if len(text.split()) <= words:
        return text
    taken = ""
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        if len(f"{taken} {sentence}".split()) > words:
            break
        taken = f"{taken} {sentence}".strip()
    if taken:
        return taken
    clause = ""
    for part in text.split(","):
        if len(f"{clause},{part}".split()) > words:
            break
        clause = f"{clause},{part}" if clause else part
    cut = clause if clause and len(clause.split()) >= words // 2 else " ".join(text.split()[:words])
    return cut.rstrip(" ,;:.") + "."


def _subject(scene: SceneSpec) -> str:
    concept = _clean(scene.concept) or "idea"
    visual = _clean(scene.visual)
    if visual and not _is_tag_list(visual):
        visual = _subject_only(_positive(visual))
    else:
        visual = ""
    if not visual:
        article = "An" if concept[:1].lower() in "aeiou" else "A"
        return f"{article} single {concept} as the clear subject of the picture."
    # One idea per picture: a description that runs on is kept to its first two sentences.
    visual = " ".join(re.split(r"(?<=[.!?])\s+", visual)[:2])
    visual = visual[0].upper() + visual[1:]
    return visual if visual.endswith((".", "!", "?")) else visual + "."


def flux_prompt(scene: SceneSpec, theme: str, aspect: str = "9:16") -> str:
    """The prompt for one scene's picture: its visual, then style, lighting and camera."""
    style, light = THEME_STYLE.get(theme, THEME_STYLE["midnight"])
    width, height = (int(n) for n in aspect.split(":"))
    frame = "a tall vertical frame" if height > width else "a wide frame" if width > height else "a square frame"
    rest = (f"Drawn as {style}, lit by {light}. "
            f"Medium shot at eye level in {frame}, the subject centred with gentle depth of field "
            f"and calm open space around it.")
    subject = _limit(_subject(scene), MAX_WORDS - len(rest.split()))
    prompt = f"{subject} {rest}"
    assert MIN_WORDS <= len(prompt.split()) <= MAX_WORDS, prompt
    return prompt
