"""Extract, voice and timeline on the real corpus: prose only, scenes of 15–25 words."""

import re
from pathlib import Path

import pytest

from server.errors import InvalidDocument
from server.providers.extract.markdown import extract
from server.providers.voice.normalizer import to_spoken_form
from tests.conftest import CORPUS

pytestmark = pytest.mark.pipeline
ARTICLES = sorted((CORPUS / "articles").glob("*.md"))
FORBIDDEN = [r"https?://", r"www\.", r"\{\{", r"\{%", r"%\}", r"<[a-zA-Z/]", r"`", r"\]\(", r"!\[", r"\|\s*-{3}",
             r"\bfunc\b.*\{", r"if err != nil", r"\$ ", r"\[\^"]


@pytest.mark.parametrize("path", ARTICLES, ids=lambda p: p.name[:20])
def test_corpus_articles_yield_prose_without_markup(path: Path) -> None:
    article = extract(path.read_text(encoding="utf-8"), fallback_title=path.stem)
    assert article.word_count > 150
    for pattern in FORBIDDEN:
        assert not re.search(pattern, article.text), f"{pattern!r} reached the narration of {path.name}"


def test_title_comes_from_front_matter_and_opens_the_narration() -> None:
    article = extract((CORPUS / "articles" / "01-18f-how-we-measure-coaching.md").read_text(encoding="utf-8"), "x")
    assert article.title == "How we measure the success of coaching engagements"
    assert article.paragraphs[0] == "## How we measure the success of coaching engagements"
    assert "font-size" not in article.text  # the inline <style> block


def test_macros_keep_their_display_text_and_liquid_names_the_product() -> None:
    mdn = extract((CORPUS / "articles" / "02-mdn-fetch-api.md").read_text(encoding="utf-8"), "x")
    assert "use the fetch method" in mdn.text
    github = extract((CORPUS / "articles" / "03-github-docs-about-github-and-git.md").read_text(encoding="utf-8"), "x")
    assert "GitHub is a cloud-based platform" in github.text


def test_toml_front_matter_is_read() -> None:
    article = extract((CORPUS / "articles" / "05-rust-blog-imposter-syndrome.md").read_text(encoding="utf-8"), "x")
    assert article.title == "Imposter Syndrome"
    assert "+++" not in article.text


@pytest.mark.parametrize("body", ["", "```python\nprint('x')\n```\n", "![img](a.png)\n\n<div>hi</div>\n",
                                  "---\ntitle: only front matter\n---\n"])
def test_documents_without_prose_are_refused(body: str) -> None:
    with pytest.raises(InvalidDocument) as caught:
        extract(body, "empty")
    assert caught.value.code == "no_prose"


def test_broken_front_matter_is_a_clear_error() -> None:
    with pytest.raises(InvalidDocument) as caught:
        extract("---\ntitle: [unclosed\n---\nSome words here to read.\n", "x")
    assert caught.value.code == "invalid_front_matter"


def test_spoken_form_expands_what_a_voice_would_misread() -> None:
    spoken = to_spoken_form("Use tools, e.g. grep & sed — 50% faster -> done.")
    assert spoken == "Use tools, for example, grep and sed, fifty percent faster to done."


# The timeline's own tests (bounds, clauses, headings, concepts, visuals): tests/test_timeline_*.py.
