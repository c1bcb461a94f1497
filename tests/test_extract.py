"""Extraction on hard, realistic snippets of each kind the held-back articles have.

Hugo shortcodes, MDX/JSX, MDN macros, GitHub Docs Liquid, README HTML full of badges and
tables, footnotes, emoji, handles, Japanese; front matter validated; titles chosen right;
nothing spoken twice, nothing cut leaving a hole.
"""

from __future__ import annotations

import random

import pytest

from server.errors import DocumentSkipped, InvalidDocument
from server.providers.extract.markdown import extract
from server.providers.extract.quality import leaked_markup
from server.providers.types import HEADING_MARK, split_sections
from server.providers.voice.normalizer import to_spoken_form

pytestmark = pytest.mark.pipeline

def leaks(text: str) -> list[str]:
    return leaked_markup(text)


def spoken(markdown: str) -> str:
    article = extract(markdown)
    assert leaks(article.text) == [], article.text
    return article.text


HUGO = """---
title: "Deploying with Hugo"
date: 2024-03-01
theme: forest
---

{{< figure src="/images/hero.png" alt="Hero image" caption="Our new pipeline" >}}

Hugo is a fast static site generator.{{< ref "other.md" >}} This post shows how we deploy it.

{{< note >}}
Hugo **requires** version 0.110 or newer for this guide.
{{< /note >}}

## Getting started {#getting-started}

Install Hugo with your package manager, then run the server (usually `hugo server`):

{{< highlight bash >}}
hugo server -D --bind 0.0.0.0
{{< /highlight >}}

{{% notice tip %}}
You can use the `--minify` flag to shrink the output.
{{% /notice %}}

Read the [official docs]({{< relref "docs/intro.md" >}}) for more.

{{< youtube dQw4w9WgXcQ >}}

<!-- TODO: add screenshots -->

Thanks to @spf13 for creating Hugo! 🎉🚀
"""


def test_hugo_shortcodes_keep_their_prose_and_drop_their_code() -> None:
    article = extract(HUGO)
    text = article.text
    assert leaks(text) == []
    assert "Hugo requires version 0.110 or newer for this guide." in text       # {{< note >}} kept
    assert "You can use the minify flag to shrink the output." in text        # {{% notice %}} kept, flag spoken
    assert "then run the server (usually hugo server)." in text                 # lead-in into cut code finished
    assert "bind" not in text and "dQw4w9WgXcQ" not in text and "Hero image" not in text
    assert "Read the official docs for more." in text
    assert "Thanks to spf13 for creating Hugo!" in text                       # no "at", no emoji
    assert "TODO" not in text and "getting-started" not in text
    assert [h for h, _ in split_sections(text)] == ["Deploying with Hugo", "Getting started"]
    assert article.front_matter.theme == "forest"


MDX = """---
title: Understanding React Suspense
---
import { Note, TerminalBlock } from '@/components'
import Chart from './chart'
export const meta = { author: 'Dan' }

{/* Draft intro, do not publish */}

Rendering lists is expensive, so we memoise them (usually `useMemo`): the value is cached between renders.

<Note variant="join" title="Heads up">
Suspense lets components **wait** for data before rendering, using the `<Suspense>` tag.
</Note>

<TerminalBlock lines={["npm install react", "npm run dev"]} />

<aside markdown="1">
Streaming server rendering sends HTML in chunks as it becomes ready.
</aside>

<details>
<summary>Why not use effects?</summary>

Effects run after paint, so the user sees a loading flash first.

</details>

<Chart data={data} height={300} />

The `{props.count}` value updates whenever the state changes, and {props.name} is shown.
"""


def test_mdx_components_keep_prose_never_attributes_imports_or_comments() -> None:
    text = spoken(MDX)
    assert "(usually useMemo): the value is cached between renders." in text   # never "(usually ):"
    assert "using the Suspense tag." in text                                    # never "using the tag"
    assert "Streaming server rendering sends HTML in chunks" in text           # <aside> prose kept
    assert "Effects run after paint" in text                                    # <details> body kept
    for gone in ("Draft intro", "join", "Heads up", "npm", "author", "@/components", "props", "height"):
        assert gone not in text, gone
    assert "## Why not use effects?" in text  # a <summary> titles its section


