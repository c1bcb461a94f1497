"""The ``mediabuddy`` command: up, serve, worker, watch, status, jobs, dlq, db, render, doctor."""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from config import Settings, SettingsError, load_settings

console = Console(stderr=True)
out = Console()


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj["settings"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def main(ctx: click.Context) -> None:
    """Media Buddy: drop markdown into inbox/, get a narrated video in outbox/."""
    try:
        settings = load_settings()
    except SettingsError as error:
        console.print(f"[red]{error}[/red]")
        sys.exit(2)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if settings.log_format == "json"
                         else logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    logging.basicConfig(level=settings.log_level, handlers=[handler])
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth" is noise under load
    logging.getLogger("persistqueue").setLevel(logging.WARNING)  # notes about optional extras on every start
    logging.getLogger("huey").setLevel(max(logging.INFO, logging.getLevelName(settings.log_level)))
    # Alembic says "Context impl SQLiteImpl", "setup plugin ..." at INFO on every command that
    # opens the database; server.upgrade_database logs one line of its own when the schema changes.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLevelName(settings.log_level)))
    ctx.obj = {"settings": settings}


class JsonLines(logging.Formatter):
    """One JSON object per log line; file-level records carry ``file`` (sha256 prefix) and ``path``."""

    FIELDS = ("file", "path", "job")

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
                 "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        entry.update({name: getattr(record, name) for name in self.FIELDS if hasattr(record, name)})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


# Running ------------------------------------------------------------------------------------

@main.command()
@click.pass_context
def up(ctx: click.Context) -> None:
    """Migrate, then run the server, the worker and the inbox daemon until Ctrl-C."""
    settings = _settings(ctx)
    _prepare_server(settings)
    children = {name: None for name in ("serve", "worker", "watch")}
    stopping = threading.Event()

    def spawn(name: str) -> subprocess.Popen:
        extra = ["--no-migrate"] if name == "serve" else []
        return subprocess.Popen([sys.executable, "-m", "cli", name, *extra], cwd=Path.cwd())

    def on_signal(signum, _frame):  # noqa: ANN001 - signal handler signature
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    for name in children:
        children[name] = spawn(name)
    console.print(f"[bold green]Media Buddy is running.[/bold green] Drop markdown files into "
                  f"[bold]{settings.inbox_dir}[/bold]; videos appear in [bold]{settings.outbox_dir}[/bold].\n"
                  f"API on {settings.effective_server_url}/api/v1 · `mediabuddy status` in another terminal · "
                  f"Ctrl-C stops everything.")
    restarts: list[float] = []
    exit_code = 0
    while not stopping.wait(0.5):
        for name, process in children.items():
            if process.poll() is None:
                continue
            restarts = [t for t in restarts if time.monotonic() - t < 60] + [time.monotonic()]
            if len(restarts) > 5:
                console.print(f"[red]{name} keeps exiting (code {process.returncode}); stopping Media Buddy.[/red]")
                stopping.set()
                exit_code = 1
                break
            console.print(f"[yellow]{name} exited with code {process.returncode}; restarting it.[/yellow]")
            children[name] = spawn(name)
    for process in children.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for name, process in children.items():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            console.print(f"[yellow]{name} did not stop in time; killing it.[/yellow]")
            process.kill()
    console.print("Media Buddy stopped.")
    sys.exit(exit_code)


def _refuse_bad_provider_lists(settings: Settings) -> None:
    """A provider list naming no installed provider stops the start, like any bad setting."""
    from server.providers.registry import check_settings

    problems = check_settings(settings)
    if problems:
        raise click.ClickException("invalid settings:\n  " + "\n  ".join(problems))


def _prepare_server(settings: Settings) -> None:
    from server import create_app, upgrade_database
    from server.auth import ensure_token

    _refuse_bad_provider_lists(settings)
    settings.ensure_dirs()
    upgrade_database(create_app(settings))
    ensure_token(settings)


@main.command()
@click.option("--no-migrate", is_flag=True, help="Do not apply database migrations first.")
@click.pass_context
def serve(ctx: click.Context, no_migrate: bool) -> None:
    """Run the HTTP API (waitress) on MEDIABUDDY_HOST:MEDIABUDDY_PORT."""
    import gc

    import waitress

    from server import create_app, upgrade_database
    from server.auth import ensure_token

    settings = _settings(ctx)
    _refuse_bad_provider_lists(settings)
    app = create_app(settings)
    if not no_migrate:
        upgrade_database(app)
    ensure_token(settings)
    _check_credentials_in_background(settings)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    logging.getLogger("mediabuddy").info("API listening on %s", settings.effective_server_url)
    # Everything loaded so far (Flask, SQLAlchemy, the models: ~130,000 objects) lives as long
    # as the server: moved out of the collector's sight, a full collection no longer walks it
    # (65 ms when it did). Measured with bench/api_load.py: the status read's server CPU
    # went from 136-150 to 128-133 us per request.
    gc.freeze()
    try:
        waitress.serve(app, host=settings.host, port=settings.port, threads=settings.server_threads, ident="mediabuddy",
                       max_request_body_size=settings.max_document_bytes + 65536)
    except KeyboardInterrupt:
        pass


def _check_credentials_in_background(settings) -> None:  # noqa: ANN001 - Settings
    """Warn (in the log) about configured vendor credentials that do not work, without delaying start."""
    from server.doctor import warn_about_credentials

    threading.Thread(target=warn_about_credentials, args=(settings,), name="credential-check", daemon=True).start()


@main.command()
@click.pass_context
def worker(ctx: click.Context) -> None:
    """Run the pipeline worker (Huey consumer)."""
    from server.worker import run_consumer

    _refuse_bad_provider_lists(_settings(ctx))
    _require_migrated(_settings(ctx))
    run_consumer(_settings(ctx))


def _require_migrated(settings) -> None:  # noqa: ANN001 - Settings
    """Stop with what to do when the database is not at this code's newest migration: a worker
    does not migrate (several may start at once; `serve` and `up` do it), and without this it
    died on its first query with a traceback ("no such table: jobs")."""
    from server import create_app
    from server.schema import diagnose

    report = diagnose(create_app(settings))
    if report.current != (report.head,):
        raise click.ClickException(f"the database {report.url} is not ready for this worker: "
                                   f"{'; '.join(report.findings)}. To fix: {'; '.join(report.advice)}.")


@main.command()
@click.pass_context
def watch(ctx: click.Context) -> None:
    """Run the inbox daemon: watch inbox/ and deliver files to the server."""
    from daemon.service import DaemonError, InboxDaemon

    daemon = InboxDaemon(_settings(ctx))
    signal.signal(signal.SIGINT, lambda *_: daemon.stop())
    signal.signal(signal.SIGTERM, lambda *_: daemon.stop())
    try:
        daemon.run()
    except DaemonError as error:
        console.print(f"[red]{error}[/red]")
        sys.exit(1)


# Looking ------------------------------------------------------------------------------------

@main.command()
@click.argument("job_id", required=False, type=int)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--follow", is_flag=True, help="Keep refreshing until the job (or all jobs) finish.")
@click.pass_context
def status(ctx: click.Context, job_id: int | None, as_json: bool, follow: bool) -> None:
    """Show jobs with their stages, and the daemon's queue."""
    from daemon.admin import queue_status
    from server import create_app
    from server.api.serialize import job_json
    from server.extensions import db
    from server.models import Job

    settings = _settings(ctx)
    app = create_app(settings)
    while True:
        with app.app_context():
            try:
                if job_id is not None:
                    job = db.session.get(Job, job_id)
                    if job is None:
                        raise click.ClickException(f"there is no job {job_id}")
                    jobs = [job_json(job, detail=True)]
                else:
                    jobs = [job_json(j) for j in db.session.query(Job).order_by(Job.id.desc()).limit(50)]
            except click.ClickException:
                raise
            except Exception as error:  # noqa: BLE001 - most likely: no database yet
                raise click.ClickException(f"cannot read the job database ({type(error).__name__}); "
                                           "has `mediabuddy up` run in this folder?") from error
        report = {"jobs": jobs, "daemon": queue_status(settings)}
        if as_json:
            out.print_json(json.dumps(report))
        else:
            _print_status(report)
        unfinished = any(j["status"] in ("queued", "running") for j in jobs)
        if not follow or not unfinished:
            return
        time.sleep(1.0)


def _print_status(report: dict) -> None:
    table = Table(title="Jobs", show_lines=False)
    for column in ("id", "file", "status", "stage", "done", "video s", "$/paid calls", "notes"):
        table.add_column(column)
    for job in report["jobs"]:
        done = sum(1 for s in job["stages"] if s["state"] == "done")
        seconds = f"{job['duration_ms'] / 1000:.1f}" if job["duration_ms"] else ""
        cost = job.get("cost") or {}
        spent = f"${cost.get('total_usd', 0):.4f}/{cost.get('paid_calls', 0)}" if cost else ""
        notes = "degraded" if job["degraded"] else ""
        if job["error"]:
            notes = job["error"][:60]
        table.add_row(str(job["id"]), job["source_path"], job["status"], job["stage"] or "", f"{done}/7", seconds,
                      spent, notes)
    out.print(table)
    out.print(describe_daemon(report["daemon"]))


def describe_daemon(d: dict) -> str:
    """The daemon's state in one or two lines a person can read."""
    state = f"running ({d.get('watch') or 'starting'})" if d.get("running") else "not running"
    line = (f"Daemon: {state}. {d['queued']} queued, {d['in_flight']} in flight, {d['retrying']} retrying, "
            f"{d['dead_lettered']} dead-lettered")
    if d.get("waiting_for_stability"):
        line += f", {d['waiting_for_stability']} settling"
    if d.get("oldest_pending_age_s") is not None:
        line += f"; oldest pending {d['oldest_pending_age_s']:.0f} s"
    if d.get("pause_reason"):
        line += f"\n  [yellow]Delivery paused: {d['pause_reason']}[/yellow] (see the daemon log)"
    if d.get("still_changing"):
        line += f"\n  {d['still_changing']} file(s) have kept changing for a long time (see the daemon log)"
    if d["dead_lettered"]:
        line += "\n  See `mediabuddy dlq list` for the files that could not be delivered."
    return line


# Dead letters -------------------------------------------------------------------------------

@main.group()
def dlq() -> None:
    """Inspect and replay files the daemon could not deliver."""


DLQ_LIST_LIMIT = 50


@dlq.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output, with every attempt.")
@click.option("--all", "show_all", is_flag=True,
              help=f"Every entry with its full reason (default: the {DLQ_LIST_LIMIT} newest, reasons shortened).")
@click.pass_context
def dlq_list(ctx: click.Context, as_json: bool, show_all: bool) -> None:
    """List the files the daemon could not deliver, newest first."""
    from daemon.admin import dead_letters

    entries = sorted(dead_letters(_settings(ctx.parent)), key=lambda e: e["dead_at"], reverse=True)
    shown = entries if show_all else entries[:DLQ_LIST_LIMIT]
    if as_json:
        out.print_json(json.dumps(shown))
        return
    if not entries:
        out.print("The dead-letter queue is empty.")
        return
    table = Table(title=f"Dead letters ({len(entries)})")
    for column in ("id", "when", "file", "class", "tries", "reason"):
        table.add_column(column, overflow="fold")
    for entry in shown:
        reason = entry["reason"] if show_all else textwrap.shorten(entry["reason"], 140, placeholder="…")
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry["dead_at"]))
        table.add_row(str(entry["id"]), when, entry["delivery"]["relative_path"], entry["reason_class"],
                      str(entry["delivery"]["attempts"]), reason)
    out.print(table)
    if len(shown) < len(entries):
        out.print(f"{len(entries) - len(shown)} older entries not shown; use --all.")
    out.print("`mediabuddy dlq show ID` shows every attempt; `dlq retry ID|--all` sends again; `dlq purge` forgets.")


