"""Inline markdown to speakable text, and the repair of sentences where markup was cut.

Links speak their text, emphasis is dropped, images and footnote markers vanish. Inline
code that reads as a word (``fetch()``, ``useMemo``, ``--warmup``, ``<Suspense>``) is
spoken as that word; anything else (``if err != nil``, a bare URL, a value only the site
knows) leaves a ``HOLE``. ``repair`` then removes the smallest piece of the sentence that
makes sense without it — a parenthesis, a trailing appendix after a colon or dash, a short
comma clause — or drops the sentence, so nothing is ever read with a gap in it.
"""

from __future__ import annotations

import re
import unicodedata

from markdown_it.token import Token

from server.providers.extract.templating import HOLE

_URL = re.compile(r"(?:https?|ftp)://[^\s<>\"'()\[\]]*[^\s<>\"'()\[\].,;:!?]|\bwww\.[\w-]+\.[^\s<>\"'()]+|\bmailto:\S+",
                  re.I)
_PATH = re.compile(r"(?<![\w/\ue000])(?:\.{0,2}/|~/)[\w.@%+~-]+(?:/[\w.@%+~-]*)+|(?<![\w/\ue000])/[\w.@%+~-]+(?=[\s).,;:]|$)")
_HANDLE = re.compile(r"(?<![\w@.])@(?=[A-Za-z][\w-]{0,38}\b)(?![\w.-]*\.[a-z]{2,}\b)")
_FOOTNOTE_LEFTOVER = re.compile(r"\[\^[^\]\s]+\]:?")
_ALERT = re.compile(r"^\s*\[!(NOTE|TIP|IMPORTANT|WARNING|CAUTION)\]\s*", re.I)
_HEADING_ATTRS = re.compile(r"\s*{[#.][^{}]*}\s*$")
_JSX_EXPRESSION = re.compile(r"{[^{}\n]*}")
_IDENTIFIER = re.compile(r"[A-Za-z_$][\w$]*(?:[.:][A-Za-z_$][\w$]*)*")
_FLAG = re.compile(r"--?([a-z][a-z0-9]*(?:-[a-z0-9]+)*)")
_TAG = re.compile(r"</?([A-Za-z][\w.-]*)(?:\s[^<>]*)?/?>")
_WORDS = re.compile(r"[A-Za-z][A-Za-z'-]*(?: [A-Za-z][A-Za-z'-]*){0,2}")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\ufe0e\ufe0f"))
_KEPT_SYMBOLS = set("°")
_SENTENCE_END = re.compile(r"(?:(?<=[.!?…])|(?<=[.!?…][\"”’)»]))\s+|(?<=[。！？])(?![」』）])\s*|(?<=[。！？][」』）])\s*")
PICTURE = "\ue001"  # where an inline image stood
_INLINE_SKIPPED = {"rt", "rp", "sup", "sub", "script", "style", "svg", "math", "del", "s", "strike", "button"}
_HTML_INLINE = {"a", "abbr", "b", "bdi", "bdo", "big", "br", "cite", "code", "data", "del", "dfn", "em", "font", "i",
                "img", "ins", "kbd", "label", "mark", "q", "rp", "rt", "ruby", "s", "samp", "small", "span", "strong",
                "sub", "sup", "time", "u", "var", "wbr", "tt", "strike", "center", "p", "div", "details", "summary"}
_HTML_TAG_NAME = re.compile(r"<\s*(/?)\s*([A-Za-z][\w-]*)")
_EMOJI_SHORTCODE = re.compile(r"(?<![\w:]):[a-z0-9][a-z0-9_+-]*:(?![\w:])")
_AOZORA = re.compile(r"《[\u3040-\u30ff・ー]{1,40}》|｜|［＃[^］\n]{0,200}］")
_TASK = re.compile(r"^\s*\[[ xX]\]\s+")
_TABLE_RULE = re.compile(r"\|?(?:\s*:?-{3,}:?\s*\|)+(?:\s*:?-{3,}:?\s*)?")
_SYNTAX_LEFTOVER = re.compile(r"\*+|__+|~~+|!\[|\]\(|`+|(?<!\w)#{1,6}(?=\s|$)|^\s*[-*+]\s+")
_TEMPLATE_LEFTOVER = re.compile(r"{{|}}|{%|%}")
_QUOTE_LEFTOVER = re.compile(r"^(?:\s*>)+\s*")
_MATH = re.compile(r"\$\$?[^$\n]*[=^_\\][^$\n]*\$\$?")