README = """<div align="center">

<h1>
  <img src="logo.svg" width="24"> zoxide
</h1>

<p align="center"><em>A smarter cd command. Supports all major shells.</em></p>

[![crates.io][crates.io-badge]][crates.io]
[![Downloads][downloads-badge]][releases]
[中文](README.zh.md) | [日本語](README.ja.md)

<picture>
  <source media="(prefers-color-scheme: dark)" srcset="dark.png">
  <img alt="Tutorial" src="light.png">
</picture>

</div>

## Getting started

zoxide is a **smarter cd command**, inspired by z and autojump. It remembers which directories you use most.

| Command | Description |
| ------- | ----------- |
| `z foo` | cd into highest ranked directory matching foo |

> | Shell | Config file |
> | --- | --- |
> | bash | `~/.bashrc` |

<table>
<tr><td>Linux</td><td>apt install zoxide</td></tr>

<tr><td>macOS</td><td>brew install zoxide</td></tr>
</table>

Run `zoxide init` to set up your shell[^1]. See https://example.com/setup for details.

- **Fast**: written in Rust
- **Small**: a single binary

[^1]: See the [configuration docs](https://example.com/config) for details.

[crates.io]: https://crates.io/crates/zoxide
[crates.io-badge]: https://img.shields.io/crates/v/zoxide
[downloads-badge]: https://img.shields.io/github/downloads/ajeetdsouza/zoxide/total
[releases]: https://github.com/ajeetdsouza/zoxide/releases
"""


def test_readme_html_title_badges_tables_and_footnotes() -> None:
    article = extract(README)
    text = article.text
    assert leaks(text) == []
    assert article.title == "zoxide"                                   # <h1>…zoxide</h1>, not "Getting started"
    assert text.count("zoxide") >= 2 and text.startswith("## zoxide\n\n")
    assert "A smarter cd command. Supports all major shells." in text
    for gone in ("crates", "Downloads", "中文", "Tutorial", "apt install", "macOS", "Config file", "highest ranked",
                 "configuration docs", "See https", "for details"):
        assert gone not in text, gone                                     # badges, tables (even quoted), footnotes
    assert "Run zoxide init to set up your shell." in text
    assert "Fast: written in Rust. Small: a single binary." in text
    assert dict(article.cut)["table"] == 2


def test_mdn_macros_speak_their_names_and_navigation_is_not_read() -> None:
    text = spoken("""---
title: Fetch API
---
{{DefaultAPISidebar("Fetch API")}}{{SeeCompatTable}}

Use {{DOMxRef("Request.Request", "Request()")}} and {{cssxref("box-sizing")}}, or
{{Glossary("Replaced elements", "replaced elements")}} {{optional_inline}}.

## Interfaces

- {{DOMxRef("fetch()")}}
  - : The `fetch()` method used to fetch a resource.
- {{DOMxRef("Headers")}}
  - : Represents response/request headers.

## Specifications

{{Specifications}}

## See also

- [Using Fetch](/en-US/docs/Web/API/Fetch_API/Using_Fetch)
- {{Glossary("CORS")}}
""")
    assert "Use Request and box-sizing, or replaced elements." in text
    assert "fetch: The fetch method used to fetch a resource. Headers: Represents response/request headers." in text
    assert "Sidebar" not in text and "Specifications" not in text and "See also" not in text
    assert "CORS" not in text and "Using Fetch" not in text


def test_liquid_product_names_and_autotitle_links() -> None:
    text = spoken("""---
title: About {% data variables.product.prodname_dotcom %}
---
{% data variables.product.prodname_dotcom %} is a {% ifversion not ghes %}cloud-based {% endif %}platform.
To learn more, see "[AUTOTITLE](/get-started/about-git)." {% data reusables.getting-started.quick %}
Your site title is {{ site.title }} today.

{% note %}
Always sign your commits.
{% endnote %}

{% raw %}{% comment %}hidden{% endcomment %}{% endraw %}
""")
    assert text.startswith("## About GitHub\n\nGitHub is a cloud-based platform.")
    assert "AUTOTITLE" not in text and "To learn more" not in text    # a sentence whose link cannot be said goes
    assert "site title" not in text                                    # an unknown value drops its sentence
    assert "Always sign your commits." in text and "hidden" not in text