@dlq.command("show")
@click.argument("entry_id", type=int)
@click.pass_context
def dlq_show(ctx: click.Context, entry_id: int) -> None:
    from daemon.admin import dead_letter

    entry = dead_letter(_settings(ctx.parent), entry_id)
    if entry is None:
        raise click.ClickException(f"there is no dead letter {entry_id}")
    out.print_json(json.dumps(entry))


def _ids(ctx: click.Context, entry_id: int | None, every: bool) -> list[int]:
    from daemon.admin import dead_letters

    if every == (entry_id is not None):
        raise click.UsageError("give one dead-letter ID or --all")
    return [e["id"] for e in dead_letters(_settings(ctx.parent))] if every else [entry_id]


@dlq.command("retry")
@click.argument("entry_id", type=int, required=False)
@click.option("--all", "every", is_flag=True)
@click.pass_context
def dlq_retry(ctx: click.Context, entry_id: int | None, every: bool) -> None:
    from daemon.admin import replay

    count = replay(_settings(ctx.parent), _ids(ctx, entry_id, every))
    out.print(f"Replayed {count} dead letter(s); the daemon delivers them as it runs.")


@dlq.command("purge")
@click.argument("entry_id", type=int, required=False)
@click.option("--all", "every", is_flag=True)
@click.pass_context
def dlq_purge(ctx: click.Context, entry_id: int | None, every: bool) -> None:
    from daemon.admin import purge

    count = purge(_settings(ctx.parent), _ids(ctx, entry_id, every))
    out.print(f"Purged {count} dead letter(s). The files in the inbox are untouched.")


