"""markdown-it tokens to a flat list of blocks: headings, paragraphs, lists, and what was cut.

The walker knows which tokens hold prose (paragraphs, list items, blockquotes, definition
lists, HTML/JSX containers) and which never do (code, tables, footnote bodies, math,
MDX ``import``/``export`` lines). Cut blocks are kept as markers (``code``, ``table``...)
because the sentence before them may lead into them ("…run the following:") and must be
finished differently when what it introduced is not spoken.
"""

from __future__ import annotations

import re

from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.admon import admon_plugin
from mdit_py_plugins.deflist import deflist_plugin
from mdit_py_plugins.footnote import footnote_plugin

from server.providers.extract import inline
from server.providers.extract.html_text import HtmlProse

# MkDocs admonitions ("!!! note") hold indented prose that CommonMark alone would read as code.
_md = (MarkdownIt("commonmark").enable(["table", "strikethrough"]).use(footnote_plugin).use(deflist_plugin)
       .use(admon_plugin))
_MAX_DEPTH = 4  # HTML containers holding markdown holding HTML...: deeper is not prose


@dataclass
class Block:
    """One unit of the article, in reading order."""

    kind: str                 # heading, para, list, code, table, skipped
    text: str = ""            # raw inline text (with HOLEs) for para; spoken text for heading
    level: int = 0            # heading level
    items: list[str] = field(default_factory=list)   # list items, raw inline text


def parse(body: str) -> list[Block]:
    """Blocks of ``body`` (markdown, templates already resolved)."""
    return _Walker().walk(_md.parse(body), body.split("\n"), depth=0)


def parse_inline(text: str) -> str:
    """Speakable text of a one-line markdown value (a front-matter title)."""
    tokens = _md.parseInline(text)
    return inline.heading(inline.inline_text(tokens[0].children or [])) if tokens else ""


class _Walker:
    def __init__(self) -> None:
        self.html = HtmlProse()

    def walk(self, tokens: list[Token], lines: list[str], depth: int) -> list[Block]:
        blocks: list[Block] = []
        i = 0
        while i < len(tokens):
            token = tokens[i]
            kind = token.type
            if kind == "html_block":
                blocks.extend(self._html(token.content, depth))
                i += 1
                continue
            if self.html.skipping:
                # Inside an HTML element that holds no prose (a <table> cut by blank lines).
                i = _after(tokens, i) if kind.endswith("_open") else i + 1
                continue
            if kind == "heading_open":
                text = inline.heading(inline.inline_text(tokens[i + 1].children or []))
                if text:
                    blocks.append(Block("heading", text, level=int(token.tag[1])))
                i = _after(tokens, i)
            elif kind == "paragraph_open":
                blocks.append(self._paragraph(tokens[i + 1], lines))
                i = _after(tokens, i)
            elif kind in ("bullet_list_open", "ordered_list_open"):
                end = _after(tokens, i)
                blocks.append(self._list(tokens[i + 1:end - 1], lines, depth))
                i = end
            elif kind == "dl_open":
                end = _after(tokens, i)
                blocks.extend(self._definitions(tokens[i + 1:end - 1], lines, depth))
                i = end
            elif kind in ("fence", "code_block", "math_block", "math_block_eqno"):
                blocks.append(Block("code"))
                i += 1
            elif kind == "table_open":
                blocks.append(Block("table"))
                i = _after(tokens, i)
            elif kind == "footnote_block_open":
                i = _after(tokens, i)  # footnote bodies are references, not the story
            else:
                i += 1  # blockquote and list wrappers, hr: their content is walked as it comes
        return blocks

    def _paragraph(self, token: Token, lines: list[str]) -> Block:
        children = token.children or []
        if token.map and _is_mdx_module(lines[token.map[0]:token.map[1]]):
            return Block("code")
        if _is_note_body(children):
            # A hand-made footnote: '<a id="note1">1</a>: The back-off doubles…' is a
            # reference at the foot of the page, like a markdown footnote body: not read out.
            return Block("skipped", inline.inline_text(children))
        if _only_a_link(children):
            # "Read more: …", a lone link: navigation, not prose. The text is kept for a list
            # item that turns out to be a term with a definition under it (MDN's "- : …").
            return Block("skipped", inline.inline_text(children))
        return Block("para", inline.inline_text(children))

    def _list(self, tokens: list[Token], lines: list[str], depth: int) -> Block:
        """A list's items, nested lists flattened; MDN's ``- : description`` joins its term.

        An item that is only a link is navigation ("See also") and is not read; a list
        left with nothing is cut like code.
        """
        items: list[str] = []
        i = 0
        while i < len(tokens):
            if tokens[i].type != "list_item_open":
                i += 1
                continue
            end = _after(tokens, i)
            text = ""
            nested: list[str] = []
            dropped_nested = False
            term = ""
            for block in self.walk(tokens[i + 1:end - 1], lines, depth):
                if block.kind == "para" and not text:
                    text = block.text
                elif block.kind == "para":
                    text = inline.as_sentence(text) + " " + block.text
                elif block.kind == "list":
                    if block.items and all(item.lstrip().startswith(":") for item in block.items):
                        text = f"{text or term}: {' '.join(item.lstrip(': ') for item in block.items)}"
                    else:
                        nested.extend(block.items)
                elif block.kind == "heading":
                    nested.append(block.text)
                elif block.kind == "skipped":
                    dropped_nested = True
                    term = term or block.text
            if text.strip() and not (dropped_nested and not nested and text.rstrip().endswith(":")):
                items.append(text)
            items.extend(nested)
            i = end
        return Block("list", items=items) if items else Block("skipped")

    def _definitions(self, tokens: list[Token], lines: list[str], depth: int) -> list[Block]:
        blocks: list[Block] = []
        term = ""
        i = 0
        while i < len(tokens):
            token = tokens[i]
            if token.type == "dt_open":
                term = inline.inline_text(tokens[i + 1].children or [])
                i = _after(tokens, i)
            elif token.type == "dd_open":
                end = _after(tokens, i)
                body = [b.text for b in self.walk(tokens[i + 1:end - 1], lines, depth) if b.kind == "para"]
                if body:
                    blocks.append(Block("para", f"{term.strip()}: {' '.join(body)}" if term.strip() else " ".join(body)))
                i = end
            else:
                i += 1
        return blocks

    def _html(self, html: str, depth: int) -> list[Block]:
        blocks: list[Block] = []
        for chunk in self.html.take(html):
            if chunk.heading_level:
                text = inline.heading(chunk.text)
                if text:
                    blocks.append(Block("heading", text, level=chunk.heading_level))
            elif depth < _MAX_DEPTH:
                # Text inside a container may itself be markdown (a list in a <Note>).
                nested = _Walker()
                blocks.extend(nested.walk(_md.parse(chunk.text), chunk.text.split("\n"), depth + 1))
        return blocks


