"""Markdown to speakable prose: front matter via python-frontmatter, body via markdown-it-py.

What never reaches the narration: code blocks and code-like inline code, URLs, HTML,
images, tables, Liquid ``{% %}`` tags and ``{{ }}`` macros (their display text is kept
when they carry one, e.g. MDN's ``{{DOMxRef("Request")}}`` reads as "Request"),
footnote markers. Headings and list items are kept as sentences.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime

import frontmatter
from markdown_it import MarkdownIt
from markdown_it.token import Token

from server.errors import InvalidDocument

NAME = "markdown"

_md = MarkdownIt("commonmark").enable("table").enable("strikethrough")

_LIQUID_TAG = re.compile(r"{%-?.*?-?%}", re.S)
_MACRO = re.compile(r"{{-?\s*(.*?)\s*-?}}", re.S)
_MACRO_ARGS = re.compile(r"""["']([^"']*)["']""")
_URL = re.compile(r"(?:https?|ftp)://\S+|\bwww\.\S+", re.I)
_FOOTNOTE = re.compile(r"\[\^[^\]\s]+\]:?")
_IDENTIFIER = re.compile(r"^[A-Za-z][\w.\-]*(\(\))?$")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_TERMINAL = (".", "!", "?", "…", ":", ";")
_PRODUCT_NAMES = {"prodname_dotcom": "GitHub", "prodname_dotcom_the_website": "GitHub", "prodname_ghe_server": "GitHub Enterprise Server",
                  "prodname_ghe_cloud": "GitHub Enterprise Cloud", "prodname_desktop": "GitHub Desktop", "prodname_cli": "GitHub CLI"}


@dataclass(frozen=True)
class Article:
    """What the extract stage hands on: a title, speakable paragraphs and front matter."""

    title: str
    paragraphs: tuple[str, ...]
    metadata: dict[str, str]

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)

    @property
    def word_count(self) -> int:
        return len(self.text.split())


def extract(markdown: str, fallback_title: str) -> Article:
    """Turn markdown into an Article; raise InvalidDocument when there is nothing to say."""
    try:
        post = frontmatter.loads(markdown)
    except Exception as error:  # yaml/toml raise many types; all mean the same to a user
        raise InvalidDocument("invalid_front_matter", f"the front matter could not be parsed: {error}") from error
    metadata = {str(k): _scalar(v) for k, v in post.metadata.items() if _scalar(v)}
    body = _prepare(post.content)
    paragraphs, first_heading = _speakable_blocks(_md.parse(body))
    title = _clean_inline(_resolve_macros(_LIQUID_TAG.sub(" ", metadata.get("title", "")))) or first_heading or fallback_title
    paragraphs = [p for p in paragraphs if re.search(r"\w", p)]
    if sum(len(p.split()) for p in paragraphs) < 3:
        raise InvalidDocument("no_prose", "the document has no prose to narrate (only code, links, markup or nothing)")
    if title and (not paragraphs or paragraphs[0].rstrip(".") != title.rstrip(".")):
        paragraphs.insert(0, _as_sentence(title))  # the video opens by saying what it is about
    return Article(title=title.strip(), paragraphs=tuple(paragraphs), metadata=metadata)


def _scalar(value: object) -> str:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value).strip()
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return ""


def _prepare(body: str) -> str:
    body = body.translate(_INVISIBLE).replace("\r\n", "\n").replace("\r", "\n")
    # Liquid control tags vanish; data variables become the product they name.
    body = re.sub(r"{%-?\s*data\s+variables\.[\w.]*?(prodname_\w+)\s*-?%}",
                  lambda m: _PRODUCT_NAMES.get(m.group(1), m.group(1).removeprefix("prodname_").replace("_", " ").title()), body)
    body = _LIQUID_TAG.sub("", body)
    return _resolve_macros(body)


def _resolve_macros(text: str) -> str:
    """``{{Macro("a", "shown")}}`` → ``shown``; argument-less macros vanish."""

    def replace(match: re.Match[str]) -> str:
        args = _MACRO_ARGS.findall(match.group(1))
        if not args:
            return ""
        shown = args[1] if len(args) > 1 and args[1] else args[0]
        shown = shown.rsplit("/", 1)[-1]
        return f"`{shown}`" if _IDENTIFIER.match(shown) and "(" in shown else shown

    return _MACRO.sub(replace, text)


def _speakable_blocks(tokens: list[Token]) -> tuple[list[str], str]:
    paragraphs: list[str] = []
    first_heading = ""
    skip_depth = 0  # inside a table: nothing there reads well aloud
    for index, token in enumerate(tokens):
        if token.type == "table_open":
            skip_depth += 1
        elif token.type == "table_close":
            skip_depth -= 1
        if skip_depth or token.type != "inline":
            continue
        opener = tokens[index - 1].type if index else ""
        text = _clean_inline(_inline_text(token.children or []))
        if not text:
            continue
        if opener == "heading_open":
            first_heading = first_heading or text
            paragraphs.append(_as_sentence(text))
        elif _in_list_item(tokens, index):
            paragraphs.append(_as_sentence(text.lstrip(": ").strip()))
        else:
            paragraphs.append(_as_sentence(text))
    return paragraphs, first_heading


def _in_list_item(tokens: list[Token], index: int) -> bool:
    return index >= 2 and tokens[index - 1].type == "paragraph_open" and tokens[index - 2].type == "list_item_open"


def _inline_text(children: list[Token]) -> str:
    parts: list[str] = []
    link_depth = 0
    link_parts_start = 0
    for child in children:
        kind = child.type
        if kind == "text":
            parts.append(child.content)
        elif kind in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif kind == "code_inline":
            parts.append(_speakable_code(child.content))
        elif kind == "link_open":
            link_depth += 1
            link_parts_start = len(parts)
        elif kind == "link_close":
            link_depth = max(0, link_depth - 1)
            label = "".join(parts[link_parts_start:]).strip()
            if _URL.fullmatch(label) or label.upper() == "AUTOTITLE":
                del parts[link_parts_start:]
        # images, html_inline and everything else are not spoken
    return "".join(parts)


def _speakable_code(code: str) -> str:
    """Keep a bare identifier (``fetch()`` reads as "fetch"); drop anything code-shaped."""
    code = code.strip().strip("`")
    if _IDENTIFIER.match(code):
        return code.removesuffix("()")
    return ""


def _clean_inline(text: str) -> str:
    text = unicodedata.normalize("NFC", text.translate(_INVISIBLE))
    text = _URL.sub("", text)
    text = _FOOTNOTE.sub("", text)
    text = re.sub(r"<[^>\n]{1,200}>", "", text)  # stray HTML that markdown-it left as text
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("So", "Sk", "Cs", "Co", "Cc") or ch in "\n")
    text = re.sub(r"\(\s*[,;/]?\s*\)|\[\s*\]|[\"“”]\s*[.,]?\s*[\"“”]", "", text)  # husks of removed code/links
    text = re.sub(r"(?<=\s)[/|](?=\s)", "", text)
    text = _SPACES.sub(" ", text)
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    return text.strip(" -–—|")


def _as_sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith(_TERMINAL) or text.endswith(('"', "”", "»", ")", "'")) else text + "."