def inline_text(children: list[Token]) -> str:
    """Speakable text of one inline token's children; ``HOLE`` where something was cut."""
    parts: list[str] = []
    links: list[int] = []  # where each open link's label starts in ``parts``
    html_code = False
    struck = 0
    skipped: list[str] = []  # open inline HTML elements whose text is never read (<rt>, <sup>)
    for index, child in enumerate(children):
        kind = child.type
        if kind == "html_inline":
            tag = _HTML_TAG_NAME.match(child.content)
            if tag and tag.group(2).lower() in _INLINE_SKIPPED and not child.content.rstrip().endswith("/>"):
                if tag.group(1):
                    if skipped and skipped[-1] == tag.group(2).lower():
                        skipped.pop()
                else:
                    skipped.append(tag.group(2).lower())
                continue
        if skipped:
            continue
        if struck and kind not in ("s_open", "s_close"):
            continue
        if kind == "text":
            parts.append(speakable_code(child.content) if html_code else child.content)
        elif kind in ("softbreak", "hardbreak"):
            # "**Note**" alone on the first line labels what follows: "Note: …".
            label = "".join(parts).strip()
            before = [c.type for c in children[:index] if not (c.type == "text" and not c.content)]
            if before[:1] == ["strong_open"] and before[-1:] == ["strong_close"] and label \
                    and label[-1] not in ".:!?" and len(label.split()) <= 3:
                parts.append(":")
            parts.append(" ")
        elif kind == "code_inline":
            parts.append(speakable_code(child.content))
        elif kind == "link_open":
            links.append(len(parts))
        elif kind == "link_close" and links:
            start = links.pop()
            label = "".join(parts[start:]).strip()
            if child.markup == "autolink" or _URL.fullmatch(label) or label.upper() == "AUTOTITLE":
                parts[start:] = [HOLE]
            elif not label:
                parts[start:] = [""]  # an image-only link: a badge, a logo
        elif kind == "s_open":
            struck += 1  # struck-out text is what the author took back
        elif kind == "s_close":
            struck = max(0, struck - 1)
        elif kind == "html_inline":
            tag = child.content.strip().lower()
            if tag.startswith("<br"):
                parts.append(" ")
            elif tag.startswith("<code"):
                html_code = True
            elif tag.startswith("</code"):
                html_code = False
            elif tag.startswith("<img"):
                parts.append(PICTURE)
            else:
                parts.append(_mentioned_tag(child.content, children))
        elif kind in ("math_inline", "math_inline_double"):
            parts.append(HOLE)
        elif kind == "image":
            parts.append(PICTURE)  # a hole if it stood for a word ("click the [gear] icon"), else nothing
        # footnote references and emphasis markers: nothing to say
    return "".join(parts)


def _mentioned_tag(html: str, children: list[Token]) -> str:
    """"the <Suspense> tag": an unknown element, bare, never closed, is a tag being named, not markup."""
    match = re.fullmatch(r"<([A-Za-z][\w.-]*)>", html.strip())
    if match is None or match.group(1).lower() in _HTML_INLINE:
        return ""
    closer = f"</{match.group(1)}>".lower()
    if any(c.type == "html_inline" and c.content.strip().lower() == closer for c in children):
        return ""  # a wrapper around text (<Trans>…</Trans>): its text is read, the tags are not
    return match.group(1)


def speakable_code(code: str) -> str:
    """Inline code as words when it reads as words, else ``HOLE``."""
    code = code.strip().strip("`").strip()
    if not code:
        return HOLE
    if len(code) == 1 and unicodedata.category(code)[0] in "PS":
        return unicodedata.name(code, "").lower() or HOLE  # `?` → "question mark"
    if code[0] == code[-1] and code[0] in "'\"" and len(code) > 2:
        code = code[1:-1]  # 'same-origin' → same-origin
    tag = _TAG.fullmatch(code)
    if tag:
        return tag.group(1)  # `<Suspense>` → Suspense
    flag = _FLAG.fullmatch(code)
    if flag and (code.startswith("--") or len(flag.group(1)) > 1):
        return flag.group(1)  # `--warmup` → warmup; `-r` says nothing
    call = re.fullmatch(r"(" + _IDENTIFIER.pattern + r")\((.{0,40})\)", code)
    if call:
        return call.group(1)  # `fetch()`, `crypto.timingSafeEqual(a, b)` → the name
    if _IDENTIFIER.fullmatch(code) and len(code) <= 40:
        return code
    if re.fullmatch(r"[\w-]+(?:\.[\w-]+)+", code) and len(code) <= 40:
        return code  # a file or host name: security.txt, go.mod
    if re.fullmatch(r"\d+(?:\.\d+)*", code) or _WORDS.fullmatch(code):
        return code
    return HOLE


