"""Spoken form: text rewritten as a narrator would say it, never into other words.

Numbers, years, dates, currencies, percentages, ordinals, versions, ranges, units and
common abbreviations become words — "$1.50" → "one dollar and fifty cents", "2024-12-10"
→ "December tenth, twenty twenty-four", "50%" → "fifty percent", "5 ms" → "five
milliseconds". Number words come from num2words, in the article's language where
num2words has it (fr, de, es, it, pt, nl and more); units, dates and abbreviations are
English only. Chinese, Japanese and Korean text keeps its digits: their voices' reading
front ends (e.g. OpenJTalk) read digits with the right counters, which words would break.
Offline and deterministic. Heading paragraphs (``## ``) keep their mark.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from num2words import CONVERTER_CLASSES, num2words

from server.providers.types import HEADING_MARK

NAME = "spoken-form-3"  # 3: HTTP status codes, phone numbers, standards, ports, year ranges, HTTP/2; 2:   # keys cached voice results: change it whenever the output changes

_CJK = ("ja", "zh", "ko")
_PERCENT = {"en": "percent", "fr": "pour cent", "de": "Prozent", "es": "por ciento", "it": "per cento",
            "pt": "por cento", "nl": "procent", "sv": "procent", "da": "procent", "no": "prosent", "pl": "procent"}
_AND = {"en": "and", "fr": "et", "de": "und", "es": "y", "it": "e", "pt": "e", "nl": "en"}
_CURRENCIES = {"$": "USD", "€": "EUR", "£": "GBP"}
_SCALES = {"k": "thousand", "K": "thousand", "m": "million", "M": "million", "mn": "million", "b": "billion",
           "B": "billion", "bn": "billion", "thousand": "thousand", "million": "million", "billion": "billion",
           "trillion": "trillion"}
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]
# Unit symbols as written after a number → (singular, plural). English only.
_UNITS = {"ms": ("millisecond", "milliseconds"), "s": ("second", "seconds"), "sec": ("second", "seconds"),
          "min": ("minute", "minutes"), "h": ("hour", "hours"), "hr": ("hour", "hours"),
          "ns": ("nanosecond", "nanoseconds"), "µs": ("microsecond", "microseconds"), "us": ("microsecond", "microseconds"),
          "KB": ("kilobyte", "kilobytes"), "kB": ("kilobyte", "kilobytes"), "MB": ("megabyte", "megabytes"),
          "GB": ("gigabyte", "gigabytes"), "TB": ("terabyte", "terabytes"), "KiB": ("kibibyte", "kibibytes"),
          "MiB": ("mebibyte", "mebibytes"), "GiB": ("gibibyte", "gibibytes"), "Mbps": ("megabit per second", "megabits per second"),
          "Gbps": ("gigabit per second", "gigabits per second"), "km": ("kilometre", "kilometres"),
          "cm": ("centimetre", "centimetres"), "mm": ("millimetre", "millimetres"), "m": ("metre", "metres"),
          "kg": ("kilogram", "kilograms"), "g": ("gram", "grams"), "mg": ("milligram", "milligrams"),
          "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"), "mph": ("mile per hour", "miles per hour"),
          "km/h": ("kilometre per hour", "kilometres per hour"), "GHz": ("gigahertz", "gigahertz"),
          "MHz": ("megahertz", "megahertz"), "Hz": ("hertz", "hertz"), "kHz": ("kilohertz", "kilohertz"),
          "px": ("pixel", "pixels"), "fps": ("frame per second", "frames per second"),
          "°C": ("degree Celsius", "degrees Celsius"), "°F": ("degree Fahrenheit", "degrees Fahrenheit"),
          "°": ("degree", "degrees"), "x": ("times", "times"), "×": ("times", "times"), "k": ("thousand", "thousand")}
_ABBREVIATIONS = {
    "en": [(r"\be\.g\.,?", "for example,"), (r"\bi\.e\.,?", "that is,"),
           (r"\betc\.(?=\s*[)\],;:]|\s+(?-i:[a-z]))", "et cetera"), (r"\betc\.", "et cetera."),
           (r"\betc\b", "et cetera"), (r"\bvs\.?(?=\s)", "versus"), (r"\bapprox\.", "approximately"),
           (r"\ba\.k\.a\.?", "also known as"), (r"\baka\b", "also known as"), (r"\bw/o\b", "without"),
           (r"\bw/(?=\s)", "with"), (r"\bTL;DR:?", "In short:"), (r"\bDr\.(?=\s+[A-Z])", "Doctor"),
           (r"\bMr\.(?=\s+[A-Z])", "Mister"), (r"\bMrs\.(?=\s+[A-Z])", "Missus"), (r"\bno\.\s*(?=\d)", "number "),
           (r"(?<![\w&])#(?=\d)", "number "), (r"~\s*(?=\d)", "about "), (r"\bpp?\.\s*(?=\d)", "page ")],
    "fr": [(r"\bp\. ?ex\.", "par exemple"), (r"\bc\.-à-d\.", "c'est-à-dire"),
           (r"\betc\.(?=\s*[)\],;:]|\s+(?-i:[a-zà-ÿ]))", "et cetera"), (r"\betc\.", "et cetera."),
           (r"\bM\.(?=\s+[A-Z])", "Monsieur"), (r"\bMme(?=\s+[A-Z])", "Madame")],
    "de": [(r"\bz\. ?B\.", "zum Beispiel"), (r"\bd\. ?h\.", "das heißt"), (r"\busw\.", "und so weiter")],
    "es": [(r"\bp\. ?ej\.", "por ejemplo"), (r"\betc\.", "etcétera.")],
}
_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"   # English-style; other languages adapt below
_LONGEST_NUMBER = 12   # digits; a longer run is an identifier, read digit by digit
_NOT_IN_WORD = r"(?<![\w.,/:-])"
_END = r"(?![\w/]|[.,]\d)"


def to_spoken_form(text: str, language: str = "en") -> str:
    """Return ``text`` as a narrator would say it; paragraph breaks and ``## `` headings kept."""
    language = (language or "en").split("-")[0].lower()
    paragraphs = []
    for paragraph in text.split("\n\n"):
        heading = paragraph.startswith(HEADING_MARK)
        body = _paragraph(paragraph[len(HEADING_MARK):] if heading else paragraph, language)
        if body:
            paragraphs.append(HEADING_MARK + body if heading else body)
    return "\n\n".join(paragraphs)


