"""Cancelling a stage while it runs: a token per job run, and the child processes it stops.

The runner opens a ``scope(token)`` around each stage. Code that starts a slow child
process (ffmpeg) registers it with ``watch(process)``; code that loops over slow in-process
work (speech, one scene at a time) calls ``check()`` between items. When the heartbeat
sees the job's cancel request it calls ``token.cancel()``: every watched process is
terminated (killed if it does not stop within ``GRACE_SECONDS``), and the next ``check()``
raises ``Canceled``. A stage whose process was terminated fails with the process's
error; the runner sees the token cancelled and records CANCELED instead of a failure.

The token travels in a context variable. Thread pools do not copy context variables into
their threads, so work handed to a pool is wrapped with ``carry(function)``.
"""

from __future__ import annotations

import contextvars
import logging
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

log = logging.getLogger("mediabuddy.pipeline")
T = TypeVar("T")
GRACE_SECONDS = 3.0


class Canceled(Exception):
    """The job was canceled while this stage ran."""


class CancelToken:
    def __init__(self, label: str = ""):
        self.label = label
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._processes: set[subprocess.Popen] = set()

    @property
    def canceled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        """Ask the stage to stop: terminate its child processes now (kill them if they linger)."""
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            processes = list(self._processes)
        for process in processes:
            _stop(process)
        if processes:
            log.info("%s: %d child process(es) stopped for the cancel", self.label or "cancel", len(processes))

    def check(self) -> None:
        if self._event.is_set():
            raise Canceled(self.label)

    def add(self, process: subprocess.Popen) -> None:
        with self._lock:
            if not self._event.is_set():
                self._processes.add(process)
                return
        _stop(process)  # canceled before it started: it does not get to run

    def discard(self, process: subprocess.Popen) -> None:
        with self._lock:
            self._processes.discard(process)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()

    def reap() -> None:
        try:
            process.wait(timeout=GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()

    threading.Thread(target=reap, name=f"reap-{process.pid}", daemon=True).start()


_current: contextvars.ContextVar[CancelToken | None] = contextvars.ContextVar("mediabuddy_cancel", default=None)


@contextmanager
def scope(token: CancelToken) -> Iterator[CancelToken]:
    """Make ``token`` the current one for the code run inside (and what it ``carry``s to threads)."""
    reset = _current.set(token)
    try:
        yield token
    finally:
        _current.reset(reset)


def current() -> CancelToken | None:
    return _current.get()


def check() -> None:
    """Raise ``Canceled`` when the current stage's job has been canceled (no-op outside a run)."""
    token = _current.get()
    if token is not None:
        token.check()


@contextmanager
def watch(process: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """Let a cancel of the current job stop ``process`` while this block waits for it."""
    token = _current.get()
    if token is None:
        yield process
        return
    token.add(process)
    try:
        yield process
    finally:
        token.discard(process)


def carry(function: Callable[..., T]) -> Callable[..., T]:
    """``function`` run, in whichever thread, with the cancel token current where it was wrapped."""
    token = _current.get()

    def carried(*args: object, **kwargs: object) -> T:
        reset = _current.set(token)
        try:
            return function(*args, **kwargs)
        finally:
            _current.reset(reset)

    return carried
