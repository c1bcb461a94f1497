"""Template languages that run *before* markdown: Hugo shortcodes, Liquid, MDN macros, MDX, containers.

Hugo, Jekyll/GitHub Docs and MDN expand these before their markdown renderer sees the
text, so we resolve them first too, on the raw body: a tag that stood alone on its line
leaves an empty line (the paragraph breaks the real site would have), a wrapper keeps
its prose (``{{< note >}}…{{< /note >}}``), a wrapper of code drops its content
(``{{< highlight go >}}``, ``{% highlight %}``, ``{% comment %}``), a cross-reference
macro keeps its display text (``{{DOMxRef("Request")}}`` → ``Request``), and a value we
cannot know (``{{ site.title }}``) becomes ``HOLE`` so the sentence around it is
repaired or dropped rather than read with a gap.
"""

from __future__ import annotations

import re

HOLE = "\ue000"  # marks where something unspeakable was cut out of a sentence

# Shortcodes and Liquid blocks whose content is code, markup or data, never prose.
_CODE_WRAPPERS = ("highlight", "code", "codeblock", "gist", "snippet", "katex", "math", "mermaid", "chart",
                  "diagram", "raw-html", "rawhtml", "html", "comment", "capture", "asciinema", "playground")
# Every lazy span is bounded, so an unclosed "{{" costs a bounded look-ahead, not a scan
# to the end of the document (which made a page of stray braces quadratic).
_SHORTCODE_TAG = re.compile(r"{{[<%]-?\s*(/?)\s*([\w.:/-]+)(.{0,240}?)-?\s*[>%]}}", re.S)
_LIQUID_TAG = re.compile(r"{%-?\s*(\w+)(.{0,240}?)-?%}", re.S)
_MACRO = re.compile(r"{{-?\s*(.{0,240}?)\s*-?}}", re.S)
_MACRO_CALL = re.compile(r"^([A-Za-z][\w-]*)\s*(?:\((.*)\))?$", re.S)
_QUOTED = re.compile(r"""["']([^"']*)["']""")
# Docusaurus, VuePress, Zenn and Qiita containers (":::tip Title" … ":::"): the fences go, the prose stays.
_CONTAINER_FENCE = re.compile(r"(?m)^[ \t]*:{3,}.*$")
_MDX_COMMENT = re.compile(r"{/\*.{0,4000}?\*/}", re.S)

# MDN's macros that name a thing the sentence talks about; every other macro is a banner,
# sidebar or compatibility table and vanishes.
_XREF_MACROS = {"glossary", "htmlelement", "svgelement", "svgattr", "mathmlelement", "httpheader", "httpmethod",
                "httpstatus", "event", "domxref", "jsxref", "cssxref", "htmlattrxref", "webextapiref", "csp",
                "jsxref", "rfc", "cssxref", "xref"}

# GitHub Docs' product-name variables, as the site renders them.
_PRODUCT_NAMES = {"prodname_dotcom": "GitHub", "prodname_dotcom_the_website": "GitHub",
                  "prodname_ghe_server": "GitHub Enterprise Server", "prodname_ghe_cloud": "GitHub Enterprise Cloud",
                  "prodname_desktop": "GitHub Desktop", "prodname_cli": "GitHub CLI", "prodname_actions": "GitHub Actions",
                  "prodname_copilot": "GitHub Copilot", "prodname_codespaces": "GitHub Codespaces",
                  "product_name": "GitHub", "prodname_ghe_managed": "GitHub AE", "prodname_github_app": "GitHub App",
                  "prodname_emus": "Enterprise Managed Users", "prodname_pages": "GitHub Pages"}


def resolve(body: str) -> str:
    """Expand or remove every template construct in ``body``; markdown is left for the parser."""
    body = _MDX_COMMENT.sub("", body)
    body = _CONTAINER_FENCE.sub("", body)
    body = _drop_code_wrappers(body)
    # A wrapper ({{< note >}}…{{< /note >}}) vanishes around its prose; a lone shortcode in a
    # sentence ({{< param "x" >}}, {{< icon >}}) stood for something we cannot say.
    paired = {m.group(2).lower() for m in _SHORTCODE_TAG.finditer(body) if m.group(1)}
    # A space, not nothing: "below twenty.{{% sidenote %}}The numbers…" must not read "twenty.The".
    body = _sub_tags(_SHORTCODE_TAG, body, lambda m: " " if m.group(1) or m.group(2).lower() in paired else HOLE)
    body = _sub_tags(_LIQUID_TAG, body, _liquid)
    return _sub_tags(_MACRO, body, _macro)