def _paragraph(text: str, lang: str) -> str:
    for pattern, replacement in _ABBREVIATIONS.get(lang, []):
        text = re.sub(pattern, replacement, text, flags=0 if pattern.startswith(r"\b") and "[A-Z]" in pattern else re.I)
    if lang not in _CJK and lang in CONVERTER_CLASSES:
        text = _numbers(text, lang)
    text = _symbols(text, lang)
    text = re.sub(r",\s*([,.;:!?])", r"\1", text)
    text = re.sub(r"^\s*,\s*", "", text)
    return re.sub(r"\s{2,}", " ", text).strip()


def _numbers(text: str, lang: str) -> str:
    english = lang == "en"
    if english:
        text = _dates(text)
        text = re.sub(_NOT_IN_WORD + r"v(\d+(?:\.\d+){1,3})\b", lambda m: "version " + _version(m.group(1), lang), text)
        text = re.sub(_NOT_IN_WORD + r"(\d+(?:\.\d+){2,3})" + _END, lambda m: _version(m.group(1), lang), text)
        text = re.sub(_NOT_IN_WORD + r"(\d+)(st|nd|rd|th)\b", lambda m: _words(m.group(1), lang, "ordinal"), text)
        text = _phone_numbers(text)
        text = _status_codes(text)
        text = _named_numbers(text)
        # "Rust 1.76", "Python 3.12": a release after a name is "one point seventy-six", not "seven six".
        text = re.sub(r"\b([A-Z][\w+#-]*|[Vv]ersion|[Rr]elease) (\d+)\.([1-9]\d+)(?!\w|[.,]\d)",
                      lambda m: f"{m.group(1)} {_words(m.group(2), lang)} point {_words(m.group(3), lang)}", text)
    elif lang == "fr":
        text = re.sub(_NOT_IN_WORD + r"(\d+)(?:er|re|e|ème)\b", lambda m: _words(m.group(1), lang, "ordinal"), text)
    number = _NUMBER if english else r"\d{1,3}(?:[.\u00a0\u202f ]\d{3})+(?:,\d+)?|\d+(?:,\d+)?"
    # Currencies: "$5", "€1.50", "$2.5M", "£3 billion".
    text = re.sub(r"([$€£])\s?(" + number + r")(?:\s?(bn|mn|[kKmMbB]|thousand|million|billion|trillion)\b)?",
                  lambda m: _money(m.group(1), m.group(2), m.group(3), lang), text)
    text = re.sub(_NOT_IN_WORD + "(" + number + r")\s?([$€£])(?!\w)", lambda m: _money(m.group(2), m.group(1), None, lang),
                  text)  # "3,5 €", as French and German write it
    text = re.sub(_NOT_IN_WORD + "(" + number + r")\s?%", lambda m: f"{_words(m.group(1), lang)} {_PERCENT.get(lang, '%')}",
                  text)
    # Ranges: "10–20", "1-12" (not dates, which went first) → "10 to 20".
    if english:
        text = re.sub(_NOT_IN_WORD + "(" + number + r")\s?[–-]\s?(" + number + ")" + _END,
                      lambda m: f"{_words(m.group(1), lang)} to {_words(m.group(2), lang)}", text)
        text = re.sub(r"\b24/7\b", "twenty-four seven", text)
        text = re.sub(_NOT_IN_WORD + r"(\d+|[A-Za-z])/(\d+)" + _END, _fraction, text)
        text = re.sub(_NOT_IN_WORD + r"((?:1[89]|20)\d\d)s\b", lambda m: _decade(m.group(1)), text)
        # One-letter units need their space ("3 s"); "3x", "5ms", "10MB" do not.
        units = "|".join(sorted((re.escape(u) for u in _UNITS if len(u) > 1 or u in "x×°"), key=len, reverse=True))
        text = re.sub(_NOT_IN_WORD + "(" + number + r")\s?(" + units + r")(?![\w/])", _with_unit, text)
        text = re.sub(_NOT_IN_WORD + "(" + number + r")\s([smgh])(?![\w/])", _with_unit, text)
        text = re.sub(_NOT_IN_WORD + r"((?:19|20)\d\d)" + _END, lambda m: _words(m.group(1), lang, "year"), text)
    text = re.sub(r"(?<![\w.,/:])-(?=\d)", " minus ", text) if english else text
    return re.sub(_NOT_IN_WORD + "(" + number + ")" + _END, lambda m: _words(m.group(1), lang), text)


