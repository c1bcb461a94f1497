"""Whole hard documents, of the kinds the held-back check uses, from markdown to planned scenes.

``tests/fixtures/hard/`` holds a GitHub README full of HTML (centred logo, badges,
``<details>``, an HTML table, a markdown table inside a blockquote, a hand-made footnote),
an MDX post (imports, an export, JSX components with attributes, ``{/* */}`` comments), a
Hugo post (TOML front matter, paired and lone shortcodes, a highlight block) and a short
Japanese essay. Each must come out with the right title, nothing of its markup spoken, no
hole where markup was cut, tables skipped, and scenes that pass the validator.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from server.providers.extract.markdown import extract
from server.providers.extract.quality import leaked_markup
from server.providers.images import icons
from server.providers.timeline import rules
from server.providers.timeline.segmenter import plan_scenes
from server.providers.types import HEADING_MARK
from server.providers.voice.normalizer import to_spoken_form

pytestmark = pytest.mark.pipeline

HARD = Path(__file__).parent / "fixtures" / "hard"

# (file, title, words that are markup, code, URLs, attributes or table cells: never spoken)
CASES = [
    ("readme-html.md", "Tidepool",
     ["align", "center", "img", "src", "shields", "badge", "https", "href", "crates", "Discord", "brew", "apt",
      "cargo", "locked", "config", "toml", "Loki", "Vector", "Collector |", "kbd", "sup", "note1",
      "❤", "Platform", "Command", "details", "summary"]),
    ("mdx-post.mdx", "Streaming responses without the spinner",
     ["import", "export", "Callout", "TerminalBlock", "variant", "tip", "Short version", "TODO", "featured", "npm",
      "Figure", "caption", "640", "what-we-changed", "Note>", "meta", "authors", "dana"]),
    ("hugo-post.md", "Rebuilding the greenhouse controller",
     ["figure", "notice", "warning", "sidenote", "highlight", "linenos", "python", "open_vents", "relref", "ref",
      "first-greenhouse", "parts list", "draft", "hardware", "greenhouse.jpg", "The greenhouse in April"]),
    ("japanese-essay.md", "雨の日の図書館", ["title", "---"]),
]


def _spoken(name: str) -> tuple[str, str, str]:
    article = extract((HARD / name).read_text(encoding="utf-8"))
    language = article.language.tag
    return article.title, language, to_spoken_form(article.text, language)


@pytest.mark.parametrize("name, title, never", CASES, ids=[c[0] for c in CASES])
def test_hard_documents_keep_their_prose_and_nothing_else(name: str, title: str, never: list[str]) -> None:
    found_title, language, text = _spoken(name)
    assert found_title == title
    assert leaked_markup(text) == [], text
    body = "\n\n".join(p.removeprefix(HEADING_MARK) for p in text.split("\n\n")).lower()
    for word in never:
        pattern = r"(?<!\w)" + re.escape(word.lower()) + r"(?!\w)" if word[:1].isalnum() else re.escape(word.lower())
        assert not re.search(pattern, body), (word, text)
    # No hole where something was cut: no empty brackets, no space before punctuation, no glued sentences.
    assert not re.search(r"\(\s*\)|\s[,.;:!?](?!\w)|[a-z][.!?][A-Z]|\b(the|a|an|using|with)\s*[.,;:]", text), text
    # The title is spoken once, first, as its own paragraph.
    paragraphs = [p.removeprefix(HEADING_MARK) for p in text.split("\n\n")]
    assert paragraphs[0] == title and paragraphs.count(title) == 1


def test_the_readme_skips_its_tables_and_its_footnote_but_keeps_details_and_centred_prose() -> None:
    _, _, text = _spoken("readme-html.md")
    assert "A tiny, fast log shipper for people who read their logs." in text
    assert "Most shippers are built for large clusters." in text      # inside <details>
    assert "five oh three error" in text                             # an HTTP status, as people say it
    assert "back-off doubles" not in text                            # a hand-made footnote body
    assert "macOS" not in text and "Debian" not in text              # the HTML table


def test_the_mdx_post_keeps_the_prose_inside_components_and_speaks_short_code_as_words() -> None:
    _, _, text = _spoken("mdx-post.mdx")
    assert "Stream the parts that are ready" in text                 # inside <Callout variant=…>
    assert "A page of empty boxes feels slower than a spinner." in text   # inside <Note>
    assert "(usually useMemo)" in text and "a Suspense boundary" in text


def test_the_hugo_post_keeps_paired_shortcode_prose_with_its_spaces() -> None:
    _, _, text = _spoken("hugo-post.md")
    assert "Never leave a greenhouse without a manual way to open the vents." in text
    assert "below twenty. The numbers came from our seed supplier." in text


@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_hard_documents_plan_into_valid_scenes_with_pictures(name: str) -> None:
    _, language, text = _spoken(name)
    scenes = plan_scenes(text, theme="midnight", language=language)
    problems = rules.check(scenes, language=language)
    assert [p for p in problems if p.rule != "boundary"] == []
    assert len([p for p in problems if p.rule == "boundary"]) <= max(1, len(scenes) // 20)
    # Most concepts have an icon of their own (not the light bulb stand-in), in every language.
    pictured = [s for s in scenes
                if any(score >= icons.GOOD_MATCH for score, _ in icons.match(s.concept.split(), language=language))]
    assert len(pictured) >= 0.75 * len(scenes), [(s.concept, s.text[:30]) for s in scenes]


def test_the_japanese_essay_is_planned_in_characters_and_pictured() -> None:
    _, language, text = _spoken("japanese-essay.md")
    assert language == "ja"
    scenes = plan_scenes(text, theme="midnight", language=language)
    assert scenes[0].text.startswith("雨の日の図書館。")            # the heading ends as a sentence
    keys = {icons.match([s.concept], language="ja")[0][1] for s in scenes}
    assert "solid/lightbulb" not in keys and "solid/book" in keys
