"""The validator every planner passes, and the offline repair."""

from __future__ import annotations

import pytest

from server.providers.timeline import rules
from server.providers.types import SceneSpec

pytestmark = pytest.mark.pipeline

TWENTY = ("Lighthouses guided sailors along dangerous coasts for centuries, and their keepers lived "
          "alone on the rocks through long winters.")
NEXT = "Today most of them run automatically, their lamps switched on by sensors when the evening light fades."
GOOD_VISUAL = "A tall striped lighthouse standing on a rocky coast at dusk under a deep blue sky."


def scene(index: int = 0, text: str = TWENTY, concept: str = "lighthouse", visual: str = GOOD_VISUAL) -> SceneSpec:
    return SceneSpec(index=index, text=text, concept=concept, visual=visual)


def test_a_good_timeline_has_no_problems() -> None:
    assert rules.check([scene(0), scene(1, NEXT, "lamps")]) == []


@pytest.mark.parametrize("visual, word", [
    ("A lighthouse and a ship on a stormy sea at night.", "and"),
    ("A lighthouse with a keeper standing at its door.", "with"),
    ("A keeper reading while the lamp turns above him.", "while"),
    ("A lighthouse as well as a harbour at dawn in soft light.", "as well as"),
])
def test_composite_visuals_are_rejected_with_the_word_that_joins_them(visual: str, word: str) -> None:
    problems = rules.check([scene(visual=visual)])
    assert [p.rule for p in problems] == ["composite"]
    assert word in problems[0].message and "one thing" in problems[0].message


def test_a_list_of_subjects_is_a_composite() -> None:
    problems = rules.check([scene(visual="A lighthouse, a harbour, a fishing boat at dawn in soft light.")])
    assert [p.rule for p in problems] == ["composite"]


def test_a_visual_must_be_one_complete_sentence() -> None:
    assert rules.visual_problem("a lighthouse on a rocky coast at dusk")
    assert rules.visual_problem("A lighthouse on a coast. A boat in the bay below it.")
    assert rules.visual_problem("A lighthouse.")
    assert rules.visual_problem(GOOD_VISUAL) == ""


@pytest.mark.parametrize("concept", ["guided", "carefully", "the", "alone", "lighthouses and keepers", "sailors, coasts"])
def test_concepts_that_are_not_one_noun_phrase_are_rejected(concept: str) -> None:
    assert rules.concept_problem(concept, context=TWENTY)


@pytest.mark.parametrize("concept", ["lighthouse", "keepers", "long winters", "dangerous coasts", "Rust compiler"])
def test_noun_phrases_pass(concept: str) -> None:
    assert rules.concept_problem(concept, context=TWENTY) == ""


def test_a_verb_is_caught_in_context_even_when_the_word_could_be_a_noun() -> None:
    text = "They plan to sail at dawn and return with the catch before the market opens in town."
    assert "VERB" in rules.concept_problem("sail", context=text)


def test_length_and_boundaries_are_checked() -> None:
    short = scene(0, "Lighthouses guided sailors for centuries.")
    mid_phrase = scene(0, "Lighthouses guided sailors along dangerous coasts for centuries and their keepers "
                          "lived alone on the rocks through the long")
    follow = scene(1, "winters. " + NEXT)
    problems = rules.check([short, scene(1, NEXT, "lamps")])
    assert [(p.scene, p.rule) for p in problems] == [(0, "length")]
    problems = rules.check([mid_phrase, follow])
    assert ("boundary" in [p.rule for p in problems]) and "the long" in str(problems[0])
    # The last scene may be short; a scene ending before a conjunction ends at a clause.
    assert rules.check([scene(0), scene(1, "It still shines.", "lamp", GOOD_VISUAL)]) == []
    assert rules.ends_at_boundary("their keepers lived alone on the rocks", "because nobody else would")
    # The parser finds clauses that open without a conjunction; a cut inside a phrase is still refused.
    assert rules.ends_at_boundary("It was important", "to ask the keepers first.")
    assert rules.ends_at_boundary("Pull all the latest changes", "made by the other keepers.")
    assert not rules.ends_at_boundary("It was important to ask the", "keepers first.")
    assert not rules.ends_at_boundary("We love red apples and", "green pears.")
    assert not rules.ends_at_boundary("It will not reject on an error status even", "if the response is a four oh four.")
    # "that" as a determiner opens no clause; a scene never ends on a preposition or an article.
    assert not rules.ends_at_boundary("It resolves to the Response to", "that request, as soon as it can.")
    assert rules.ends_at_boundary("He told the keepers", "that the lamp was out.")
    assert not rules.ends_at_boundary("They rowed out to the", "because the lamp was out.")