@pytest.mark.parametrize(("markdown", "expected"), [
    ("Memoise it (usually `useMemo`): fast.", "Memoise it (usually useMemo): fast."),
    ("Call `fetch()` or `crypto.timingSafeEqual(a, b)` now.", "Call fetch or crypto.timingSafeEqual now."),
    ("Use the `-r`/`--runs` option to set it.", "Use the runs option to set it."),
    ("Pass `'same-origin'` as credentials.", "Pass same-origin as credentials."),
    ("The `?` operator is short.", "The question mark operator is short."),
    ("Keep going. The test `if err != nil` is everywhere. It works.", "Keep going. It works."),
    ("Use short declarations (`:=`) often.", "Use short declarations often."),
    ("While presenting Rust, and explaining `&T`, I was asked a question.",
     "While presenting Rust, I was asked a question."),
    ("Reference laws: GDPR - https://ec.europa.eu/gdpr", "Reference laws: GDPR."),
    ("Quote from <https://yaah.dev/x>: it works.", "Quote: it works."),
    ("Ask @yaahc or email me.", "Ask yaahc or email me."),
    ("Files live in /etc/mediabuddy/conf.d now. Fine.", "Fine."),
    ("It is ~~not~~ great ✅ 👍🏽 and works.", "It is great and works."),
    ("Read the [guide](https://x.y/guide) and [https://x.y](https://x.y).", "Read the guide."),
])
def test_cut_markup_never_leaves_a_hole(markdown: str, expected: str) -> None:
    body = "## A title\n\n" + markdown + "\n\nA second paragraph keeps the document narratable here.\n"
    text = extract(body).text
    assert text.split("\n\n")[1] == expected
    assert leaks(text) == []


def test_lists_read_as_a_series_after_a_lead_in() -> None:
    text = spoken("# Git\n\nStoring code on GitHub allows you to:\n* **Showcase** your work.\n"
                  "* Track changes over time.\n* Let Git merge them.\n")
    assert text == "## Git\n\nStoring code on GitHub allows you to showcase your work, track changes over time, " \
                   "and let Git merge them."


def test_long_items_are_sentences_and_lead_ins_into_code_are_finished() -> None:
    text = spoken("# Tool\n\nTo clear caches on Linux, you can run\n```sh\nsync\n```\n\nFor example:\n\n```\nx\n```\n\n"
                  "And then call:\n```\ny\n```\n\nThe features are:\n\n- Statistical analysis across many runs of a "
                  "command, with outlier detection that warns you about it.\n- Export to CSV\n")
    assert "To clear caches on Linux, you can run" not in text and "For example" not in text
    assert "And then call" not in text
    assert "The features are: Statistical analysis across many runs" in text and "Export to CSV." in text


def test_headings_are_spoken_once_and_empty_sections_dropped() -> None:
    article = extract("---\ntitle: Box model\n---\n# Box model\n\nEvery element is a box with four areas.\n\n"
                      "## Usage\n\n### Basics\n\nBoxes have a content area and padding.\n\n## Specifications\n\n"
                      "{{Specifications}}\n\n## Padding\n\nPadding surrounds the content.\n\n## Padding\n\n"
                      "It can be zero.\n")
    assert [h for h, _ in article.sections] == ["Box model", "Usage: Basics", "Padding"]
    assert article.text.count("Box model") == 1 and "It can be zero." in article.text


@pytest.mark.parametrize(("markdown", "title"), [
    ("---\ntitle: From front matter\n---\n# A heading\n\nSome words to say here.", "From front matter"),
    ("Intro words come first here.\n\n## Later heading\n\nMore words.", "Later heading"),
    ("<h1 align='center'><img src='x.png'> zoxide</h1>\n\nA smarter cd command here.\n\n## Getting started\n\nRun it.",
     "zoxide"),
    ("Just a one liner with no heading at all.", ""),
])
def test_title_from_front_matter_else_first_heading_else_none(markdown: str, title: str) -> None:
    article = extract(markdown, fallback_title="one-liner")
    assert article.title == title
    assert "one liner" not in article.text.replace("a one liner", "")  # the file name is never spoken
    if title:
        assert article.paragraphs[0] == HEADING_MARK + title and article.text.count(title) == 1


def test_front_matter_overrides_and_warnings_name_allowed_values() -> None:
    article = extract("---\ntheme: midnite\naspect: 16:9\nvoice: amy\nlanguage: fr-CA\nmusic: calm.mp3\n"
                      "minutes: 3\n---\nQuelques mots à dire ici, pour le narrateur.\n")
    matter = article.front_matter
    assert matter.overrides() == {"aspect": "16:9", "voice": "amy", "language": "fr", "music": "calm.mp3",
                                  "minutes": 3.0}
    assert article.language.tag == "fr" and article.language.source == "front matter"
    assert len(article.warnings) == 1
    assert "theme 'midnite'" in article.warnings[0] and "midnight, paper, forest, sunset, ocean" in article.warnings[0]