def _after(tokens: list[Token], i: int) -> int:
    """Index just past the token that closes ``tokens[i]``."""
    opener = tokens[i]
    if opener.nesting != 1:
        return i + 1
    depth = 0
    for j in range(i, len(tokens)):
        depth += tokens[j].nesting
        if depth == 0:
            return j + 1
    return len(tokens)


def _only_a_link(children: list[Token]) -> bool:
    """True when the inline content is only links and images: a badge row, "Read more", "See also"."""
    if not any(c.type in ("link_open", "image") for c in children):
        return False
    outside, depth = [], 0
    for child in children:
        if child.type == "link_open":
            depth += 1
        elif child.type == "link_close":
            depth -= 1
        elif depth == 0 and child.type == "text":
            outside.append(child.content)
    return not any(ch.isalnum() for ch in "".join(outside))


_NOTE_ANCHOR = re.compile(r"""<a\s+(?:id|name)\s*=\s*["'][^"']*["']\s*/?>""", re.I)
_NOTE_MARK = re.compile(r"^\s*(?:\[?\d{1,3}\]?|[*†‡])\s*$")


def _is_note_body(children: list[Token]) -> bool:
    """A paragraph opening with an anchor around a note number: '<a id="n1">1</a>: text', '<a name="1"></a>[1] text'."""
    if len(children) < 2 or children[0].type != "html_inline" or not _NOTE_ANCHOR.match(children[0].content):
        return False
    mark, rest = [], children[1:]
    while rest and rest[0].type != "html_inline" and not (rest[0].type == "text" and re.search(r"[:.)]", rest[0].content)):
        mark.append(rest[0].content)
        rest = rest[1:]
    if rest and rest[0].type == "html_inline":   # the anchor's closing tag: the mark was inside it
        rest = rest[1:]
    lead = "".join(mark) + (rest[0].content.split(":")[0].split(")")[0] if rest and rest[0].type == "text" else "")
    return bool(_NOTE_MARK.match(lead)) and any(ch.isdigit() or ch in "*†‡" for ch in lead)


def _is_mdx_module(lines: list[str]) -> bool:
    """MDX ``import X from "y"`` / ``export const z = …`` lines: JavaScript, not prose."""
    code = [line.strip() for line in lines if line.strip()]
    return bool(code) and all(line.startswith(("import ", "export ", "import{", "export{")) for line in code)
