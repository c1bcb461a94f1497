"""One concrete, picturable concept per scene, and one sentence describing it.

Content analysis over the whole article: the text is tagged once (``nlp.analyse``), every
noun phrase is found (a noun or proper noun with its compound modifiers; an adjective only
when the article repeats the pair, as in "mental health"), and each scene picks the phrase
that best balances

- salience: how often the scene says it, times how rare it is in the other scenes (tf-idf),
  plus a little for being a topic of the whole article;
- picturability: whether an icon names it (``images.icons.match``), and how abstract it
  sounds (-ness, -ity, -ism... cost a little);
- variety: the concept of the scene before costs a little, so neighbours differ.

Vague nouns ("thing", "way", "lot") never win. The visual description is one sentence
about that one thing, built from the concept and the picture chosen for it.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass

from server.providers.images import icons
from server.providers.timeline import nlp
from server.providers.types import SceneSpec

_VAGUE = frozenset("thing things way ways lot lots kind kinds sort sorts bit bits case cases fact facts point "
                   "points example examples part parts number numbers time times something anything everything "
                   "nothing someone anyone everyone one ones stuff aspect aspects matter matters deal end sense "
                   "reason reasons question questions use uses type types area areas place places side sides "
                   "lack level amount couple instance instances other others rest addition terms term "
                   "chose choses façon fois cas exemple partie type manière "
                   "こと もの ため よう とき ところ 方 の 人 何 それ これ".split())
_OPENING = frozenset("\"“‘'([«「『")
# Words for an amount, never a picture: "one hundred percent", "a dozen", "the majority".
_QUANTITIES = frozenset("percent percentage percentages per cent pourcentage dozen dozens majority minority "
                        "plenty handful number numbers amount amounts quantity total half quarter "
                        "pour-cent".split())
# Nouns that measure what follows "of" ("the sheer volume of proposals", "a variety of tools",
# "the output of these outcomes"): the thing after "of" is the idea, these only say how much of it.
_AMOUNT_OF = frozenset("volume volumes variety range series bunch multitude plethora proliferation output "
                       "wealth host flood stream".split())
# Units: not a concept when a number counts them ("five seconds"); a thing otherwise ("the clock's seconds").
_UNITS = frozenset("second seconds millisecond milliseconds minute minutes hour hours day days week weeks month "
                   "months year years decade decades time times byte bytes kilobyte kilobytes megabyte megabytes "
                   "gigabyte gigabytes line lines word words character characters page pages point points dollar "
                   "dollars euro euros cent cents step steps seconde minute heure jour semaine mois an année fois "
                   "ligne mot caractère octet degree degrees".split())
# Time spans picture as a calendar, rarely a scene's idea ("the first hot day of the year"): they only win alone.
_TIME_SPANS = frozenset("year years month months week weeks day days hour hours minute minutes second seconds "
                        "decade decades moment moments time année mois semaine jour heure".split())
# Set phrases whose noun is no thing at all: "of course" is an adverb, "into account" a verb's
# complement, "out of the box" means "ready made". Their noun would be pictured in the wrong sense
# (a lecture for "course", a user for "account", a parcel for "box"). Words before the noun, then the noun.
_IDIOMS = tuple(tuple(phrase.split()) for phrase in (
    "of course", "into account", "in mind", "up to date", "out of date", "out of the box", "in fact", "in order",
    "at least", "in short", "by default", "in general", "in particular", "in reality", "in the first place",
    "on purpose", "in case", "in addition", "in the end", "at all", "in turn", "by far", "on the other hand",
    "in the long run", "a great deal", "in a way", "at the same time", "at some point", "make sense",
    "makes sense", "in charge", "take place", "takes place", "in place", "to mind", "in reference", "with reference",
    "clear picture", "clearer picture", "big picture", "bigger picture", "full picture", "whole picture",
))
_ABSTRACT_SUFFIXES = (("ness", 0.9), ("ity", 0.8), ("ism", 0.8), ("ship", 0.6), ("hood", 0.6), ("ance", 0.5),
                      ("ence", 0.5), ("ment", 0.3), ("tion", 0.3), ("sion", 0.3))
_BACKDROPS = {"midnight": ("deep navy", "amber"), "paper": ("warm cream", "burnt orange"),
              "forest": ("dark moss green", "lime"), "sunset": ("dusky plum", "golden"),
              "ocean": ("deep teal", "aqua")}
_FRAMES = (
    "{Thing} pictured as one bold {icon} symbol in {accent} on a plain {backdrop} background.",
    "A single {accent} {icon} symbol standing for {thing}, centred on a quiet {backdrop} backdrop.",
    "{Thing} drawn as one large flat {icon} icon glowing {accent} against {backdrop}.",
    "One clean {icon} emblem in {accent} that represents {thing}, alone on a {backdrop} field.",
)


@dataclass(frozen=True)
class Draft:
    """A scene before it has a concept: its text and where it lies in the narration text."""

    index: int
    text: str
    start: int
    end: int
    chapter: str = ""


@dataclass(frozen=True)
class Phrase:
    """A noun phrase found in the article: how it reads, its lemmas (head last), if proper."""

    surface: str
    lemmas: tuple[str, ...]
    proper: bool
    start: int
    named: bool = False   # some word is a proper noun ("Rust project"): a brand mark may picture it
    person: bool = False  # a person's name ("Forest Anderson"): its words are not its picture

    @property
    def key(self) -> str:
        return " ".join(self.lemmas)


def assign(drafts: list[Draft], analysed: str, *, theme: str, language: str) -> list[SceneSpec]:
    """Give every drafted scene its concept and visual description."""
    tokens = nlp.analyse(analysed, language)
    phrases = noun_phrases(tokens, analysed)
    pair_counts = Counter(p.key for p in phrases if len(p.lemmas) > 1)
    per_scene: list[list[Phrase]] = [[] for _ in drafts]
    starts = [d.start for d in drafts]
    for phrase in phrases:
        if len(phrase.lemmas) > 1 and pair_counts[phrase.key] < 2 and not phrase.proper:
            phrase = _without_adjectives(phrase, tokens)
        scene = _scene_of(phrase.start, starts)
        if scene is not None and drafts[scene].start <= phrase.start < drafts[scene].end:
            per_scene[scene].append(phrase)
    heads = [{p.lemmas[-1] for p in found} for found in per_scene]
    document_frequency = Counter(h for hs in heads for h in hs)
    article_frequency = Counter(p.lemmas[-1] for found in per_scene for p in found)
    chosen: list[Phrase | None] = []
    previous = ""
    for draft, found in zip(drafts, per_scene):
        best = _strongest(found, document_frequency, article_frequency, len(drafts), previous, language)
        # The validator reads the concept where the scene first says it: "benchmarks" found in
        # "a series of benchmarks" is a verb in the heading "Parameterized benchmarks." before it.
        while best is not None and _misread(best, draft, language):
            found = [p for p in found if p.surface != best.surface]
            best = _strongest(found, document_frequency, article_frequency, len(drafts), previous, language)
        chosen.append(best)
        previous = best.key if best else previous
    fallback = _article_fallback(chosen, article_frequency)
    scenes = []
    for position, (draft, phrase) in enumerate(zip(drafts, chosen)):
        # A scene that names nothing ("if you have always wanted to contribute...") continues
        # the picture of the scene before it (or after it, at the start).
        phrase = phrase or _neighbour(chosen, position) or fallback
        concept = phrase.surface if phrase else "an open notebook"
        lemmas = list(phrase.lemmas) if phrase else ["notebook"]
        scenes.append(SceneSpec(index=draft.index, text=draft.text, concept=concept,
                                visual=describe(concept, lemmas, theme, proper=bool(phrase and phrase.named),
                                                salt=draft.text, language=language),
                                chapter=draft.chapter))
    return scenes


def _misread(phrase: Phrase, draft: Draft, language: str) -> bool:
    """The timeline's validator would not read ``phrase`` as a noun phrase in this scene.

    It tags the scene alone, at the first place the scene says the phrase. The article's
    tagging agrees except where a word is ambiguous there: said twice ("Parameterized
    benchmarks." then "a series of benchmarks") or capitalised at a sentence's start
    ("Parameterized"). Only those (few) are tagged again to check."""
    text = draft.text.lower()
    if text.count(phrase.surface.lower()) < 2 and not phrase.surface[:1].isupper():
        return False
    from server.providers.timeline import rules   # rules imports this module: import when first needed

    return bool(rules.concept_problem(phrase.surface, language=language, context=draft.text))


def noun_phrases(tokens: tuple[nlp.Token, ...], text: str) -> list[Phrase]:
    """Every noun phrase: a noun or proper-noun head with the modifiers just before it."""
    phrases: list[Phrase] = []
    for i, token in enumerate(tokens):
        if token.pos not in nlp.NOUN_TAGS or not _wordlike(token.text):
            continue
        follower = tokens[i + 1] if i + 1 < len(tokens) else None
        # A noun that modifies the next noun ("database" in "database backup") is not a head.
        if follower and follower.pos in nlp.NOUN_TAGS and _wordlike(follower.text) and follower.start <= token.end + 1 \
                and (token.dep in ("compound", "flat", "nmod") or token.head == i + 1):
            continue
        first = i
        while first > 0 and i - first < 2:   # at most two modifiers: a name, not a description
            before = tokens[first - 1]
            if before.pos not in nlp.MODIFIER_TAGS or not _wordlike(before.text) or before.end + 1 < tokens[first].start:
                break
            if before.pos == "ADJ" and token.pos == "PROPN":
                break
            first -= 1
        # "first-time product owners": a word glued to the one before it belongs to that word
        # (but a word after an opening quote is a word: "GitHub Flow" keeps its GitHub).
        while first < i and first > 0 and tokens[first].start == tokens[first - 1].end \
                and tokens[first - 1].text not in _OPENING:
            first += 1
        if _verb_opening(tokens, i) or _in_idiom(text, token):
            continue
        if text[token.end:token.end + 1] == "-" and token.end + 1 < len(text) and text[token.end + 1].isalnum():
            continue   # "line" of "line-height": a piece of a hyphenated name, not a noun of its own
        span = tokens[first:i + 1]
        lemmas = tuple(t.lemma.lower() if t.pos != "PROPN" else t.text.lower() for t in span)
        if lemmas[-1] in _VAGUE or len(lemmas[-1]) < 2 or lemmas[-1] in _QUANTITIES:
            continue
        if lemmas[-1] in _AMOUNT_OF and follower is not None and follower.text.lower() == "of":
            continue
        # "five seconds", "ten years", "one hundred people": a measure, not a thing to picture.
        if lemmas[-1] in _UNITS and first > 0 and tokens[first - 1].pos == "NUM":
            continue
        surface = text[span[0].start:span[-1].end]
        proper = all(t.pos == "PROPN" for t in span)
        if not proper and surface[:1].isupper() and span[0].pos != "PROPN" and not surface[1:2].isupper():
            surface = surface[:1].lower() + surface[1:]
        phrases.append(Phrase(surface, lemmas, proper, span[0].start, any(t.pos == "PROPN" for t in span),
                              proper and all(t.entity == "PERSON" for t in span)))
    return phrases


def _verb_opening(tokens: tuple[nlp.Token, ...], i: int) -> bool:
    """"Returns a promise", "Gives you control": a sentence opening with a verb whose subject a
    README leaves out, which the tagger often reads as a plural noun (a determiner or pronoun
    right after a plural noun that opens a sentence is rare)."""
    token = tokens[i]
    opens = i == 0 or tokens[i - 1].pos == "PUNCT" and tokens[i - 1].text in (".", "!", "?", ":", ";", "•")
    after = tokens[i + 1] if i + 1 < len(tokens) else None
    if not opens or not token.text[:1].isupper() or after is None or after.pos not in ("DET", "PRON"):
        return False
    plural = token.pos == "NOUN" and token.text.endswith("s") and not token.text.endswith("ss")
    # "Group all services...": an imperative the tagger calls a proper noun at the root of its
    # sentence; a real name opening a sentence is followed by its verb, not by a determiner.
    imperative = token.pos == "PROPN" and token.dep == "ROOT"
    return plural or imperative


def _in_idiom(text: str, token: nlp.Token) -> bool:
    """The noun ends a set phrase ("of course", "up-to-date", "out of the box"): not a thing."""
    noun = token.text.lower()
    before = text[max(0, token.start - 40):token.start].lower().replace("-", " ").split()
    for *lead, last in _IDIOMS:
        if noun == last and before[-len(lead):] == lead:
            return True
    return False


def _wordlike(text: str) -> bool:
    # Two letters at least: "Y." in "a period of Y." is a variable, not a thing to picture.
    letters = sum(c.isalpha() for c in text)
    return (letters >= 2 or letters == 1 and nlp.is_cjk(text)) and not any(c in text for c in "/\\=<>{}[]@#$%^*_|~`")


def _without_adjectives(phrase: Phrase, tokens: tuple[nlp.Token, ...]) -> Phrase:
    """Drop leading adjectives the article does not repeat with this noun ("flexible feature set")."""
    by_start = {t.start: t for t in tokens}
    words = phrase.surface.split()
    offset, kept = phrase.start, list(zip(words, phrase.lemmas))
    while len(kept) > 1 and by_start.get(offset) is not None and by_start[offset].pos == "ADJ":
        offset += len(kept[0][0]) + 1
        kept = kept[1:]
    if len(kept) == len(words):
        return phrase
    return Phrase(" ".join(w for w, _ in kept), tuple(lemma for _, lemma in kept), phrase.proper, offset,
                  phrase.named, phrase.person)


def _scene_of(offset: int, starts: list[int]) -> int | None:
    low, high = 0, len(starts) - 1
    if not starts or offset < starts[0]:
        return None
    while low < high:
        middle = (low + high + 1) // 2
        if starts[middle] <= offset:
            low = middle
        else:
            high = middle - 1
    return low


def _strongest(found: list[Phrase], document_frequency: Counter[str], article_frequency: Counter[str],
               scene_count: int, previous: str, language: str = "en") -> Phrase | None:
    if not found:
        return None
    counts = Counter(p.lemmas[-1] for p in found)

    def score(phrase: Phrase) -> float:
        head = phrase.lemmas[-1]
        idf = math.log((1 + scene_count) / (1 + document_frequency[head])) + 1.0
        salience = counts[head] * idf + 0.4 * math.log1p(article_frequency[head])
        picture = icons.picturable(list(phrase.lemmas), proper=phrase.named, language=language) / 10.0
        abstract = next((cost for suffix, cost in _ABSTRACT_SUFFIXES if head.endswith(suffix)), 0.0)
        repeat = 1.2 if phrase.key == previous else 0.0
        compound = 0.25 if len(phrase.lemmas) > 1 else 0.0
        # A noun no icon pictures (a light bulb would stand in) loses to one the viewer can see.
        unseen = 0.8 if picture * 10.0 < icons.GOOD_MATCH else 0.0
        unseen += 1.0 if head in _TIME_SPANS else 0.0
        unseen += 2.0 if phrase.person else 0.0   # "Forest Anderson" would be drawn as a tree
        return salience + 1.6 * picture - abstract - repeat + compound - unseen + (0.3 if phrase.proper else 0.0)

    # Ties go to the earliest phrase: what the scene says first is what a viewer hears first.
    return max(reversed(found), key=score)


def _neighbour(chosen: list[Phrase | None], position: int) -> Phrase | None:
    before = next((p for p in reversed(chosen[:position]) if p), None)
    return before or next((p for p in chosen[position + 1:] if p), None)


def _article_fallback(chosen: list[Phrase | None], article_frequency: Counter[str]) -> Phrase | None:
    """For a scene with no noun of its own: the article's most frequent chosen concept."""
    present = [p for p in chosen if p]
    if not present:
        return None
    return max(present, key=lambda p: (article_frequency[p.lemmas[-1]], -p.start))


def describe(concept: str, lemmas: list[str], theme: str, *, proper: bool = False, salt: str = "",
             language: str = "en") -> str:
    """One complete sentence about one thing: the concept, the picture that shows it, the theme.

    The sentence is English whatever the article's language: it is written for the image
    model (FLUX reads English best) and for the offline card's choice of picture, never
    spoken. A French or Japanese concept is named by its English gloss (``icons.in_english``);
    one with no gloss is named by the picture alone, so no foreign word sits in an English
    sentence for an image model to letter onto the picture.
    """
    backdrop, accent = _BACKDROPS.get(theme, ("plain dark", "warm white"))
    found = [m for m in icons.match(lemmas, proper=proper, language=language) if m[0] >= icons.GOOD_MATCH]
    # The same picture the offline card draws: the concept's icon, else a light bulb for an idea.
    icon = icons.catalogue()[found[0][1] if found else icons.FALLBACK].label.lower()
    english = language.split("-")[0].lower() == "en"
    if english:
        name = concept
    else:
        # Only words the gloss made English: "boîte rectangulaire" is "the box", not "the rectangulaire box".
        known = icons.vocabulary()
        gloss = [w for w in icons.in_english([w.lower() for w in lemmas], language)
                 if w and (w in known or w.rstrip("s") in known)]
        name = " ".join(gloss[-2:])
    frame = _FRAMES[int.from_bytes(hashlib.sha256(salt.encode()).digest()[:2], "big") % len(_FRAMES)]
    if not name or icon.rstrip("s") == name.lower().rstrip("s"):
        # The picture says it all: "A single amber ruler symbol, centred on a quiet deep navy backdrop."
        return _PICTURE_ONLY.format(icon=icon, accent=accent, backdrop=backdrop)
    thing = name if proper or name[:1].isupper() else _with_article(name)
    return frame.format(thing=thing, Thing=thing[:1].upper() + thing[1:], icon=icon, accent=accent,
                        backdrop=backdrop)


_PICTURE_ONLY = "One bold flat {icon} symbol in {accent}, alone in the middle of a plain {backdrop} background."


def _with_article(phrase: str) -> str:
    """"the" reads well before count, mass and plural nouns alike ("the doom", "the peers")."""
    if not phrase or not phrase[0].isalpha() or not phrase.isascii() or phrase.lower().startswith(("a ", "an ", "the ")):
        return phrase
    return "the " + phrase