def clean(text: str) -> str:
    """Normalise spacing and drop what is never spoken: URLs, paths, emoji, stray markup."""
    text = unicodedata.normalize("NFC", text.translate(_INVISIBLE))
    text = _TASK.sub("", text)  # "[ ] Write the docs", "[x] Ship it": task boxes
    text = _AOZORA.sub("", text)  # 吾輩《わがはい》: a kana reading, ｜ its start mark, ［＃…］ an editor's note
    text = _FOOTNOTE_LEFTOVER.sub("", text)
    text = _TEMPLATE_LEFTOVER.sub(HOLE, text)  # an unclosed "{{" or "{%" the template pass could not pair
    text = _QUOTE_LEFTOVER.sub("", text)       # quote markers past markdown-it's nesting limit
    text = _MATH.sub(HOLE, text)
    text = _URL.sub(HOLE, text)
    text = _EMOJI_SHORTCODE.sub("", text)  # GitHub's :rocket:
    text = _ALERT.sub("", text)
    text = _JSX_EXPRESSION.sub(HOLE, text)
    text = _PATH.sub(HOLE, text)
    text = _HANDLE.sub("", text)  # @yaahc → yaahc: a handle is a name, not "at"
    # A tag written out as text ("the &lt;Suspense&gt; tag") is named; one with attributes is code.
    text = re.sub(r"</?([A-Za-z][\w.-]*)\s*/?>", r"\1", text)
    text = re.sub(r"</?[A-Za-z][^<>\n]{0,200}>", HOLE, text)
    text = _emoji(text.replace(PICTURE, "\U0001F5BC"))  # pictures are judged like emoji: a word, or decoration
    # Markdown syntax the parser left as literal text (unclosed "**", a stray "](", a broken table
    # rule): the characters are layout the author meant, never words.
    text = _TABLE_RULE.sub(HOLE, text)
    text = _SYNTAX_LEFTOVER.sub("", text)
    text = re.sub(r"<(?=[A-Za-z/!])", "", text)  # the opening of a tag that never closed
    text = _SPACES.sub(" ", text)
    return text.strip()