@pytest.mark.parametrize(("field", "value", "allowed"), [
    ("aspect", "4:3", "9:16, 16:9, 1:1, 4:5"), ("minutes", "lots", "between 0.5 and 120"),
    ("language", "Klingon!", "en, fr, de, es or ja"), ("music", "../../etc/passwd", "music folder or 'none'"),
    ("draft", "maybe", "true or false"), ("voice", "[amy, joe]", "single value"), ("title", "{a: 1}", "single value"),
])
def test_each_unusable_value_is_a_warning(field: str, value: str, allowed: str) -> None:
    quoted = value if value[0] in "[{" else f'"{value}"'
    article = extract(f"---\n{field}: {quoted}\n---\nSome words to narrate in this article.\n")
    assert len(article.warnings) == 1 and allowed in article.warnings[0] and field in article.warnings[0]


@pytest.mark.parametrize("front", ["draft: true", "draft: yes", "draft: 'true'"])
def test_drafts_are_skipped_with_a_clear_note(front: str) -> None:
    with pytest.raises(DocumentSkipped) as caught:
        extract(f"---\n{front}\n---\nSome words.\n")
    assert caught.value.code == "draft" and "draft: false" in caught.value.message


def test_toml_front_matter_and_footnotes() -> None:
    text = spoken('+++\ntitle = "Imposter Syndrome"\n+++\n\nI know that feeling[^1]. We all err[^note].\n\n'
                  "[^1]: Quote from a meetup, long and not part of the story.\n[^note]: Another aside.\n")
    assert text == "## Imposter Syndrome\n\nI know that feeling. We all err."


@pytest.mark.parametrize("body", ["", "```python\nprint('x')\n```\n", "![img](a.png)\n\n<div><img src=x></div>\n",
                                  "---\ntitle: only front matter\n---\n", "| a | b |\n|---|---|\n| 1 | 2 |\n",
                                  "- [Home](/)\n- [About](/about)\n"])
def test_nothing_narratable_is_refused_with_what_was_found(body: str) -> None:
    with pytest.raises(InvalidDocument) as caught:
        extract(body)
    assert caught.value.code == "no_prose" and "no prose to narrate" in caught.value.message


def test_broken_front_matter_is_a_clear_error() -> None:
    with pytest.raises(InvalidDocument) as caught:
        extract("---\ntitle: [unclosed\n---\nSome words here to read.\n")
    assert caught.value.code == "invalid_front_matter"


def test_japanese_is_detected_and_counted_in_characters() -> None:
    article = extract("# 猫と暮らす\n\n吾輩は猫である。名前はまだ無い。\n\n- 朝ごはんは七時\n- 夜は`window`の近くで寝る\n")
    assert article.language.tag == "ja" and article.title == "猫と暮らす"
    assert article.text == "## 猫と暮らす\n\n吾輩は猫である。名前はまだ無い。\n\n朝ごはんは七時。 夜はwindowの近くで寝る。"
    # Each CJK character is a word, "window" is one: 5 (heading) + 14 + 7 + 9.
    assert article.word_count == 35


def test_inline_html_emoji_tasks_alerts_and_math() -> None:
    text = spoken("""# Notes

<ruby>漢字<rt>かんじ</rt></ruby>を読むのは難しい。`if x != y`を使うと難しい。でも大丈夫です。

> [!NOTE]
> Remember to back up your data first.

- [ ] Write the docs :rocket:
- [x] Ship it :white_check_mark:

Made with ❤️ by the team. Press the key<sup>[1](#fn1)</sup> now. 🚀 Launch day is here!

Text <span class="x" data-id="3">inside a span</span> is read.

The formula $E = mc^2$ is famous. Energy matters.
""")
    assert "漢字を読むのは難しい。でも大丈夫です。" in text          # ruby reading and the code sentence gone
    assert "Remember to back up your data first." in text and "NOTE" not in text
    assert "Write the docs. Ship it." in text                       # no boxes, no :rocket:
    assert "Made with" not in text                                   # an emoji used as a word drops its sentence
    assert "Press the key now. Launch day is here!" in text           # footnote marker and emoji gone
    assert "Text inside a span is read." in text and "data-id" not in text
    assert "Energy matters." in text and "mc" not in text


