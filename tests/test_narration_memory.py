"""A worker speaks a job's scenes in-process, then renders it beside its ffmpeg processes:
what the speech model used must not stay with the worker through the render."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTICLE = ROOT.parent / "shared" / "corpus" / "articles" / "02-mdn-fetch-api.md"
PROBE = """
import sys
from pathlib import Path
from server.memory import return_freed_memory
from server.providers.narration.base import narrate
from server.providers.narration.piper_voice import PiperNarrator, bundled_voice

narrator = PiperNarrator(bundled_voice())
words = Path(sys.argv[1]).read_text(encoding="utf-8").split()
for i in range(6):
    narrate(narrator, " ".join(words[25 * i:25 * (i + 1)]), Path(sys.argv[2]) / f"{i}.wav", 350)
return_freed_memory()   # what the narration stage does when it has spoken every scene
print(int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; the trim is glibc's")
def test_piper_leaves_the_process_small_after_speaking(tmp_path: Path) -> None:
    """onnxruntime's memory arena kept a sentence's largest tensors for the process's life:
    663 MB after 600 words, against 267 MB with it off and the freed memory handed back."""
    out = subprocess.run([sys.executable, "-c", PROBE, str(ARTICLE), str(tmp_path)], capture_output=True, text=True,
                         check=True, timeout=300, cwd=ROOT).stdout
    rss_mb = int(out.split()[-1]) / 1000
    assert len(list(tmp_path.glob("*.wav"))) == 6
    assert rss_mb < 420, f"the process holds {rss_mb:.0f} MB after speaking six sentences"