# Words that say a three-digit number nearby is an HTTP status ("a 404 error", "returns 200 OK").
_HTTP_CONTEXT = re.compile(r"\b(?:HTTP|HTTPS|status|statuses|error|errors|code|codes|response|responses|returns?|"
                           r"returned|respond(?:s|ed)?|redirects?|page|OK|Not Found|Forbidden|Unauthorized|"
                           r"Bad Request|Bad Gateway|Server Error|Too Many Requests|Created|No Content|"
                           r"Moved Permanently|Service Unavailable|Gateway Timeout|Conflict|Teapot)\b", re.I)


def _status_codes(text: str) -> str:
    """"404" → "four oh four" where the words around it say HTTP, status or error, as developers say it."""
    out, position, last_code_end = [], 0, -1
    pattern = re.compile(_NOT_IN_WORD + r"([1-5]\d\d)" + _END + r"(?!\s?(?:%|[$€£]|ms|s\b|MB|KB|GB))")
    for match in pattern.finditer(text):
        before = text[max(0, match.start() - 30):match.start()]
        after = text[match.end():match.end() + 30]
        # Only the few words next to it count: "HTTP 404", "a 404 error", "404 Not Found"; and a code
        # listed right after another ("status codes 301, 302 and 429").
        near = " ".join(before.split()[-3:]) + " | " + " ".join(after.split()[:2])
        listed = last_code_end >= 0 and re.fullmatch(r",?\s*(?:(?:and|or)\s+)?", text[last_code_end:match.start()])
        if not (_HTTP_CONTEXT.search(near) or listed):
            continue
        out.append(text[position:match.start()])
        out.append(status_code(match.group(1)))
        position = last_code_end = match.end()
    out.append(text[position:])
    return "".join(out)


