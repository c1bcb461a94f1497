"""Windows safety: every module imports, and the daemon's lock works, without POSIX-only modules.

There is no Windows machine here, so a subprocess makes the POSIX-only standard modules
unimportable (``sys.modules[name] = None`` makes ``import name`` raise ImportError) before
anything of ours is imported: a module-level ``import fcntl`` anywhere in the project fails
the test, as it would fail on native Windows Python.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.utils
ROOT = Path(__file__).resolve().parents[1]
POSIX_ONLY = ("fcntl", "termios", "tty", "pty", "pwd", "grp", "resource", "syslog", "posix_ipc", "crypt")

PRELUDE = f"""
import sys, warnings
for name in {POSIX_ONLY!r}:
    sys.modules[name] = None
"""

IMPORT_ALL = PRELUDE + """
import importlib, json, pathlib, pkgutil
root = pathlib.Path(sys.argv[1])
names = ["config", "cli"]
for package in ("daemon", "server"):
    names.append(package)
    names += [m.name for m in pkgutil.walk_packages([str(root / package)], prefix=package + ".")]
failed = {}
for name in names:
    try:
        importlib.import_module(name)
    except Exception as error:
        failed[name] = f"{type(error).__name__}: {error}"
print(json.dumps({"imported": len(names) - len(failed), "failed": failed}))
"""

LOCK = PRELUDE + """
import json, pathlib
warnings.filterwarnings("ignore", "only soft file lock is available")  # filelock: no fcntl, no msvcrt here
from config import load_settings
from daemon.service import DaemonError, InboxDaemon, daemon_running
home = pathlib.Path(sys.argv[1])
settings = load_settings(home=home, api_token="t" * 32)
first, second = InboxDaemon(settings), InboxDaemon(settings)
report = {"before": daemon_running(settings)}
first._acquire_lock()
report["held"] = daemon_running(settings)
try:
    second._acquire_lock()
    report["second"] = "acquired"
except DaemonError as error:
    report["second"] = str(error)
first._release_lock()
report["after"] = daemon_running(settings)
second._acquire_lock()
second._release_lock()
report["fcntl_loaded"] = sys.modules.get("fcntl") is not None
print(json.dumps(report))
"""


def _run(script: str, argument: Path) -> dict:
    result = subprocess.run([sys.executable, "-c", script, str(argument)], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_every_module_imports_without_posix_only_modules() -> None:
    report = _run(IMPORT_ALL, ROOT)
    assert report["failed"] == {}
    assert report["imported"] > 40  # the walk really found the project's modules


def test_the_daemon_lock_works_without_fcntl(tmp_path: Path) -> None:
    report = _run(LOCK, tmp_path)
    assert report["before"] is False
    assert report["held"] is True
    assert "another Media Buddy daemon (pid " in report["second"] and str(tmp_path) in report["second"]
    assert report["after"] is False
    assert report["fcntl_loaded"] is False


def test_no_posix_only_module_is_imported_at_the_top_of_a_project_file() -> None:
    # The subprocess test sees only what Python can import here; this sees the source, so a
    # top-level `import fcntl` behind a Linux-only branch cannot hide either.
    offenders = []
    for path in [ROOT / "config.py", ROOT / "cli.py", *(ROOT / "daemon").rglob("*.py"), *(ROOT / "server").rglob("*.py")]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            words = line.split()
            if len(words) >= 2 and words[0] in ("import", "from") and words[1].split(".")[0] in POSIX_ONLY:
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
