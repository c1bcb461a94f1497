"""Running ffmpeg for the renderer: errors that say what failed, and kills told apart.

A failing ffmpeg's last stderr lines go into the error. A process killed by a signal
(the kernel's out-of-memory killer sends SIGKILL) is not worth retrying unchanged, so
that error is marked non-retryable and says to lower the parallelism or use a draft.
"""

from __future__ import annotations

import signal
import subprocess
from collections import deque

from server.pipeline import cancel
from server.pipeline.ffmpeg import ffmpeg_exe


class RenderFailed(RuntimeError):
    """ffmpeg failed; ``tail`` is the end of its log, ``killed`` whether a signal ended it."""

    def __init__(self, what: str, returncode: int, tail: str):
        self.what = what
        self.returncode = returncode
        self.tail = tail
        self.killed = returncode < 0
        if self.killed:
            name = signal.Signals(-returncode).name if -returncode in signal.Signals._value2member_map_ else str(-returncode)
            reason = f"ffmpeg was killed by {name} while rendering {what}"
            if -returncode == signal.SIGKILL:
                reason += " (most likely out of memory)"
        else:
            reason = f"ffmpeg failed (exit {returncode}) while rendering {what}"
        super().__init__(f"{reason}: {tail}" if tail else reason)

    @property
    def retryable(self) -> bool:
        return not self.killed


def run(args: list[str], what: str, *, timeout: float = 3600, loglevel: str = "error", keep: int = 200) -> str:
    """Run ffmpeg with ``args``; return its stderr (only the last ``keep`` lines)."""
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", loglevel, "-y", *args]
    with subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, errors="replace") as proc, cancel.watch(proc):
        # Read stderr as it comes (a long render must not fill the pipe), keeping a tail only.
        tail: deque[str] = deque(maxlen=keep)
        assert proc.stderr is not None
        try:
            for line in proc.stderr:
                tail.append(line.rstrip())
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise RenderFailed(what, -signal.SIGKILL, f"took longer than {timeout:.0f} s") from None
    if code != 0:
        raise RenderFailed(what, code, "\n".join(line for line in list(tail)[-8:] if line))
    return "\n".join(tail)