def test_japanese_scenes_are_measured_in_characters() -> None:
    text = "灯台は何世紀にもわたって危険な海岸に沿って船乗りを導き、灯台守は長い冬の間ずっと岩の上で一人で暮らしていました。"
    bounds = rules.bounds_for(text, "ja")
    assert (bounds.unit, bounds.low, bounds.high) == ("characters", 40, 70)
    assert 40 <= rules.measure(text, bounds) <= 70
    assert rules.check([SceneSpec(0, text, "灯台", GOOD_VISUAL)], language="ja") == []


def test_repair_keeps_the_single_strongest_concept_and_rewrites_the_visual() -> None:
    text = ("The keeper climbed the lighthouse stairs each evening, and from the lighthouse gallery "
            "he watched the ships pass.")
    broken = scene(text=text, concept="lighthouse and ships", visual="A lighthouse with ships passing by at night.")
    fixed = rules.repair(broken, theme="midnight")
    assert fixed.concept == "lighthouse"   # said twice, so stronger than "ships"
    assert rules.concept_problem(fixed.concept, context=text) == ""
    assert rules.visual_problem(fixed.visual) == ""
    assert "lighthouse" in fixed.visual and "deep navy" in fixed.visual
    assert fixed.text == broken.text and fixed.index == broken.index


@pytest.mark.parametrize("sentence, idiom_noun", [
    ("Of course, the compiler checks the syntax.", "course"),
    ("Taking the budget into account, the team chose a server.", "account"),
    ("Keep the files up-to-date with the remote repository.", "date"),
    ("Node provides the function out of the box for every developer.", "box"),
    ("With this in mind, the team wrote a proposal.", "mind"),
    ("Assignments come to mind when the compiler reads a variable.", "mind"),
    ("Both assessments will give a clearer picture of the skill development.", "picture"),   # figurative
])
def test_a_noun_inside_a_set_phrase_is_never_a_concept(sentence: str, idiom_noun: str) -> None:
    from server.providers.timeline import concepts, nlp

    lemmas = {p.lemmas[-1] for p in concepts.noun_phrases(nlp.analyse(sentence), sentence)}
    assert idiom_noun not in lemmas and lemmas, lemmas


def test_an_imperative_opening_a_sentence_is_not_a_concept() -> None:
    """"Group all services..." was pictured as a crowd of people: the tagger read the verb as a name."""
    from server.providers.timeline import concepts, nlp

    text = "Separate the network into segments. Group all services that need no internet access."
    lemmas = {p.lemmas[-1] for p in concepts.noun_phrases(nlp.analyse(text), text)}
    assert "group" not in lemmas and "service" in lemmas, lemmas
    named = "GitHub is a platform. Rust gives the compiler a say."
    assert {"github", "rust"} <= {p.lemmas[-1] for p in concepts.noun_phrases(nlp.analyse(named), named)}


def test_a_noun_that_measures_what_follows_of_is_not_a_concept() -> None:
    """"the sheer volume of them" was drawn as a loudspeaker."""
    from server.providers.timeline import concepts, nlp

    text = "It's amazing to see the sheer volume of proposals. Turn the volume down on the speaker."
    found = [p.lemmas[-1] for p in concepts.noun_phrases(nlp.analyse(text), text)]
    assert found.count("volume") == 1 and "proposal" in found, found   # the loudness stays a thing


def test_the_concept_chosen_is_one_the_validator_reads_as_a_noun_in_its_scene() -> None:
    """A heading that tags as a verb ("Parameterized benchmarks.") before the noun the planner
    found ("a series of benchmarks") made the storyboard report a non-noun concept."""
    from server.providers.timeline import concepts

    text = ("Parameterized benchmarks. If you want to run a series of benchmarks where a single parameter "
            "is varied (say, the number of threads),")
    scene = concepts.assign([concepts.Draft(0, text, 0, len(text))], text, theme="midnight", language="en")[0]
    assert rules.concept_problem(scene.concept, context=scene.text) == "", scene.concept