# Jobs ---------------------------------------------------------------------------------------

@main.group()
def jobs() -> None:
    """List, inspect, retry and cancel pipeline jobs."""


@contextlib.contextmanager
def _command_app(ctx: click.Context):  # noqa: ANN202 - yields a Flask app
    """An app for one command; its database connections are closed when the command ends."""
    from server import create_app
    from server.extensions import db

    app = create_app(_settings(ctx.parent))
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@jobs.command("list")
@click.option("--status", "status_filter", type=click.Choice(["queued", "running", "succeeded", "failed",
                                                                "canceled", "skipped"]))
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def jobs_list(ctx: click.Context, status_filter: str | None, limit: int, as_json: bool) -> None:
    """The newest jobs, with their status, stage, attempts and lease."""
    from server.extensions import db
    from server.models import Job, JobStatus

    with _command_app(ctx) as app, app.app_context():
        query = db.session.query(Job).order_by(Job.id.desc())
        if status_filter:
            query = query.filter(Job.status == JobStatus(status_filter))
        rows = [_job_summary(job) for job in query.limit(limit)]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table(title=f"Jobs ({len(rows)})")
    for column in ("id", "file", "status", "stage", "attempts", "lease", "error / notes"):
        table.add_column(column, overflow="fold")
    for row in rows:
        lease = f"{row['lease_owner']} until {row['lease_expires_at'][11:19]}" if row["lease_owner"] else ""
        table.add_row(str(row["id"]), row["source_path"], row["status"], row["stage"] or "", str(row["attempts"]),
                      lease, textwrap.shorten(row["error"] or "; ".join(row["notes"]), 80, placeholder="…"))
    out.print(table)


