"""The Gemini timeline planner (name ``gemini``, paid): scenes, concepts and visuals as structured JSON.

Gemini is asked for the scenes as a pydantic schema (``TimelinePlan``) and every answer
passes the same validator as the offline planner (``rules.check``) plus one more rule:
the scenes' texts, in order, must be the narration word for word (a planner cuts, it does
not rewrite). A plan that breaks a rule is sent back once with the reasons quoted; a
second bad plan is a clear, permanent ``ProviderError``, and the registry falls back to
the offline planner. Chapters are set here, from the text's heading paragraphs, not by
the model. Declines with ``NotConfigured`` when no key is set.
"""

from __future__ import annotations

import re
from typing import ClassVar

import pydantic

from config import Settings
from server.errors import ProviderError
from server.providers.base import Meter
from server.providers.clients.gemini import GeminiClient
from server.providers.timeline import nlp, rules
from server.providers.types import HEADING_MARK, SceneSpec, Timeline, TimelineRequest, split_sections

PROMPT_VERSION = "1"   # part of the fingerprint: a new prompt makes new plans
BOUNDARY_TOLERANCE = 0.05   # at most one scene in twenty may end mid-phrase; the rest are hard rules

SYSTEM = """You plan the scenes of a narrated explainer video. You cut the narration into scenes and
give each scene one picture. Rules, all of them checked:
1. Scene texts, joined in order, are the narration exactly, word for word: never add, drop,
   reorder or rephrase a word. A line starting with "## " is a heading: it starts a new scene and
   its words (without "## ") begin that scene's text.
2. Each scene has {low}-{high} {unit}; only the very last scene may be shorter. A scene ends where a
   sentence ends; a sentence longer than {high} {unit} is split where a clause ends (a comma,
   semicolon, colon or before a conjunction such as "and", "but", "because", "which"), never
   in the middle of a phrase.
3. "concept": one concrete, picturable noun phrase taken from what the scene says (for example
   "database backup", "mountain trail", "Rust compiler"): a noun with at most two modifiers;
   never a verb, adjective, adverb or function word; never two things ("A and B").
4. "visual": one complete sentence describing that one concrete thing as a picture: the subject
   first, then its setting, in plain words. It must not contain "and", "with", "while", "as well
   as", "plus" or a list of subjects, and it must be specific to this scene.
Reply with JSON only, matching the schema."""


class ScenePlan(pydantic.BaseModel):
    text: str = pydantic.Field(min_length=1, description="The narration of this scene, verbatim.")
    concept: str = pydantic.Field(min_length=1, max_length=80, description="One concrete noun phrase.")
    visual: str = pydantic.Field(min_length=1, max_length=400, description="One sentence describing the picture.")


class TimelinePlan(pydantic.BaseModel):
    scenes: list[ScenePlan] = pydantic.Field(min_length=1)


class GeminiTimeline:
    """``TimelineProvider`` backed by Gemini structured output."""

    kind: ClassVar[str] = "timeline"
    name: ClassVar[str] = "gemini"
    version: ClassVar[str] = "1"
    paid: ClassVar[bool] = True

    def __init__(self, settings: Settings) -> None:
        GeminiClient(settings)   # raises NotConfigured (no key) now, not at the first job
        self.settings = settings

    def fingerprint(self) -> str:
        return f"{self.settings.gemini_model}:prompt-{PROMPT_VERSION}"

    def plan(self, request: TimelineRequest, meter: Meter) -> Timeline:
        if not request.text.strip():
            raise ProviderError(self.name, "no narration text to plan", permanent=True)
        bounds = rules.bounds_for(request.text, request.language)
        system = SYSTEM.format(low=bounds.low, high=bounds.high, unit=bounds.unit)
        prompt = _prompt(request)
        with GeminiClient(self.settings) as gemini:
            checked = gemini.generate_checked(
                prompt, TimelinePlan, lambda plan: validate(plan, request),
                lambda reasons: ("Your previous plan broke these rules:\n- " + "\n- ".join(reasons[:20]) +
                                 "\nReturn a corrected plan for the whole narration."),
                meter=meter, system=system)
        if checked.problems:
            raise ProviderError(self.name, f"Gemini's timeline broke the rules twice ({len(checked.problems)} "
                                f"problems, e.g. {checked.problems[0]}); planned offline instead", permanent=True)
        note = (f"timeline planned by Gemini after one correction ({checked.first_problems} problems in the first "
                "plan)" if checked.first_problems else "timeline planned by Gemini")
        return Timeline(scenes=tuple(checked.value), notes=(note,))