def _pairs(digits: str) -> str:
    """A four-digit name read in pairs, as a year is: 8601 "eighty-six oh one", 8080 "eighty eighty"."""
    head, tail = int(digits[:2]), int(digits[2:])
    if tail == 0:
        return f"{num2words(head)} hundred"
    return f"{num2words(head)} {('oh ' + num2words(tail)) if tail < 10 else num2words(tail)}"


def _named_numbers(text: str) -> str:
    """Numbers that are names, not amounts: protocol versions, ports, standards, year ranges, "v2"."""
    text = re.sub(r"\bHTTP/(\d)(?:\.(\d))?\b",
                  lambda m: "HTTP " + num2words(int(m.group(1))) + (f" point {num2words(int(m.group(2)))}"
                                                                    if m.group(2) else ""), text)
    text = re.sub(r"\bIPv([46])\b", lambda m: "IP v " + num2words(int(m.group(1))), text)
    text = re.sub(_NOT_IN_WORD + r"v(\d+)\b(?!\.\d)", lambda m: "version " + num2words(int(m.group(1))), text)
    # "RFC 7231", "ISO 8601", "PEP 8": a standard's number is read like a year; a short one as it is.
    text = re.sub(r"\b(RFC|ISO|PEP|ECMA|IEEE|CVE|ES|ISBN)[ -](\d{4})\b(?![.,]\d|-)",
                  lambda m: f"{m.group(1)} {_pairs(m.group(2))}", text)
    # "port 8080" "eighty eighty", "port 443" "four four three".
    text = re.sub(r"\b([Pp]orts?) (\d{2,5})\b(?![.,]\d)",
                  lambda m: f"{m.group(1)} " + (_pairs(m.group(2)) if len(m.group(2)) == 4 else
                                                 " ".join(num2words(int(d)) for d in m.group(2))
                                                 if len(m.group(2)) == 3 else m.group(2)), text)
    # "1999–2001": years on both sides of a range.
    return re.sub(_NOT_IN_WORD + r"((?:1[89]|20)\d\d)\s?[–-]\s?((?:1[89]|20)\d\d)" + _END,
                  lambda m: f"{_words(m.group(1), 'en', 'year')} to {_words(m.group(2), 'en', 'year')}", text)


def status_code(code: str) -> str:
    """An HTTP status as people say it: 200 "two hundred", 404 "four oh four", 429 "four twenty-nine"."""
    hundreds, rest = int(code[0]), int(code[1:])
    first = num2words(hundreds)
    if rest == 0:
        return f"{first} hundred"
    if rest < 10:
        return f"{first} oh {num2words(rest)}"
    return f"{first} {num2words(rest)}"


# "555-0123", "(555) 123-4567", "+1 202 555 0143", "+33 1 23 45 67 89": digits read in their groups.
_PHONE = re.compile(r"(?<![\w.,/:-])(?:\+?\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,4}){1,4}(?![\w/]|[.,]\d)")