def _job_summary(job) -> dict[str, object]:  # noqa: ANN001 - a Job
    def when(value):  # noqa: ANN001, ANN202
        return value.isoformat() if value else None

    return {"id": job.id, "source_path": job.document.source_path, "slug": job.slug, "status": job.status.value,
            "stage": job.stage, "completed_stages": job.completed_stages, "attempts": job.attempts,
            "error": job.error, "notes": job.notes, "lease_owner": job.lease_owner,
            "lease_expires_at": when(job.lease_expires_at), "heartbeat_at": when(job.heartbeat_at),
            "next_attempt_at": when(job.next_attempt_at), "cancel_requested": job.cancel_requested,
            "created_at": when(job.created_at), "finished_at": when(job.finished_at),
            "stage_seconds": job.stage_seconds}


@jobs.command("show")
@click.argument("job_id", type=int)
@click.pass_context
def jobs_show(ctx: click.Context, job_id: int) -> None:
    """Everything about one job, as JSON."""
    from server.jobs import JobNotFound, get_job

    with _command_app(ctx) as app, app.app_context():
        try:
            out.print_json(json.dumps(_job_summary(get_job(job_id))))
        except JobNotFound as error:
            raise click.ClickException(str(error)) from None


@jobs.command("retry")
@click.argument("job_id", type=int)
@click.pass_context
def jobs_retry(ctx: click.Context, job_id: int) -> None:
    """Queue a failed or canceled job again; it resumes at the stage that stopped it."""
    from server.jobs import JobNotFound, JobStateConflict, retry_job

    with _command_app(ctx) as app, app.app_context():
        try:
            job = retry_job(job_id)
        except (JobNotFound, JobStateConflict) as error:
            raise click.ClickException(str(error)) from None
        done = len(job.completed_stages)
        out.print(f"Job {job_id} queued again; it resumes after {done} finished stage(s). "
                  f"A worker (`mediabuddy worker` or `up`) runs it.")


@jobs.command("cancel")
@click.argument("job_id", type=int)
@click.pass_context
def jobs_cancel(ctx: click.Context, job_id: int) -> None:
    """Cancel a queued job, or stop a running one at its next stage boundary."""
    from server.jobs import JobNotFound, JobStateConflict, cancel_job

    with _command_app(ctx) as app, app.app_context():
        try:
            job = cancel_job(job_id)
        except (JobNotFound, JobStateConflict) as error:
            raise click.ClickException(str(error)) from None
        if job.status.value == "canceled":
            out.print(f"Job {job_id} is canceled. `mediabuddy jobs retry {job_id}` resumes it.")
        else:
            out.print(f"Job {job_id} is running ({job.stage}); it stops when that stage ends.")


# Database -----------------------------------------------------------------------------------

