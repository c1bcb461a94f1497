"""Language: detected offline from the bundled model, or taken from front matter or settings."""

from __future__ import annotations

import socket

import pytest

from server.providers.extract import language

pytestmark = pytest.mark.utils


@pytest.mark.parametrize(("text", "tag"), [
    ("The Fetch API provides an interface for fetching resources, including across the network.", "en"),
    ("Lors de la mise en page d'un document, le moteur de rendu représente chaque élément par une boîte.", "fr"),
    ("Die Fehlerbehandlung in Go ist seit langem ein umstrittenes Thema in der Gemeinschaft.", "de"),
    ("La sintaxis para el manejo de errores ha sido un tema de debate durante muchos años.", "es"),
    ("吾輩は猫である。名前はまだ無い。", "ja"),
    ("東京都千代田区丸の内一丁目。日本国憲法第九条。国際連合安全保障理事会決議。", "ja"),   # kanji-heavy, still Japanese
    ("这是一个用于命令行的基准测试工具，支持多次运行的统计分析。", "zh"),
    ("이것은 명령줄 벤치마킹 도구입니다. 여러 번 실행하여 통계를 냅니다.", "ko"),
    ("## Le modèle de boîte\n\nChaque boîte est composée de quatre parties.", "fr"),
])
def test_detects_the_language(text: str, tag: str) -> None:
    found = language.detect(text)
    assert (found.tag, found.source) == (tag, "detected")


def test_too_little_text_keeps_the_default() -> None:
    assert language.detect("Hi there") == language.Language("en", "default", 0.0)


def test_front_matter_then_settings_then_detection() -> None:
    text = "Chaque boîte est composée de quatre parties, définies par leurs bords."
    assert language.resolve("ja-JP", text, default="de") == language.Language("ja", "front matter")
    assert language.resolve(None, text, default="de_AT") == language.Language("de", "settings")
    assert language.resolve("not a tag!", text).tag == "fr"


def test_detection_never_touches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - a process boundary, refused
        raise AssertionError("language detection tried to open a network connection")

    monkeypatch.setattr(language, "_detector", None)  # load the model afresh, with sockets refused
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    assert language.detect("Ceci est un texte assez long pour être reconnu sans hésitation.").tag == "fr"


@pytest.mark.parametrize(("text", "words"), [("two words", 2), ("猫と暮らす", 5), ("Go言語は速い", 6), ("", 0)])
def test_words_are_counted_per_character_in_cjk(text: str, words: int) -> None:
    assert language.count_words(text) == words
