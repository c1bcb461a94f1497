"""The timeline validator every planner's output passes through, and the offline repair.

``check(scenes, language=...)`` returns a ``Problem`` per broken rule, each naming the scene
and saying what is wrong in words a planner (Gemini, in a re-prompt) or a person can act on:

- length: 15–25 words (Japanese, Chinese: 40–70 characters); only the last scene may be
  shorter;
- boundary: a scene ends where a sentence or clause ends (closing punctuation, or the next
  scene opens a clause: a conjunction or subordinator, or the first word of a clause the
  dependency parser finds), never mid-phrase;
- concept: a noun phrase whose head is a noun or proper noun, tagged in context by the
  same tagger the planner uses; not a verb, adverb or function word; one thing only;
- visual: one complete sentence describing one thing: no "A and B", "while", "with",
  "as well as", no lists of subjects, capitalised, ending with a full stop.

``repair`` fixes what can be fixed offline: a composite concept keeps its single strongest
part (the one the scene says most, else the first), and the visual is rewritten for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from server.providers.timeline import concepts, nlp
from server.providers.types import SceneSpec

MIN_WORDS, MAX_WORDS, TARGET_WORDS = 15, 25, 20
# Japanese and Chinese: characters that are not punctuation; about the same 6–9 s of speech.
MIN_CHARS, MAX_CHARS, TARGET_CHARS = 40, 70, 55
_PUNCT = re.compile(r"[\W_]", re.U)

@dataclass(frozen=True)
class Bounds:
    """How long a scene may be, in the unit that suits the language."""

    low: int
    high: int
    target: int
    unit: str   # "words" or "characters"


def bounds_for(text: str, language: str = "en") -> Bounds:
    if nlp.is_cjk(text, language):
        return Bounds(MIN_CHARS, MAX_CHARS, TARGET_CHARS, "characters")
    return Bounds(MIN_WORDS, MAX_WORDS, TARGET_WORDS, "words")


def measure(text: str, bounds: Bounds) -> int:
    """A scene's length in its bounds' unit: words, or characters that are not punctuation."""
    if bounds.unit == "words":
        return len(text.split())
    return sum(1 for c in text if not c.isspace() and not _PUNCT.match(c))



_COMPOSITE = re.compile(r"\b(and|while|with|as well as|along with|alongside|plus|versus|vs|both|together)\b|&|\+",
                        re.I)
_LIST = re.compile(r"\w[^,]*,[^,]+,|\w+\s*,\s*\w+(\s+\w+)?\s+or\b|;", re.I)
_CONCEPT_JOINERS = re.compile(r"\b(and|or|with|while|plus|versus|vs)\b|[,&/;+]", re.I)
_SENTENCE_END = re.compile(r"[.!?…。！？][\"'”’)\]」』]*$")
_CLAUSE_END = re.compile(r"[,;:—–、，；：)」』][\"'”’]*$")
OPENERS = frozenset("and but or nor yet so because while when where although though whereas unless until since "
                     "if after before whether which who whom whose that mais et ou donc car quand lorsque "
                     "puisque parce".split())
# Openers that are also determiners or prepositions ("that request", "since Monday", "before noon"):
# a clause only when the tagger says so.
AMBIGUOUS_OPENERS = frozenset("that so yet since before after until for which what whose".split())
# A scene never ends on these: the phrase they open is cut in two.
_DANGLING = frozenset("a an the to of in on at by for from with into onto about as than my your our their its his "
                      "her this these those le la les un une des du de au aux".split())
# Words that open a clause together with the conjunction after them: "even | if" cuts "even if" in two.
OPENER_LEADS = frozenset("even only just right so as except rather whereas and or but même".split())
_FUNCTION_TAGS = frozenset({"VERB", "AUX", "ADV", "ADP", "DET", "PRON", "CCONJ", "SCONJ", "PART", "INTJ", "NUM",
                            "PUNCT", "SYM"})


@dataclass(frozen=True)
class Problem:
    """One broken rule in one scene."""

    scene: int      # the scene's index
    rule: str       # length | boundary | concept | composite | visual
    message: str

    def __str__(self) -> str:
        return f"scene {self.scene}: {self.message}"


def check(scenes: list[SceneSpec] | tuple[SceneSpec, ...], *, language: str = "en") -> list[Problem]:
    """Every problem in ``scenes``, in scene order."""
    problems: list[Problem] = []
    text = " ".join(s.text for s in scenes)
    bounds = bounds_for(text, language)
    for position, scene in enumerate(scenes):
        last = position == len(scenes) - 1
        size = measure(scene.text, bounds)
        if size > bounds.high or (size < bounds.low and not last):
            problems.append(Problem(scene.index, "length", f"has {size} {bounds.unit}; a scene needs "
                                    f"{bounds.low}–{bounds.high} (only the last may be shorter)"))
        following = scenes[position + 1].text if not last else ""
        if not last and not ends_at_boundary(scene.text, following, language):
            problems.append(Problem(scene.index, "boundary", f"ends mid-phrase at “…{_tail(scene.text)}”; end it "
                                    "where a sentence or clause ends"))
        reason = concept_problem(scene.concept, language=language, context=scene.text)
        if reason:
            problems.append(Problem(scene.index, "concept", f"concept “{scene.concept}” {reason}"))
        reason = visual_problem(scene.visual)
        if reason:
            problems.append(Problem(scene.index, "composite" if "one thing" in reason else "visual",
                                    f"visual “{scene.visual}” {reason}"))
    return problems


def ends_at_boundary(text: str, following: str = "", language: str = "en") -> bool:
    """True when ``text`` ends a sentence or a clause, or ``following`` opens a new clause.

    A clause opens with a conjunction or subordinator ("because", "which"), or, read by the
    dependency parser over the two scenes joined, with the first word of a subordinate,
    relative or complement clause ("It was important | to ask first").
    """
    stripped = text.rstrip()
    if _SENTENCE_END.search(stripped) or _CLAUSE_END.search(stripped):
        return True
    first = following.split()[0].lower().strip("\"'“(,;:") if following.split() else ""
    last = stripped.split()[-1].lower().strip("\"'”)") if stripped.split() else ""
    if not following.strip() or nlp.is_cjk(stripped, language) or last in _DANGLING:
        return False   # "…resolves to the Response to | that request": a preposition or article left hanging
    if first in OPENERS and last not in OPENER_LEADS and first not in AMBIGUOUS_OPENERS:
        return True
    # Only the sentence around the cut matters: the last sentence of this scene, the first of the next.
    tail = re.split(r"(?<=[.!?])\s+", stripped)[-1]
    head = re.split(r"(?<=[.!?])\s+", following.strip())[0]
    joined = tail + " " + head
    tokens = nlp.analyse(joined, language)
    if first in OPENERS and last not in OPENER_LEADS and any(
            t.start == len(tail) + 1 and t.pos in ("SCONJ", "CCONJ", "PRON") for t in tokens):
        return True   # "that" opening a clause, not "that request"
    return len(tail) + 1 in nlp.clause_starts(tokens)


def concept_problem(concept: str, *, language: str = "en", context: str = "") -> str:
    """Why ``concept`` is not one concrete noun phrase, or "" when it is.

    Tagged where the scene says it when ``context`` (the scene's text) contains it, else in
    a neutral sentence frame.
    """
    stripped = concept.strip()
    if not stripped:
        return "is empty; name one concrete thing the scene talks about"
    if _CONCEPT_JOINERS.search(stripped):
        return "joins several things; keep the single strongest one"
    if len(stripped.split()) > 5:
        return "is too long for one picturable thing; use a short noun phrase"
    at = context.lower().find(stripped.lower()) if context else -1
    if at >= 0:
        words = [t for t in nlp.analyse(context, language) if at <= t.start < at + len(stripped) and t.pos != "PUNCT"]
    else:
        tokens = [t for t in nlp.analyse(_in_context(stripped, language), language) if t.pos != "SPACE"]
        words = [t for t in tokens if _within(t, stripped, language)]
    if not words:
        return "has no word a tagger can read"
    head = words[-1]
    if head.pos not in nlp.NOUN_TAGS:
        return f"is not a noun phrase (its last word “{head.text}” is tagged {head.pos}); name a thing"
    if all(t.pos in _FUNCTION_TAGS for t in words[:-1]) and len(words) > 1 and words[0].pos in ("VERB", "ADV"):
        return f"starts with a {words[0].pos.lower()} (“{words[0].text}”); name a thing"
    return ""


def _in_context(concept: str, language: str) -> str:
    """A sentence frame that makes a tagger read ``concept`` as the object it should be."""
    if nlp.is_cjk(concept, language):
        return f"これは{concept}です。"
    if nlp.tagger_for(language) == "fr":
        return f"Voici {concept}."
    return f"This picture shows {concept}."


def _within(token: nlp.Token, concept: str, language: str) -> bool:
    prefix = len(_in_context(concept, language).split(concept)[0])
    return prefix <= token.start < prefix + len(concept) and token.pos != "PUNCT"


def visual_problem(visual: str) -> str:
    """Why ``visual`` is not one complete sentence about one thing, or "" when it is."""
    stripped = visual.strip()
    if not stripped:
        return "is empty; describe the one thing a viewer sees"
    match = _COMPOSITE.search(stripped)
    if match:
        return f"describes more than one thing (“{match.group(0)}”); describe one thing only"
    if _LIST.search(stripped):
        return "lists several subjects; describe one thing only"
    if not stripped[0].isupper() or not stripped.endswith("."):
        return "is not a complete sentence (capital letter first, full stop last)"
    if len(re.findall(r"[.!?](\s|$)", stripped)) > 1:
        return "has more than one sentence; use one"
    if len(stripped.split()) < 6:
        return "is too short to describe a picture; say what is seen, where and how"
    return ""


def repair(scene: SceneSpec, *, theme: str, language: str = "en") -> SceneSpec:
    """Keep the single strongest concept and describe it again; other problems stay."""
    concept = scene.concept
    if concept_problem(concept, language=language, context=scene.text):
        parts = [p.strip(" .") for p in _CONCEPT_JOINERS.split(concept) if p and p.strip(" .")]
        parts = [p for p in parts if not _CONCEPT_JOINERS.fullmatch(p)]
        nouns = [p for p in parts if not concept_problem(p, language=language, context=scene.text)]
        if nouns:
            lowered = scene.text.lower()
            concept = max(nouns, key=lambda p: (lowered.count(p.lower()), -parts.index(p)))
        else:
            phrases = concepts.noun_phrases(nlp.analyse(scene.text, language), scene.text)
            concept = phrases[0].surface if phrases else "an open notebook"
    visual = scene.visual
    if concept != scene.concept or visual_problem(visual):
        lemmas = [t.lemma for t in nlp.analyse(concept, language) if t.pos != "PUNCT"] or [concept]
        visual = concepts.describe(concept, lemmas, theme, proper=concept[:1].isupper(), salt=scene.text,
                                   language=language)
    return replace(scene, concept=concept, visual=visual)


def _tail(text: str, words: int = 4) -> str:
    return " ".join(text.split()[-words:])
