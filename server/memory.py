"""Giving memory back to the system between stages.

A worker runs every stage of a job in one process. In-process models (piper's onnxruntime
session) free hundreds of MB of tensors per sentence to malloc, which keeps them for
reuse: without a trim the worker would carry them through the render that follows, beside
the render's ffmpeg processes.
"""

from __future__ import annotations

import gc
from functools import lru_cache


def return_freed_memory() -> None:
    """Collect garbage and hand the heap's free pages back to the system (glibc only; a
    no-op elsewhere, where the memory is reused later anyway). Tens of ms: once per stage,
    not per sentence (after every sentence, piper ran up to 20% slower in one measurement:
    each sentence faults its pages in again)."""
    gc.collect()
    trim_heap()


def trim_heap() -> None:
    """Hand malloc's free pages back to the system, without a garbage collection (a few ms).

    For memory freed by threads: glibc gives each thread that allocates its own arena,
    and what a finished thread freed stays mapped in it until trimmed."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@lru_cache(maxsize=1)
def _malloc_trim():  # noqa: ANN202 - a ctypes function
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (Windows, macOS, musl)
        return None
