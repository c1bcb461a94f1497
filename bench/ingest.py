"""Ingest benchmark: a burst of N files into the inbox of a real daemon and a real server.

    python bench/ingest.py --files 10000 100000

For each N, a fresh home folder gets the real API (``mediabuddy serve``) and the real
daemon (``mediabuddy watch``) as separate processes on loopback. The burst is written as
fast as one Python thread can, while a plain watchdog observer in its own process counts
the same burst, as the baseline a naive drop-folder consumer would see.

``--freeze`` stops (SIGSTOP) the daemon and the plain observer while the burst is written
and resumes them after: a reader that falls behind, as on a busy machine or at tens of
thousands of files per second. The kernel keeps at most fs.inotify.max_queued_events
events and drops the rest; the plain observer never learns which files it missed.

Printed per N: files delivered, duplicates, losses, seconds until the last delivery,
files/s, p50/p95 latency from "file complete" to "server has it" minus the stability
delay, daemon peak RSS, inotify overflows the daemon recovered from, the daemon's CPU
while idle afterwards, and how many files the plain observer saw.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token-0123456789abcdef"
STABILITY_SECONDS = 1.0
TICKS = os.sysconf("SC_CLK_TCK")


class Counter(FileSystemEventHandler):
    """The baseline: what a plain watchdog observer reports for the burst."""

    def __init__(self) -> None:
        self.paths: set[str] = set()

    def on_any_event(self, event: FileSystemEvent) -> None:
        if not event.is_directory and event.event_type in ("created", "modified", "closed"):
            self.paths.add(os.fsdecode(event.src_path))


def count_events(folder: str) -> None:
    """Run a plain watchdog observer on ``folder``; print how many files it saw when terminated."""
    counter = Counter()
    observer = Observer()
    observer.schedule(counter, folder, recursive=True)
    observer.start()
    stopped = []
    signal.signal(signal.SIGTERM, lambda *_: stopped.append(True))
    print("ready", flush=True)
    while not stopped:
        time.sleep(0.1)
    observer.stop()
    observer.join(5)
    print(len(counter.paths), flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def proc_status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])  # kB
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the server did not listen on {port} within {timeout} s")


def delivered(db_path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30) as connection:
        return connection.execute("SELECT source_path, created_at FROM documents").fetchall()


def count_rows(db_path: Path, table: str) -> int:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30) as connection:
        return connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608 - fixed names


def body(i: int) -> bytes:
    return (f"# Burst note {i}\n\nThis is note number {i} of the burst, written quickly so that the "
            f"daemon has to keep up with a folder that fills faster than it can read.\n").encode()


def run(n: int, workdir: Path, timeout: float, freeze: bool) -> dict[str, float | int | str]:
    home = Path(tempfile.mkdtemp(prefix=f"ingest-{n}-", dir=workdir))
    inbox = home / "inbox"
    inbox.mkdir()
    port = free_port()
    env = {**os.environ, "MEDIABUDDY_HOME": str(home), "MEDIABUDDY_PORT": str(port),
           "MEDIABUDDY_API_TOKEN": TOKEN, "MEDIABUDDY_STABILITY_SECONDS": str(STABILITY_SECONDS),
           "MEDIABUDDY_LOG_LEVEL": "WARNING"}
    env.pop("DATABASE_URL", None)
    env.pop("MEDIABUDDY_REDIS_URL", None)
    logs = home / "logs"
    logs.mkdir()
    server = subprocess.Popen([sys.executable, "-m", "cli", "serve"], cwd=ROOT, env=env,
                              stderr=(logs / "server.log").open("wb"))
    daemon = baseline = None
    try:
        wait_port(port)
        daemon = subprocess.Popen([sys.executable, "-m", "cli", "watch"], cwd=ROOT, env=env,
                                  stderr=(logs / "daemon.log").open("wb"))
        lock = home / "var" / "daemon" / "daemon.lock"
        deadline = time.monotonic() + 30
        while not (lock.exists() and lock.read_text().strip() == str(daemon.pid)):
            if time.monotonic() > deadline or daemon.poll() is not None:
                raise SystemExit(f"the daemon did not start; see {logs / 'daemon.log'}")
            time.sleep(0.05)
        time.sleep(0.5)  # its observer is scheduled right after the lock is taken
        baseline = subprocess.Popen([sys.executable, __file__, "--count", str(inbox)], stdout=subprocess.PIPE,
                                    text=True)
        assert baseline.stdout.readline().strip() == "ready"
        if freeze:
            for process in (daemon, baseline):
                process.send_signal(signal.SIGSTOP)

        completed: dict[str, float] = {}
        started = time.time()
        for i in range(n):
            name = f"note-{i:06d}.md"
            with open(inbox / name, "wb") as handle:
                handle.write(body(i))
            completed[name] = time.time()
        written_in = time.time() - started
        if freeze:
            for process in (daemon, baseline):
                process.send_signal(signal.SIGCONT)

        db_path = home / "var" / "mediabuddy.db"
        last_count, last_change = -1, time.monotonic()
        while True:
            count = count_rows(db_path, "documents")
            if count != last_count:
                last_count, last_change = count, time.monotonic()
            if count >= n or time.monotonic() - last_change > timeout:
                break
            time.sleep(0.5)
        rows = delivered(db_path)
        jobs = count_rows(db_path, "jobs")
        peak_rss_mb = proc_status(daemon.pid, "VmHWM") / 1024
        busy = {"daemon_cpu_s": round(cpu_seconds(daemon.pid), 1), "server_cpu_s": round(cpu_seconds(server.pid), 1)}
        cpu_before, idle_from = cpu_seconds(daemon.pid), time.monotonic()
        time.sleep(10)
        idle_cpu = (cpu_seconds(daemon.pid) - cpu_before) / (time.monotonic() - idle_from) * 100
        baseline.send_signal(signal.SIGTERM)  # it had all the time the daemon took to drain its events
        baseline_saw = int(baseline.communicate(timeout=60)[0].strip().splitlines()[-1])

        seen_at: dict[str, float] = {}
        for path, created in rows:
            moment = datetime.fromisoformat(created)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            seen_at.setdefault(path, moment.timestamp())
        paths = [path for path, _ in rows]
        latencies = sorted(max(0.0, seen_at[name] - completed[name] - STABILITY_SECONDS)
                           for name in completed if name in seen_at)
        last = max(seen_at.values(), default=started)
        status_file = home / "var" / "daemon" / "status.json"
        daemon_status = json.loads(status_file.read_text()) if status_file.exists() else {}
        return {
            "files": n, "written_s": round(written_in, 2),
            "delivered": len(set(paths) & set(completed)),
            "duplicates": (len(paths) - len(set(paths))) + (jobs - len(rows)),
            "lost": len(set(completed) - set(paths)),
            "seconds_to_last": round(last - started, 1),
            "files_per_s": round(len(set(paths)) / max(1e-9, last - started), 1),
            "p50_latency_s": round(statistics.median(latencies), 2) if latencies else "n/a",
            "p95_latency_s": round(latencies[int(0.95 * (len(latencies) - 1))], 2) if latencies else "n/a",
            "daemon_peak_rss_mb": round(peak_rss_mb, 1),
            "daemon_idle_cpu_pct": round(idle_cpu, 2),
            "daemon_overflows": daemon_status.get("overflows", "n/a"),
            "daemon_deep_scans": daemon_status.get("deep_scans", "n/a"),
            "dead_lettered": daemon_status.get("dead_lettered", "n/a"),
            **busy,
            "plain_watchdog_saw": baseline_saw,
        }
    finally:
        for process in (baseline, daemon, server):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
        if os.environ.get("BENCH_KEEP") != "1":
            shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, nargs="+", default=[10_000], help="burst sizes (default 10000)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()),
                        help="where the temporary homes go (default: the temp folder)")
    parser.add_argument("--stall-timeout", type=float, default=120.0,
                        help="give up when no new document arrived for this many seconds")
    parser.add_argument("--freeze", action="store_true",
                        help="SIGSTOP the daemon and the plain observer while the burst is written")
    parser.add_argument("--count", metavar="FOLDER", help=argparse.SUPPRESS)  # the baseline's own process
    args = parser.parse_args()
    if args.count:
        count_events(args.count)
        return
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}, "
          f"stability delay {STABILITY_SECONDS} s (subtracted from latencies)"
          + (", readers frozen during the burst" if args.freeze else ""))
    results = [run(n, args.workdir, args.stall_timeout, args.freeze) for n in args.files]
    keys = list(results[0])
    width = max(map(len, keys))
    print(f"{'':{width}}  " + "  ".join(f"{'N=' + str(r['files']):>12}" for r in results))
    for key in keys[1:]:
        print(f"{key:{width}}  " + "  ".join(f"{str(r[key]):>12}" for r in results))


if __name__ == "__main__":
    main()