def _prompt(request: TimelineRequest) -> str:
    return (f"Title: {request.title or '(none)'}\nLanguage: {request.language}\n"
            f"Narration (paragraphs separated by blank lines):\n\n{request.text.strip()}")


def validate(plan: TimelinePlan, request: TimelineRequest) -> tuple[list[SceneSpec], list[str]]:
    """The plan as scenes (chapters set from the headings) and every rule it breaks."""
    cjk = nlp.is_cjk(request.text, request.language)
    scenes = [SceneSpec(index=i, text=_clean(s.text), concept=s.concept.strip(), visual=s.visual.strip())
              for i, s in enumerate(plan.scenes)]
    reasons = _faithfulness(scenes, request.text, cjk)
    if reasons:
        return scenes, reasons
    scenes, misplaced = _with_chapters(scenes, request.text, cjk)
    problems = rules.check(scenes, language=request.language)
    boundary = [p for p in problems if p.rule == "boundary"]
    hard = [p for p in problems if p.rule != "boundary"]
    if len(boundary) > BOUNDARY_TOLERANCE * len(scenes):
        hard += boundary
    return scenes, misplaced + [str(p) for p in hard]


def _clean(text: str) -> str:
    return re.sub(r"(^|\s)##\s+", r"\1", text.strip())


def _units(text: str, cjk: bool) -> list[str]:
    """What must match between the narration and the plan: words (or characters) without punctuation."""
    text = text.replace(HEADING_MARK.strip(), " ")
    if cjk:
        return [c for c in text if c.isalnum()]
    return [w for w in (re.sub(r"[^\w]", "", word).lower() for word in text.split()) if w]


def _faithfulness(scenes: list[SceneSpec], text: str, cjk: bool) -> list[str]:
    expected = _units(text, cjk)
    got: list[str] = []
    for scene in scenes:
        start = len(got)
        got += _units(scene.text, cjk)
        if got[start:] != expected[start:len(got)]:
            at = next((i for i, (a, b) in enumerate(zip(got[start:], expected[start:])) if a != b),
                      min(len(got), len(expected)) - start)
            return [f"scene {scene.index}: its text is not the narration verbatim (from word {start + at + 1} of "
                    f"the narration: expected “{' '.join(expected[start + at:start + at + 6])}”); copy the narration "
                    "exactly, only cut it into scenes"]
    if len(got) < len(expected):
        return [f"the scenes stop before the narration ends (missing from “{' '.join(expected[len(got):len(got) + 6])}”)"
                "; cover the whole narration"]
    return []


def _with_chapters(scenes: list[SceneSpec], text: str, cjk: bool) -> tuple[list[SceneSpec], list[str]]:
    """Set ``chapter`` on each scene that starts where a heading starts; name headings that do not."""
    starts: dict[int, str] = {}
    position = 0
    for heading, body in split_sections(text):
        if heading:
            starts[position] = heading.rstrip(".:!?")
            position += len(_units(heading, cjk))
        position += len(_units(body, cjk))
    out, problems, position = [], [], 0
    for scene in scenes:
        size = len(_units(scene.text, cjk))
        out.append(SceneSpec(scene.index, scene.text, scene.concept, scene.visual, starts.get(position, "")))
        problems += [f"scene {scene.index}: the heading “{heading}” must start a new scene, not sit inside one"
                     for at, heading in starts.items() if position < at < position + size]
        position += size
    return out, problems


PROVIDER = GeminiTimeline