@main.group("db")
def db_group() -> None:
    """Check and migrate the database schema (Alembic, through Flask-Migrate)."""


@db_group.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def db_doctor(ctx: click.Context, as_json: bool) -> None:
    """Compare the database with the migrations and the models; say how to repair it."""
    from dataclasses import asdict

    from server.schema import diagnose

    with _command_app(ctx) as app:
        report = diagnose(app)
    if as_json:
        out.print_json(json.dumps({**asdict(report), "healthy": report.healthy}))
    else:
        out.print(f"Database: {report.url}")
        out.print(f"Revision: {', '.join(report.current) or 'none recorded'} (head: {report.head})")
        out.print(f"Tables: {', '.join(report.tables) or 'none'}")
        for line in report.drift:
            out.print(f"  drift: {line}")
        if report.healthy:
            out.print("[green]The schema is at head and matches the models.[/green]")
        for finding in report.findings:
            out.print(f"[yellow]Found:[/yellow] {finding}")
        for advice in report.advice:
            out.print(f"[bold]Do:[/bold] {advice}")
    if not report.healthy:
        sys.exit(1)


def _migrate(ctx: click.Context, action: str, revision: str) -> None:
    import flask_migrate

    from server import MIGRATIONS_DIR

    with _command_app(ctx) as app, app.app_context():
        getattr(flask_migrate, action)(directory=str(MIGRATIONS_DIR), revision=revision)
    out.print(f"{action} to {revision}: done. `mediabuddy db doctor` shows the state.")


@db_group.command("upgrade")
@click.argument("revision", default="head")
@click.pass_context
def db_upgrade(ctx: click.Context, revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    _migrate(ctx, "upgrade", revision)


@db_group.command("downgrade")
@click.argument("revision")
@click.pass_context
def db_downgrade(ctx: click.Context, revision: str) -> None:
    """Undo migrations down to REVISION (`base` empties the database)."""
    _migrate(ctx, "downgrade", revision)


@db_group.command("stamp")
@click.argument("revision")
@click.pass_context
def db_stamp(ctx: click.Context, revision: str) -> None:
    """Record REVISION as the database's state without running anything (after `db doctor`)."""
    _migrate(ctx, "stamp", revision)


# One-shot and checks ------------------------------------------------------------------------

@main.command()
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Where to write the MP4.")
@click.option("--draft", is_flag=True, help="Half resolution and the fastest encoder preset: a quick preview.")
@click.pass_context
def render(ctx: click.Context, source: Path, output: Path | None, draft: bool) -> None:
    """Render one markdown file to a video now: no daemon, no server."""
    from server.render import RenderError, render_file

    settings = _settings(ctx)
    if draft:
        settings = settings.model_copy(update={"render_draft": True})
    try:
        result = render_file(settings, source, output or Path.cwd() / f"{source.stem}.mp4")
    except RenderError as error:  # the reason, as the job would record it; no traceback
        console.print(f"[red]{escape(str(error))}[/red]", soft_wrap=True)
        sys.exit(1)
    out.print(f"Wrote [bold]{result}[/bold] (+ .srt, .json, .jpg beside it)")


@main.command()
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Base name for the outputs: BASE.json and BASE.png (default: FILE.storyboard in this folder).")
@click.pass_context
def storyboard(ctx: click.Context, source: Path, output: Path | None) -> None:
    """Plan one markdown file up to its pictures, without rendering: timeline JSON + contact sheet."""
    from server.storyboard import storyboard_file

    base = output.with_suffix("") if output and output.suffix in (".json", ".png") else output
    json_path, sheet_path = storyboard_file(_settings(ctx), source, base or Path.cwd() / f"{source.stem}.storyboard")
    out.print(f"Wrote [bold]{json_path}[/bold] and [bold]{sheet_path}[/bold]")


@main.command()
@click.pass_context
def doctor(ctx: click.Context) -> None:
    """Check that everything Media Buddy needs is installed and reachable."""
    from server.doctor import run_checks

    checks = run_checks(_settings(ctx))
    table = Table(title="Media Buddy doctor")
    for column in ("check", "result", "detail"):
        table.add_column(column)
    for check in checks:
        mark = {"ok": "[green]ok[/green]", "info": "[blue]info[/blue]", "warn": "[yellow]warn[/yellow]",
                "fail": "[red]FAIL[/red]"}[check.state]
        table.add_row(check.name, mark, check.detail)
    out.print(table)
    if any(c.state == "fail" for c in checks):
        sys.exit(1)


if __name__ == "__main__":
    main()