def _phone_numbers(text: str) -> str:
    def say(match: re.Match[str]) -> str:
        raw = match.group(0)
        groups = re.findall(r"\d+", raw)
        digits = sum(len(g) for g in groups)
        # A phone number has 7 to 15 digits in groups, one of which has at least 3 (not "10-20", not a date).
        plus = raw.startswith("+")
        if not (7 <= digits <= 15) or (not plus and "(" not in raw and not re.fullmatch(
                r"(?:1-)?(?:\d{3}-)?\d{3}-\d{4}|(?:1[ .])?\d{3}[ .]\d{3}[ .]\d{4}", raw)):
            return raw
        spoken = ", ".join(" ".join("oh" if d == "0" else num2words(int(d)) for d in group) for group in groups)
        return ("plus " if plus else "") + spoken

    return _PHONE.sub(say, text)


def _decimal(raw: str, lang: str) -> Decimal | None:
    if lang == "en":
        raw = raw.replace(",", "")
    else:
        raw = re.sub(r"[.\u00a0\u202f ](?=\d{3}\b)", "", raw).replace(",", ".")
    try:
        return Decimal(raw)
    except InvalidOperation:
        return None


def _words(raw: str, lang: str, to: str = "cardinal") -> str:
    value = _decimal(raw, lang)
    if value is None:
        return raw
    digits = raw.split(".")[0].split(",")[0] if lang == "en" else re.split(r"[,]", raw)[0]
    if len(re.sub(r"\D", "", digits)) > _LONGEST_NUMBER:
        # An identifier, not an amount ("issue 1092269566"): read digit by digit, as people do.
        return " ".join(num2words(int(d), lang=lang) for d in re.sub(r"\D", "", raw))
    if to in ("ordinal", "year") and value != value.to_integral_value():
        to = "cardinal"
    number: int | Decimal = int(value) if value == value.to_integral_value() and "." not in raw else value
    if to == "cardinal" and isinstance(number, Decimal) and lang == "en":
        # "1.76" is read digit by digit after the point, as num2words does; keep trailing zeros spoken.
        whole, _, fraction = format(number, "f").partition(".")  # never "1E-51"
        return f"{_words(whole, lang)} point {' '.join(num2words(int(d), lang=lang) for d in fraction)}"
    try:
        spoken = num2words(number, lang=lang, to=to)
    except (NotImplementedError, OverflowError, ValueError, TypeError, ArithmeticError):
        try:
            spoken = num2words(number, lang=lang)
        except (NotImplementedError, OverflowError, ValueError, TypeError, ArithmeticError):
            return raw  # beyond what num2words says in this language: the voice reads the digits
    return spoken.replace(",", "")  # "one thousand, five hundred": no pause inside a number


def _money(symbol: str, amount: str, scale: str | None, lang: str) -> str:
    code = _CURRENCIES[symbol]
    value = _decimal(amount, lang)
    converter = CONVERTER_CLASSES[lang]
    forms = getattr(converter, "CURRENCY_FORMS", {}).get(code)
    if value is None or forms is None:
        return f"{symbol}{amount}{scale or ''}"
    if scale:  # "$2.5M" → "two point five million dollars"
        return f"{_words(amount, lang)} {_SCALES[scale]} {forms[0][1]}"
    whole, cents = int(value), int((value - int(value)) * 100)
    said = f"{_words(str(whole), lang)} {forms[0][0] if whole == 1 else forms[0][1]}"
    if cents:
        said += f" {_AND.get(lang, 'and')} {_words(str(cents), lang)} {forms[1][0] if cents == 1 else forms[1][1]}"
    return said


def _version(raw: str, lang: str) -> str:
    return " point ".join(_words(part, lang) for part in raw.split("."))


def _fraction(match: re.Match[str]) -> str:
    top, bottom = match.group(1), match.group(2)
    if top.isdigit() and int(top) <= int(bottom):
        return f"{_words(top, 'en')} out of {_words(bottom, 'en')}"
    return f"{_words(top, 'en') if top.isdigit() else top} over {_words(bottom, 'en')}"


def _with_unit(match: re.Match[str]) -> str:
    amount, unit = match.group(1), match.group(2)
    singular, plural = _UNITS[unit]
    one = _decimal(amount, "en") == 1 and "." not in amount
    return f"{_words(amount, 'en')} {singular if one else plural}"


