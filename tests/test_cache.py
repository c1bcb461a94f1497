"""THE result cache on real folders, with real threads and real processes racing for one key."""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path

import pytest

from server.pipeline.cache import ResultCache, cached_file, digest, provider_key
from server.providers.types import ImageRequest, ImageStyle, SceneSpec

pytestmark = pytest.mark.utils

STYLE = ImageStyle(width=1080, height=1920, theme="ocean", title="Lights", scene_count=12)


def scene(index: int, text: str = "The keeper climbed the stairs.", concept: str = "lighthouse") -> SceneSpec:
    return SceneSpec(index=index, text=text, concept=concept, visual="A lighthouse at dusk.")


class Painter:
    name, version, kind, paid = "painter", "1", "images", True

    def __init__(self, model: str = "flux-schnell") -> None:
        self.model = model

    def fingerprint(self) -> str:
        return f"model={self.model}"


def test_keys_ignore_where_a_scene_sits_but_not_what_it_is():
    same_scene_elsewhere = provider_key("images", Painter(), ImageRequest(scene(7), STYLE.__class__(
        width=1080, height=1920, theme="ocean", title="Lights", scene_count=13)))
    assert provider_key("images", Painter(), ImageRequest(scene(0), STYLE)) == same_scene_elsewhere
    different = [
        provider_key("images", Painter(), ImageRequest(scene(0, text="Another sentence."), STYLE)),
        provider_key("images", Painter(), ImageRequest(scene(0, concept="harbour"), STYLE)),
        provider_key("images", Painter("flux-dev"), ImageRequest(scene(0), STYLE)),
        provider_key("images", Painter(), ImageRequest(scene(0), STYLE), "extra"),
        provider_key("narration", Painter(), ImageRequest(scene(0), STYLE)),
    ]
    assert len(set(different + [same_scene_elsewhere])) == len(different) + 1


def test_digest_is_canonical():
    assert digest({"b": 1, "a": (1, 2)}) == digest({"a": [1, 2], "b": 1})
    assert digest(Path("a/b")) == digest("a/b")
    assert digest("x") != digest("y")
    with pytest.raises(TypeError, match="cannot make a cache key from a object"):
        digest(object())


def test_json_results_are_produced_once(tmp_path):
    cache = ResultCache(tmp_path)
    calls = []
    key = digest("timeline", "gemini", "article text")
    produce = lambda: calls.append(1) or {"scenes": ["a", "b"]}  # noqa: E731
    assert cache.json("timeline", key, produce) == ({"scenes": ["a", "b"]}, False)
    assert cache.json("timeline", key, produce) == ({"scenes": ["a", "b"]}, True)
    assert len(calls) == 1
    assert [p.name for p in (tmp_path / "timeline" / key[:2]).iterdir()] == [f"{key}.json"]


def test_a_damaged_json_entry_is_a_miss_and_is_replaced(tmp_path):
    cache = ResultCache(tmp_path)
    key = digest("damaged")
    cache.store_json("voice", key, {"text": "ok"})
    (tmp_path / "voice" / key[:2] / f"{key}.json").write_text('{"text": "o', encoding="utf-8")
    assert cache.json("voice", key, lambda: {"text": "again"}) == ({"text": "again"}, False)
    assert cache.load_json("voice", key) == {"text": "again"}


def test_files_come_with_their_sidecar(tmp_path):
    cache = ResultCache(tmp_path)
    key = digest("image", 1)
    calls = []

    def produce(out: Path) -> dict:
        calls.append(out)
        out.write_bytes(b"\x89PNG fake but non-empty")
        return {"seed": 42}

    path, meta, hit = cache.file("images", key, ".png", produce)
    assert (path.read_bytes(), meta, hit) == (b"\x89PNG fake but non-empty", {"seed": 42}, False)
    again, meta_again, hit_again = cache.file("images", key, ".png", produce)
    assert (again, meta_again, hit_again) == (path, {"seed": 42}, True)
    assert len(calls) == 1 and calls[0].parent != path.parent, "produced under a temporary name"
    assert sorted(p.name for p in path.parent.iterdir()) == ["meta.json", "result.png"]


def test_a_failed_producer_leaves_nothing(tmp_path):
    cache = ResultCache(tmp_path)
    key = digest("fails")

    def produce(out: Path) -> dict:
        out.write_bytes(b"half a picture")
        raise RuntimeError("the service hung up")

    with pytest.raises(RuntimeError, match="hung up"):
        cache.file("images", key, ".png", produce)
    assert list((tmp_path / "images" / key[:2]).iterdir()) == []
    with pytest.raises(RuntimeError, match="wrote no file"):
        cache.file("images", key, ".png", lambda out: {})
    assert cache.entry("images", key, ".png") is None


def _race(root: str, key: str, barrier, results) -> None:  # noqa: ANN001 - runs in a child process
    import os

    cache = ResultCache(Path(root))

    def produce(out: Path) -> dict:
        barrier.wait(timeout=10)  # everyone is inside produce() at once: a real race for the rename
        out.write_bytes(f"made by {os.getpid()}".encode())
        return {"pid": os.getpid()}

    path, meta, _hit = cache.file("segments", key, ".mp4", produce)
    results.put((str(path), path.read_bytes().decode(), meta["pid"]))


def test_processes_racing_for_one_key_all_get_one_complete_entry(tmp_path):
    context = multiprocessing.get_context("spawn")
    key = digest("race")
    barrier, results = context.Barrier(3), context.Queue()
    workers = [context.Process(target=_race, args=(str(tmp_path), key, barrier, results)) for _ in range(3)]
    for worker in workers:
        worker.start()
    answers = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    paths, contents, pids = zip(*answers)
    assert len(set(paths)) == 1 and len(set(contents)) == 1 and len(set(pids)) == 1
    assert contents[0] == f"made by {pids[0]}", "the file and its sidecar come from the same producer"
    assert [p.name for p in (tmp_path / "segments" / key[:2]).iterdir()] == [key], "no temporary entry left"


def test_threads_racing_for_one_key(tmp_path):
    cache = ResultCache(tmp_path)
    key = digest("threads")
    barrier = threading.Barrier(4, timeout=5)
    seen: list[tuple[Path, dict]] = []

    def produce(out: Path) -> dict:
        barrier.wait()
        out.write_text(threading.current_thread().name)
        return {"thread": threading.current_thread().name}

    def worker() -> None:
        path, meta, _ = cache.file("images", key, ".png", produce)
        seen.append((path, meta))

    threads = [threading.Thread(target=worker, name=f"t{i}") for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(seen) == 4 and len({p for p, _ in seen}) == 1
    assert seen[0][0].read_text() == json.loads((seen[0][0].parent / "meta.json").read_text())["thread"]


def test_the_one_call_form_for_the_renderer(tmp_path):
    made = []

    def encode(out: Path) -> None:
        made.append(out)
        out.write_bytes(b"\x00\x00\x00\x18ftypmp42 segment")

    parts = ("segment", "encoder v3", ("frame-hash", 25))
    first = cached_file(tmp_path, "segments", parts, ".mp4", encode)
    again = cached_file(tmp_path, "segments", parts, ".mp4", encode)
    other = cached_file(tmp_path, "segments", ("segment", "encoder v4", ("frame-hash", 25)), ".mp4", encode)
    assert first == again != other and len(made) == 2
    assert first.read_bytes().endswith(b"segment") and first.suffix == ".mp4"