def resolve_inline(text: str) -> str:
    """The same for a one-line value such as a front-matter title."""
    return " ".join(resolve(text).replace(HOLE, " ").split())


def _drop_code_wrappers(body: str) -> str:
    """Remove ``{{< highlight >}}…{{< /highlight >}}`` and ``{% highlight %}…{% endhighlight %}`` whole."""
    names = "|".join(map(re.escape, _CODE_WRAPPERS))
    opener = re.compile(r"{{([<%])-?\s*(" + names + r")\b.{0,240}?[>%]}}|{%-?\s*(" + names + r")\b.{0,240}?%}",
                        re.S | re.I)
    out: list[str] = []
    done = 0
    unclosed: set[str] = set()   # wrappers with no closer after some point have none after any later one
    for match in opener.finditer(body):
        if match.start() < done:
            continue
        hugo = match.group(2) is not None
        name = (match.group(2) or match.group(3)).lower()
        if (hugo, name) in unclosed:
            continue
        closer = re.compile(r"{{[<%]-?\s*/\s*" + name + r"\s*-?[>%]}}" if hugo else r"{%-?\s*end" + name + r"\s*-?%}",
                            re.I)
        end = closer.search(body, match.end())
        if end is None:
            unclosed.add((hugo, name))
            continue
        out.append(body[done:match.start()])
        out.append(_CODE_STANDIN)
        done = end.end()
    out.append(body[done:])
    return "".join(out)


# An empty fenced block stands where the code was: the sentence that led into it ("run:")
# is finished as if the code were there, and the cut is counted.
_CODE_STANDIN = "\n\n```\n```\n\n"


def _sub_tags(pattern: re.Pattern[str], body: str, replace) -> str:  # type: ignore[no-untyped-def]
    """Substitute tags; a tag alone on its line leaves an empty line (a paragraph break)."""
    out: list[str] = []
    for line in body.split("\n"):
        found: list[str] = []

        def substitute(match: re.Match[str]) -> str:
            found.append(replace(match))
            return found[-1]

        replaced = pattern.sub(substitute, line)
        if found and not pattern.sub("", line).strip():
            # Only tags on this line: keep what they said (an xref's name), but never a lone hole.
            kept = replaced.strip()
            out.append("" if kept.replace(HOLE, "") == "" else kept)
        else:
            out.append(replaced)
    joined = "\n".join(out)
    # Tags spanning lines (multi-line shortcode arguments) are rare; look only if one may remain.
    return pattern.sub(replace, joined) if ("{{" in joined or "{%" in joined) else joined


def _liquid(match: re.Match[str]) -> str:
    name, rest = match.group(1).lower(), match.group(2)
    if name == "data":
        variable = rest.strip().rsplit(".", 1)[-1]
        if variable in _PRODUCT_NAMES:
            return _PRODUCT_NAMES[variable]
        if variable.startswith("prodname_"):
            return variable.removeprefix("prodname_").replace("_", " ").title()
        return HOLE  # a reusable paragraph or value we cannot see
    if name in ("octicon", "include", "include_relative", "render", "link", "post_url", "asset", "image"):
        return HOLE if name in ("link", "post_url") else ""
    return ""  # control flow (if, else, endif, for, raw, note...) leaves its content alone


def _macro(match: re.Match[str]) -> str:
    inner = match.group(1).strip()
    call = _MACRO_CALL.match(inner)
    if call is None:
        # ``{{ site.title }}``, ``{{ page.date | date: "%Y" }}``: a value only the site knows.
        return HOLE if inner else ""
    name, args = call.group(1), call.group(2) or ""
    if name.lower() not in _XREF_MACROS and not name.lower().endswith("xref"):
        if "." in inner and "(" not in inner:
            return HOLE
        return ""  # banners, sidebars, compatibility tables, live samples
    quoted = _QUOTED.findall(args)
    if not quoted:
        return HOLE
    shown = quoted[1] if len(quoted) > 1 and quoted[1] else quoted[0]
    shown = shown.rsplit("/", 1)[-1]
    # An API name reads as code would (``fetch()`` → "fetch"); the inline pass decides.
    # MDN renders these as links: a list of nothing else is navigation ("See also").
    return f"[`{shown}`](#)" if re.fullmatch(r"[\w.:-]+(\(\))?", shown) else f"[{shown}](#)"
