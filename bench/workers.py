"""Worker scale-out benchmark: the same batch of jobs on 1 worker, then on 3, on PostgreSQL + Redis.

    python bench/workers.py --jobs 12 --workers 1 3 \\
        --postgres postgresql://postgres@127.0.0.1:5432/test_server_scale --redis redis://127.0.0.1:6379/12

For each worker count: the database is emptied and migrated, the Redis db flushed, N short
articles are accepted and queued, then K real `mediabuddy worker` processes are started and
the clock runs until every job has succeeded. Printed: seconds, jobs/minute, how the
jobs were shared between the workers (from the lease owners in their logs), and the CPU
seconds (user+sys) the workers and their ffmpeg children used, measured with
``getrusage(RUSAGE_CHILDREN)`` around the batch: on a 2-core machine the batch cannot
finish faster than its CPU seconds / 2, so that floor is printed beside the time. "busy"
is the sum of the jobs' stage seconds: what the workers spent inside stages (the rest of
workers x seconds is start-up, queue waits and claiming). Videos are
small (short side 240, 10 fps) so the batch measures the pipeline's scheduling, not the
encoder. The machine's load average is printed too: on a shared machine, compare runs
made at the same time only.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CLAIMED = re.compile(r"job (\d+) claimed by ([^:]+):")


def _article(n: int) -> bytes:
    return (f"# Bench note {n}\n\nBenchmark article number {n}. Two sentences, so the batch measures "
            f"how workers share jobs.\n").encode()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_batch(jobs: int, workers: int, postgres: str, redis_url: str) -> tuple[float, Counter, float, float]:
    import redis
    import sqlalchemy as sa

    from config import load_settings
    from server import create_app, upgrade_database
    from server.extensions import db
    from server.intake import accept
    from server.models import Job, JobStatus
    from server.worker import enqueue_job

    engine = sa.create_engine(postgres)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP SCHEMA public CASCADE"))
        connection.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()
    redis.Redis.from_url(redis_url).flushdb()
    home = Path(tempfile.mkdtemp(prefix=f"mediabuddy-bench-{workers}w-"))
    settings = load_settings(home=home, database_url=postgres, redis_url=redis_url, short_side=240, fps=10)
    app = create_app(settings)
    upgrade_database(app)
    with app.app_context():
        ids = [accept(_article(n), f"bench/n{n}.md", None, settings).job_id for n in range(jobs)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDIABUDDY_", "DATABASE_URL"))}
    env.update(MEDIABUDDY_HOME=str(home), DATABASE_URL=postgres, MEDIABUDDY_REDIS_URL=redis_url,
               MEDIABUDDY_SHORT_SIDE="240", MEDIABUDDY_FPS="10", PYTHONPATH=str(ROOT))
    processes, logs = [], []
    cpu_before = _children_cpu()
    started = time.monotonic()
    for n in range(workers):
        log = home / f"worker{n}.log"
        with log.open("w") as sink:
            processes.append(subprocess.Popen([sys.executable, "-m", "cli", "worker"], cwd=home,
                                              env={**env, "MEDIABUDDY_WORKER_NAME": f"w{n}"}, stdout=sink,
                                              stderr=subprocess.STDOUT))
        logs.append(log)
    for job_id in ids:
        enqueue_job(settings, job_id)
    try:
        while True:
            with app.app_context():
                done = db.session.query(Job).filter(Job.status == JobStatus.SUCCEEDED).count()
                db.session.remove()
            if done == jobs:
                break
            time.sleep(0.2)
        elapsed = time.monotonic() - started
        with app.app_context():
            busy = sum(sum(job.stage_seconds.values()) for job in db.session.query(Job))
            db.session.remove()
    finally:
        for process in processes:
            process.send_signal(signal.SIGINT)
        for process in processes:
            process.wait(timeout=60)  # reaped: their CPU time (and their children's) is counted now
        with app.app_context():
            db.engine.dispose()
    cpu = _children_cpu() - cpu_before
    shares = Counter(m[2] for log in logs for m in CLAIMED.finditer(log.read_text(errors="replace")))
    return elapsed, shares, cpu, busy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=12)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test_server_scale")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/12")
    args = parser.parse_args()
    print(f"{args.jobs} jobs, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    for workers in args.workers:
        elapsed, shares, cpu, busy = run_batch(args.jobs, workers, args.postgres, args.redis)
        cores = os.cpu_count() or 1
        print(f"{workers} worker(s): {elapsed:6.1f} s, {args.jobs / elapsed * 60:5.1f} jobs/min, "
              f"CPU {cpu:6.1f} s (floor {cpu / cores:5.1f} s on {cores} cores, {cpu / elapsed:4.2f} cores busy), "
              f"in stages {busy:6.1f} s of {workers * elapsed:6.1f} worker-s, "
              f"shares {dict(sorted(shares.items()))}, load {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
