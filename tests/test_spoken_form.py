"""Spoken form on tables of cases: what a person reading aloud would say, per language."""

from __future__ import annotations

import pytest

from server.providers.voice.normalizer import to_spoken_form

pytestmark = pytest.mark.utils

ENGLISH = [
    # numbers
    ("We made 1,500 commits.", "We made one thousand five hundred commits."),
    ("Only 4 of the 10 lines do work.", "Only four of the ten lines do work."),
    ("It is 0.3 seconds and -5 degrees.", "It is zero point three seconds and minus five degrees."),
    ("Rust 1.76 or newer, Go version 1.21, and 0.75 seconds.",
     "Rust one point seventy-six or newer, Go version one point twenty-one, and zero point seven five seconds."),
    ("Since Node.js v6.6.0 it works.", "Since Node.js version six point six point zero it works."),
    # years, decades, dates
    ("In 2018, Russ wrote it.", "In twenty eighteen, Russ wrote it."),
    ("Back in the 1990s.", "Back in the nineteen nineties."),
    ("Published 2024-12-10.", "Published December tenth, twenty twenty-four."),
    ("Updated March 5, 2025 and 1 June 2023.", "Updated March fifth, twenty twenty-five and June first, twenty twenty-three."),
    ("Due Dec 3.", "Due December third."),
    # money, percentages
    ("It costs $5.", "It costs five dollars."),
    ("Now $1.50 each.", "Now one dollar and fifty cents each."),
    ("They raised $2.5M.", "They raised two point five million dollars."),
    ("A £3 fee and €20 tax.", "A three pounds sterling fee and twenty euro tax."),  # num2words' English forms
    ("It is 50% faster and 0.5% smaller.", "It is fifty percent faster and zero point five percent smaller."),
    # ordinals, ranges, fractions
    ("The 1st, 2nd, 3rd and 21st runs.", "The first, second, third and twenty-first runs."),
    ("Read pages 10–20.", "Read pages ten to twenty."),
    ("0/10, would not recommend; n/3 voting; 24/7 support.",
     "zero out of ten, would not recommend; n over three voting; twenty-four seven support."),
    # units
    ("It took 5 ms, 1 second, 3 s and 2 h.", "It took five milliseconds, one second, three seconds and two hours."),
    ("Files of 10 MB or 1 GB at 60 fps.", "Files of ten megabytes or one gigabyte at sixty frames per second."),
    ("A 3x speedup at 25°C.", "A three times speedup at twenty-five degrees Celsius."),
    # abbreviations and symbols
    ("Use tools, e.g. grep & sed — done.", "Use tools, for example, grep and sed, done."),
    ("TL;DR: use OAuth, OpenID, etc.", "In short: use OAuth, OpenID, et cetera."),
    ("Dr. Smith vs. Mr. Jones, a.k.a. the boss.", "Doctor Smith versus Mister Jones, also known as the boss."),
    ("Use SSL/TLS -> safe; #1 priority; ~5 minutes.", "Use SSL or TLS to safe; number one priority; about five minutes."),
    ("Fields (password, etc.) and more, etc. Alert on it.", "Fields (password, et cetera) and more, et cetera. Alert on it."),
    ("the design we published [...] should have been", "the design we published should have been"),
    ('I thought "... oh no; what is that?", then "not here...". Well... maybe later...',
     'I thought "oh no; what is that?", then "not here". Well, maybe later.'),
    ("Disk I/O and SSL/TLS for fast commands (< 5 ms) and >= 3 runs.",
     "Disk I/O and SSL or TLS for fast commands (less than five milliseconds) and at least three runs."),
    ("fd - a simple, fast alternative to find.", "fd, a simple, fast alternative to find."),
    # left alone: digits inside names
    ("Enable MFA/2FA on S3 and OWASP A10.", "Enable MFA/2FA on S3 and OWASP A10."),
    # HTTP status codes where the words around say so; the same digits elsewhere are amounts
    ("The server returns a 404 error.", "The server returns a four oh four error."),
    ("HTTP 200 OK, then 500 Internal Server Error.", "HTTP two hundred OK, then five hundred Internal Server Error."),
    ("Status codes 301, 302 and 429 matter.", "Status codes three oh one, three oh two and four twenty-nine matter."),
    ("It answers 201 Created.", "It answers two oh one Created."),
    ("We had 404 users and 500 commits.", "We had four hundred and four users and five hundred commits."),
    # phone numbers: digits in their groups; years in a sentence with a version
    ("Call 555-0123 or (555) 123-4567.", "Call five five five, oh one two three or five five five, one two three, four five six seven."),
    ("Dial +1 202 555 0143.", "Dial plus one, two oh two, five five five, oh one four three."),
    ("Use HTTP/2 or HTTP/1.1 over IPv6 on port 8080 or port 443.",
     "Use HTTP two or HTTP one point one over IP v six on port eighty eighty or port four four three."),
    ("See RFC 7231 and ISO 8601; v2 ran from 1999-2001.",
     "See RFC seventy-two thirty-one and ISO eighty-six oh one; version two ran from nineteen ninety-nine to two thousand and one."),
    ("Call 1-800-555-0199.", "Call one, eight oh oh, five five five, oh one nine nine."),
    ("In 1998 came 2.0; in 2023, version 3.12.", "In nineteen ninety-eight came two point zero; in twenty twenty-three, version three point twelve."),
]