def _decade(year: str) -> str:
    words = _words(year, "en", "year")
    if words.endswith("y"):
        return words[:-1] + "ies"       # "nineteen nineties"
    return words + ("es" if words.endswith(("x", "s")) else "s")  # "two thousands"


def _dates(text: str) -> str:
    """ISO dates and "March 5, 2024" / "5 March 2024" → "March fifth, twenty twenty-four"."""
    def say(month: int, day: int, year: str) -> str:
        if not (1 <= month <= 12 and 1 <= day <= 31):
            return ""
        return f"{_MONTHS[month - 1]} {num2words(day, to='ordinal')}, {_words(year, 'en', 'year')}"

    text = re.sub(r"\b(\d{4})-(\d{2})-(\d{2})\b",
                  lambda m: say(int(m.group(2)), int(m.group(3)), m.group(1)) or m.group(0), text)
    months = "|".join(_MONTHS) + "|" + "|".join(m[:3] for m in _MONTHS)
    text = re.sub(r"\b(" + months + r")\.? (\d{1,2})(?:st|nd|rd|th)?,? (\d{4})\b",
                  lambda m: say(_month(m.group(1)), int(m.group(2)), m.group(3)) or m.group(0), text)
    text = re.sub(r"\b(\d{1,2})(?:st|nd|rd|th)? (" + months + r")\.?,? (\d{4})\b",
                  lambda m: say(_month(m.group(2)), int(m.group(1)), m.group(3)) or m.group(0), text)
    text = re.sub(r"\b(" + months + r")\.? (\d{1,2})(?:st|nd|rd|th)?\b(?!,? \d)",
                  lambda m: f"{_MONTHS[_month(m.group(1)) - 1]} {num2words(int(m.group(2)), to='ordinal')}"
                  if 1 <= int(m.group(2)) <= 31 else m.group(0), text)
    return text


def _month(name: str) -> int:
    return next(i for i, month in enumerate(_MONTHS, 1) if month.startswith(name[:3]))


def _symbols(text: str, lang: str) -> str:
    text = re.sub(r"\s&\s", f" {_AND.get(lang, '&')} ", text)
    text = text.replace("±", " plus or minus ") if lang == "en" else text
    text = re.sub(r"\s*(?:->|→|=>)\s*", " to " if lang == "en" else ", ", text)
    text = re.sub(r"(?<=\w)\s*×\s*(?=\w)", " times " if lang == "en" else " × ", text)
    text = re.sub(r"\s*[—–]\s*|\s+-\s+", ", ", text)  # dashes, and a spaced hyphen used as one, are pauses
    # "SSL/TLS" → "SSL or TLS"; "I/O" stays (one letter each side is a name, not a choice).
    text = re.sub(r"(?<=[A-Za-z]{2})/(?=[A-Za-z]{2})", " or " if lang == "en" else " / ", text)
    if lang == "en":
        text = re.sub(r"(?:<=|≤)\s*(?=[\w$€£])", "at most ", text)
        text = re.sub(r"(?:>=|≥)\s*(?=[\w$€£])", "at least ", text)
        text = re.sub(r"<\s*(?=[\w$€£])", "less than ", text)
        text = re.sub(r"(?<![\w-])>\s*(?=[\w$€£])", "more than ", text)
    text = re.sub(r"[*_#`~^]+", " ", text)
    text = re.sub(r"\s*[\[(](?:\.{3}|…)[\])]", "", text)  # "[...]": an editor's elision
    # Ellipses: "… oh no" opens a quote, "here…" before a quote closes it, "well… maybe" pauses.
    text = re.sub(r"(?:(?<=^)|(?<=[\"“(\s]))(?:\.{3}|…)\s*", "", text)
    text = re.sub(r"(?:\.{3}|…)(?=[\"”)])", "", text)
    text = re.sub(r"(?:\.{3}|…)(?=\s+[a-z])", ",", text)
    return re.sub(r"\.{3}|…", ".", text).replace("[", "").replace("]", "")