def _emoji(text: str) -> str:
    """Emoji and other pictographs are not spoken; one used as a word ("made with ❤️ by") leaves a hole."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if _speakable_char(text[i]):
            out.append(text[i])
            i += 1
            continue
        j = i
        while j < len(text) and not _speakable_char(text[j]):
            j += 1
        between_words = text[i - 1:i] == " " and text[j:j + 1] == " " and text[:i].rstrip()[-1:].isalpha() \
            and text[j:].lstrip()[:1].isalpha()
        out.append(HOLE if between_words else "")
        i = j
    return "".join(out)


def _speakable_char(ch: str) -> bool:
    if ch == HOLE or ch in _KEPT_SYMBOLS or ch == "\n":
        return True
    category = unicodedata.category(ch)
    return category not in ("So", "Sk", "Cs", "Co", "Cc", "Cf", "Me", "Mn") or (category == "Mn" and ord(ch) < 0x2000)


def heading(text: str) -> str:
    """A heading as spoken: no ``{#anchor}``, no holes, no trailing colon."""
    text = _HEADING_ATTRS.sub("", text)
    # "[ On | No ] syntactic support…", "File [PRODUCTION]": brackets and bars are layout here.
    text = re.sub(r"\s+\|\s+", " or ", text)
    text = re.sub(r"\[\s*([^\[\]]*?)\s*\]", r"(\1)", text)
    text = finish(repair(clean(text), heading=True)).rstrip(" .:;,-–—").strip()
    return text if any(ch.isalnum() for ch in text) else ""


def repair(text: str, heading: bool = False) -> str:
    """Remove each ``HOLE`` with the least text around it that leaves whole sentences."""
    if HOLE not in text:
        return text
    if heading:
        return text.replace(HOLE, "")
    kept = ""
    for sentence in _SENTENCE_END.split(text):
        fixed = _repair_sentence(sentence)
        if fixed:
            # Chinese and Japanese sentences follow one another without a space.
            kept += fixed if not kept or kept[-1] in "。！？」』）" else " " + fixed
    return kept


def _repair_sentence(sentence: str) -> str:
    if HOLE not in sentence:
        return sentence
    # 1. A parenthesis or bracket holding the hole goes whole: "(`:=`)", "(see [AUTOTITLE](…))".
    sentence = re.sub(r"\s*[(\[][^()\[\]]*" + HOLE + r"[^()\[\]]*[)\]]", "", sentence)
    # 2. Holes that are only joined by punctuation or "and/or" merge: "`-r`/`--runs`" had one spoken half.
    sentence = re.sub(HOLE + r"(?:\s*(?:[,/&]|\band\b|\bor\b)\s*" + HOLE + r")+", HOLE, sentence)
    sentence = re.sub(r"\s*/\s*" + HOLE + "|" + HOLE + r"\s*/\s*", "", sentence)
    # 3. A trailing appendix: "Reference: GDPR - <url>", "the guide and <url>." lose the appendix;
    #    "Quote from <url>: …" loses "from <url>".
    sentence = re.sub(r"\s*(?:[:,\-–—]|\band\b|\bor\b|\bat\b|\bsee\b|\bvia\b|\bfrom\b)\s*[\"“]?" + HOLE
                      + r"[\"”]?\s*([.!?:;]?)\s*$", r"\1", sentence)
    sentence = re.sub(r"\s+(?:from|at|see|via|on|in)\s+[\"“]?" + HOLE + r"[\"”]?(?=\s*[:;,])", "", sentence)
    # 4. A short clause between commas: "and explaining `&T`, I had…" keeps its main clause.
    sentence = re.sub(r",[^,;:.!?]{0,60}" + HOLE + r"[^,;:.!?]{0,40},", ",", sentence)
    sentence = re.sub(r"^\s*[\"“]?" + HOLE + r"[\"”]?\s*$", "", sentence)
    if HOLE in sentence:
        return ""  # no smaller cut leaves a whole sentence: the sentence goes
    return sentence.strip()


def finish(text: str) -> str:
    """Tidy the husks cutting leaves: empty brackets, doubled punctuation, spaces before commas."""
    text = text.replace(HOLE, "")
    text = re.sub(r"\(\s*[,;/]?\s*\)|\[\s*\]|[\"“]\s*[\"”]", "", text)
    text = re.sub(r"(?<=\s)[/|](?=\s)", "", text)
    text = _SPACES.sub(" ", text)
    text = re.sub(r"\s+([,.;:!?])(?=\s|$)", r"\1", text)
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)
    text = re.sub(r"[,;:]\s*([.!?])", r"\1", text)
    text = re.sub(r"\(\s+", "(", text)
    text = re.sub(r"\s+\)", ")", text)
    text = _TEMPLATE_LEFTOVER.sub("", text)     # braces that met only once a cut between them closed
    text = re.sub(r"<(?=[A-Za-z/!])", "", text)
    previous = None
    while previous != text:  # each strip can bare another marker: "- > x"
        previous = text
        text = _QUOTE_LEFTOVER.sub("", text)
        text = re.sub(r"^\s*[-+]\s+", "", text).strip(" -–—|,;")  # a list marker a cut left at the start
    return text


def as_sentence(text: str) -> str:
    """End ``text`` with terminal punctuation so the narrator pauses there."""
    text = text.strip()
    if not text:
        return text
    closers = "\"”»'’)"
    core = text.rstrip(closers)
    if core.endswith((".", "!", "?", "…", "。", "！", "？")):
        return text
    if text != core and text.endswith(")"):
        return text + "."  # "(see the guide)" closes a clause, not a sentence
    if text != core:
        return text if core.endswith((".", "!", "?")) else text + "."
    stop = "。" if _is_cjk(text[-1]) else "."
    if text.endswith((":", ";", ",")):
        return text[:-1].rstrip() + stop
    return text + stop


def _is_cjk(ch: str) -> bool:
    return "\u3040" <= ch <= "\u30ff" or "\u3400" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af"


def split_sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text) if s.strip()]