OTHER_LANGUAGES = [
    ("fr", "Elle coûte 3,5 € soit 12 % de plus.", "Elle coûte trois euros et cinquante centimes soit douze pour cent de plus."),
    ("fr", "Le 1er mars, 1 000 visiteurs, etc.", "Le premier mars, mille visiteurs, et cetera."),
    ("fr", "Quatre parties, p. ex. la marge.", "Quatre parties, par exemple la marge."),
    ("de", "Es kostet 1.500 Euro, z. B. 20 % mehr.", "Es kostet eintausendfünfhundert Euro, zum Beispiel zwanzig Prozent mehr."),
    ("es", "Cuesta 20 €, un 15 % más.", "Cuesta veinte euros, un quince por ciento más."),
    ("ja", "2024年に3回、50%の人が来ました。", "2024年に3回、50%の人が来ました。"),
    ("zh", "我们在2024年发布了3个版本。", "我们在2024年发布了3个版本。"),
]


@pytest.mark.parametrize(("written", "said"), ENGLISH)
def test_english_spoken_form(written: str, said: str) -> None:
    assert to_spoken_form(written) == said
    assert to_spoken_form(written, "en-GB") == said


@pytest.mark.parametrize(("language", "written", "said"), OTHER_LANGUAGES)
def test_spoken_form_follows_the_language(language: str, written: str, said: str) -> None:
    assert to_spoken_form(written, language) == said


def test_heading_paragraphs_keep_their_mark_and_paragraphs_stay_apart() -> None:
    text = "## Chapter 3: the 2nd try\n\nIt took 5 ms.\n\n## Summary\n\nAll 10 done."
    assert to_spoken_form(text) == "## Chapter three: the second try\n\nIt took five milliseconds.\n\n## Summary\n\nAll ten done."


def test_unknown_language_keeps_digits_and_is_deterministic() -> None:
    text = "Wynik: 42 (test) & koniec."
    assert to_spoken_form(text, "xx") == to_spoken_form(text, "xx") == "Wynik: 42 (test) & koniec."


@pytest.mark.parametrize("written", ["1" * 40, "9" * 400 + " items", "$" + "9" * 60, "1." + "5" * 300, "3" * 30 + "%",
                                     "10" * 30 + "th", "v1.2.3.4.5.6", "2024-13-45", "Feb 31, 2024",
                                     "0." + "0" * 50 + "1", "-" + "7" * 99])
@pytest.mark.parametrize("language", ["en", "fr", "de", "es", "ja", "ru", "ar", "xx"])
def test_any_number_is_said_or_left_alone_never_a_crash(written: str, language: str) -> None:
    said = to_spoken_form(f"It was {written} today.", language)
    assert said.startswith("It was") and said.endswith("today.")


def test_long_identifiers_are_read_digit_by_digit() -> None:
    assert to_spoken_form("Ticket 12345678901234 is open.") == \
        "Ticket one two three four five six seven eight nine zero one two three four is open."