REACT_BLOG = """---
title: "React 19"
author: The React Team
date: 2024/12/05
description: React 19 is now available on npm!
---

December 05, 2024 by [The React Team](/community/team)

---
<Note>

### React 19 is now stable! {/*react-19-is-now-stable*/}

Additions since this post was originally shared with the React 19 RC in April:

- **Pre-warming for suspended trees**: see [Improvements to Suspense](/blog/2024/04/25/react-19-upgrade-guide#improvements-to-suspense).
- **React DOM static APIs**: See [New React DOM Static APIs](#new-react-dom-static-apis).

_The date for this post has been updated to reflect the stable release date._

</Note>

<Intro>

React v19 is now available on npm!

</Intro>

In our [React 19 Upgrade Guide](/blog/2024/04/25/react-19-upgrade-guide), we shared step-by-step instructions for upgrading your app to React 19. In this post, we'll give an overview of the new features in React 19, and how you can adopt them.

- [What's new in React 19](#whats-new-in-react-19)
- [Improvements in React 19](#improvements-in-react-19)
- [How to upgrade](#how-to-upgrade)

For a list of breaking changes, see the [Upgrade Guide](/blog/2024/04/25/react-19-upgrade-guide).

---

## What's new in React 19 {/*whats-new-in-react-19*/}

### Actions {/*actions*/}

A common use case in React apps is to perform a data mutation and then update state in response. In the past, you would need to handle pending states, errors, optimistic updates, and sequential requests manually.

For example, you could handle the pending and error state in `useState`:

```js
// Before Actions
function UpdateName({}) {
  const [name, setName] = useState("");
}
```

<DeepDive>

#### By convention, functions that use async transitions are called "Actions". {/*by-convention*/}

Actions automatically manage submitting data for you:

- **Pending state**: Actions provide a pending state that starts at the beginning of a request and automatically resets when the final state update is committed.
- **Optimistic updates**: Actions support the new [`useOptimistic`](#new-hook-optimistic-updates) hook so you can show users instant feedback while the requests are submitting.

</DeepDive>

<ConsoleBlock level="error">

Uncaught Error: Objects are not valid as a React child.

</ConsoleBlock>

<Sandpack>

```js src/App.js
export default function App() {}
```

</Sandpack>

Building on top of Actions, React 19 introduces <CodeStep step={1}>useOptimistic</CodeStep> to manage optimistic updates, and a new hook [`React.useActionState`](#new-hook-useactionstate) to handle common cases for Actions.
"""


def test_react_blog_mdx_keeps_notes_and_deep_dives_but_not_consoles_sandboxes_or_tocs() -> None:
    article = extract(REACT_BLOG)
    text = article.text
    assert leaks(text) == []
    assert [h for h, _ in article.sections] == ["React 19", "React 19 is now stable!",
                                                "What's new in React 19: Actions",
                                                'By convention, functions that use async transitions are called "Actions"']
    assert "React v19 is now available on npm!" in text                       # <Intro> prose
    assert "Pre-warming for suspended trees: see Improvements to Suspense." in text
    assert "Uncaught Error" not in text and "export default" not in text       # <ConsoleBlock>, <Sandpack>
    assert "How to upgrade" not in text                                        # a table of contents is navigation
    assert "you could handle the pending and error state in useState." in text
    assert "React 19 introduces useOptimistic to manage optimistic updates" in text
    assert "react-19-is-now-stable" not in text and "step={1}" not in text and "{1}" not in text


def test_hugo_inline_shortcodes_tabs_details_and_toc() -> None:
    text = spoken("""---
title: "Config formats"
date: 2023-01-01T10:00:00+01:00
draft: false
---

{{< toc >}}

Our site is called {{< param "siteName" >}} today. Hugo reads three formats.

<!--more-->

{{< tabs items="JSON,YAML" >}}
  {{< tab >}}**JSON** is strict about commas.{{< /tab >}}
  {{< tab >}}**YAML** is sensitive to indentation.{{< /tab >}}
{{< /tabs >}}

{{% details title="Why TOML?" %}}
TOML is the default because it is unambiguous.
{{% /details %}}

See [the docs]({{< ref "docs/config.md" >}}) for every key.
""")
    assert text == ("## Config formats\n\nHugo reads three formats.\n\nJSON is strict about commas. "
                    "YAML is sensitive to indentation.\n\nTOML is the default because it is unambiguous.\n\n"
                    "See the docs for every key.")


def test_a_lead_in_ending_on_a_verb_keeps_what_came_before_it() -> None:
    text = spoken("# Scan\n\nTo vary one parameter, you can use the `-P`/`--parameter-scan` option and call:\n"
                  "```sh\nhyperfine -P threads 1 8 'make -j {threads}'\n```\n")
    assert text == "## Scan\n\nTo vary one parameter, you can use the parameter-scan option."


