"""Is the database's schema what this code expects? ``mediabuddy db doctor`` asks this module.

It compares three things: the revision recorded in ``alembic_version``, the newest
revision in ``migrations/versions`` (head), and the tables and columns the models declare
(Alembic's autogenerate comparison). Each finding comes with the command that repairs it
without editing tables by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask

from server import MIGRATIONS_DIR
from server.extensions import db

UPGRADE = "mediabuddy db upgrade"


@dataclass(frozen=True)
class SchemaReport:
    url: str                    # the database, password hidden
    current: tuple[str, ...]    # revisions recorded in alembic_version (empty: none)
    head: str                   # the newest migration this code has
    tables: tuple[str, ...]     # tables in the database
    drift: tuple[str, ...]      # differences between the models and the database
    findings: list[str] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.findings


def script_directory(app: Flask) -> ScriptDirectory:
    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config(str(MIGRATIONS_DIR))
        return ScriptDirectory.from_config(config)


def model_drift(connection: sa.Connection) -> list[str]:
    """What autogenerate would write if run now: empty when the models match the database."""
    context = MigrationContext.configure(connection, opts={"compare_type": True, "render_as_batch": True})
    return [_describe(diff) for diff in compare_metadata(context, db.metadata)]


def _describe(diff: object) -> str:
    if isinstance(diff, list):  # column modifications come as a list of tuples
        return "; ".join(_describe(d) for d in diff)
    action, *rest = diff  # e.g. ("add_column", schema, table, Column)
    names = [getattr(r, "name", None) or str(r) for r in rest if r is not None]
    return f"{action} {' '.join(names)}"


def diagnose(app: Flask) -> SchemaReport:
    scripts = script_directory(app)
    head = scripts.get_current_head() or ""
    with app.app_context(), db.engine.connect() as connection:
        tables = tuple(sorted(t for t in sa.inspect(connection).get_table_names() if t != "alembic_version"))
        has_version_table = sa.inspect(connection).has_table("alembic_version")
        current = tuple(MigrationContext.configure(connection).get_current_heads())
        drift = tuple(model_drift(connection)) if tables else ()
        url = db.engine.url.render_as_string(hide_password=True)
    report = SchemaReport(url, current, head, tables, drift)
    known = {rev.revision for rev in scripts.walk_revisions()}
    if not tables and not current:
        report.findings.append("the database is empty (no tables, no recorded revision)")
        report.advice.append(f"create the schema: `{UPGRADE}` (`mediabuddy up` and `serve` do it too)")
    elif not current:
        what = "has no alembic_version table" if not has_version_table else "has an empty alembic_version table"
        report.findings.append(f"the database has tables ({', '.join(tables)}) but {what}: it was made "
                               "without migrations, or the version row was removed")
        if not drift:
            report.advice.append(f"the tables match the models exactly, so it is at head: record that with "
                                 f"`mediabuddy db stamp {head}`")
        else:
            report.advice.append("the tables differ from the models (see drift); back the database up, find the "
                                 "revision whose schema it has (`git log migrations/versions`), record it with "
                                 f"`mediabuddy db stamp REVISION`, then `{UPGRADE}`")
    elif any(rev not in known for rev in current):
        report.findings.append(f"the database is at revision {', '.join(current)}, which this code does not have "
                               "(newer code migrated it, or a migration file was deleted)")
        report.advice.append("run the newer code, or downgrade with the code that has that revision "
                             "(`mediabuddy db downgrade REVISION`); do not edit alembic_version by hand")
    elif current != (head,):
        pending = [rev.revision for rev in scripts.iterate_revisions(head, current[0])]
        report.findings.append(f"the database is at {', '.join(current)}; {len(pending)} migration(s) to head "
                               f"{head} are pending")
        report.advice.append(f"apply them: `{UPGRADE}`")
    elif drift:
        report.findings.append("the database is at head, but its tables differ from the models")
        report.advice.append("if you changed models: `flask --app server:create_app db migrate -m 'what changed'`, "
                             f"review the new file in migrations/versions, then `{UPGRADE}`; if the database was "
                             "edited by hand: back it up and recreate it from migrations")
    return report