def test_bold_labels_inline_pictures_and_spaced_hyphens() -> None:
    text = spoken("# Tips\n\n> **Note**\n> Back up your data first.\n\nClick the ![gear](gear.png) icon to open settings. "
                  "![logo](logo.png) Media Buddy makes videos.\n\nPress <img src='k.png'> now or later, then wait.\n")
    assert "Note: Back up your data first." in text
    assert "Click the" not in text and "Press" not in text          # a picture standing for a word drops its sentence
    assert "Media Buddy makes videos." in text                        # a leading logo is decoration


@pytest.mark.parametrize(("markdown", "expected"), [
    ("Wrap it in the &lt;Suspense&gt; tag to wait.", "Wrap it in the Suspense tag to wait."),
    ("Wrap it in the <Suspense> tag to wait.", "Wrap it in the Suspense tag to wait."),
    ("<Note>Wrap it in the &lt;Suspense&gt; tag to wait.</Note>", "Wrap it in the Suspense tag to wait."),
    ("Say <Trans>hello there</Trans> to <b>everyone</b> here.", "Say hello there to everyone here."),
    ("Write &lt;div class=\"x\"&gt; first. It works.", "It works."),
])
def test_tags_named_in_prose_are_spoken_as_names(markdown: str, expected: str) -> None:
    text = extract("## A title\n\n" + markdown + "\n\nA second paragraph keeps the document narratable.\n").text
    assert text.split("\n\n")[1] == expected


def test_admonitions_and_containers_keep_their_prose() -> None:
    text = spoken("# Setup\n\n!!! warning \"Read first\"\n    Back up **everything** before you start.\n\n"
                  ":::tip[Pro tip]\nUse a fresh folder.\n:::\n\n:::message alert\n設定を保存してください。\n:::\n")
    assert text == "## Setup\n\nBack up everything before you start.\n\nUse a fresh folder.\n\n設定を保存してください。"


def test_aozora_readings_are_not_read_twice_but_chinese_titles_stay() -> None:
    assert spoken("# 猫\n\n吾輩《わがはい》は猫である。｜名前《なまえ》はまだ無い。［＃「無い」に傍点］\n") == \
        "## 猫\n\n吾輩は猫である。名前はまだ無い。"
    assert "《红楼梦》" in spoken("# 书\n\n我喜欢读《红楼梦》这本书。\n")


def test_crlf_and_a_byte_order_mark_change_nothing() -> None:
    plain = extract("---\ntitle: A post\ntheme: paper\n---\n\n# Heading\n\nSome text that is long enough.\n")
    crlf = extract("\ufeff---\r\ntitle: A post\r\ntheme: paper\r\n---\r\n\r\n# Heading\r\n\r\n"
                   "Some text that is long enough.\r\n")
    assert crlf.text == plain.text == "## A post\n\n## Heading\n\nSome text that is long enough."
    assert crlf.front_matter.theme == "paper"
    assert extract("\ufeff# BOM title\n\nSome text that is long enough.").title == "BOM title"


FRAGMENTS = ["# ", "## ", "- ", "1. ", "> ", "```\n", "`", "**", "_", "[", "](", ")", "![", "<div>", "</div>",
             '<Note x="1">', "</Note>", "{{< note >}}", "{{< /note >}}", '{{DOMxRef("a")}}', "{% if %}", "{% endif %}",
             "{/* c */}", "| a | b |\n|---|---|\n", "[^1]", "[^1]: foot\n", "https://x.y/z", "@me", "😀", "\n", "\n\n",
             " ", "word ", "Some prose sentence here. ", "(usually `x`)", "<br>", "<!-- c -->", "$5", "50%",
             "2024-01-02", ":::", "!!! note\n    ", "<table><tr><td>", "</td></tr></table>",
             "<details><summary>S</summary>", "</details>", "&lt;Tag&gt;", "《よみ》", "---\n", "+++\n", "title: x\n",
             "\t", "{", "}", "<", ">", "\\", "*", "~~", "<h1>T</h1>", "<![ *"]


def test_random_markup_soup_never_crashes_or_leaks() -> None:
    rng = random.Random(7)
    for _ in range(1000):  # 4,000 pass too; 1,000 keep the suite fast
        soup = "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 60)))
        try:
            article = extract(soup)
        except InvalidDocument:
            continue
        assert leaks(article.text) == [], (soup, article.text)
        to_spoken_form(article.text, article.language.tag)
