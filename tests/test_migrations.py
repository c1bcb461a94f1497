"""Migrations on both databases: the round trip, models = migrations, and `mediabuddy db doctor`."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from cli import main
from server import MIGRATIONS_DIR
from server.extensions import db
from server.schema import model_drift, script_directory

pytestmark = pytest.mark.utils
TABLES = ["assets", "documents", "jobs", "scenes"]


def _tables(app) -> list[str]:  # noqa: ANN001
    with app.app_context():
        return sorted(t for t in sa.inspect(db.engine).get_table_names() if t != "alembic_version")


def test_upgrade_from_empty_downgrade_to_base_and_up_again(app) -> None:
    from flask_migrate import downgrade, upgrade

    assert set(TABLES) <= set(_tables(app))
    with app.app_context():
        downgrade(directory=str(MIGRATIONS_DIR), revision="base")
    assert _tables(app) == []
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
    assert set(TABLES) <= set(_tables(app))


def test_the_models_and_the_migrations_agree(app) -> None:
    """Fails when a model changes without a migration (or a migration without the model)."""
    with app.app_context(), db.engine.connect() as connection:
        assert model_drift(connection) == []
        connection.execute(sa.text("ALTER TABLE jobs ADD COLUMN made_by_hand INTEGER"))
        connection.commit()
        assert model_drift(connection) == ["remove_column jobs made_by_hand"]  # the check can fail


def _doctor(runner: CliRunner, env: dict[str, str]) -> tuple[int, dict]:
    result = runner.invoke(main, ["db", "doctor", "--json"], env=env)
    return result.exit_code, json.loads(result.output)


def _cli(runner: CliRunner, env: dict[str, str], *args: str) -> str:
    result = runner.invoke(main, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_db_doctor_finds_each_problem_and_names_the_repair(settings, database_url, tmp_path) -> None:
    from server import create_app

    runner = CliRunner()
    env = {"MEDIABUDDY_HOME": str(tmp_path), "DATABASE_URL": database_url}
    scratch = create_app(settings)
    head = script_directory(scratch).get_current_head()
    with scratch.app_context():
        db.engine.dispose()

    code, report = _doctor(runner, env)
    assert code == 1 and "empty" in report["findings"][0] and "db upgrade" in report["advice"][0]

    _cli(runner, env, "db", "upgrade")
    code, report = _doctor(runner, env)
    assert (code, report["healthy"], report["current"], report["drift"]) == (0, True, [head], [])

    _cli(runner, env, "db", "downgrade", "0002")
    code, report = _doctor(runner, env)
    assert code == 1 and "pending" in report["findings"][0]
    _cli(runner, env, "db", "upgrade")

    engine = sa.create_engine(database_url)
    with engine.begin() as connection:  # the seed's war story: someone dropped the version table
        connection.execute(sa.text("DROP TABLE alembic_version"))
    code, report = _doctor(runner, env)
    assert code == 1 and "no alembic_version" in report["findings"][0]
    assert f"mediabuddy db stamp {head}" in report["advice"][0]  # safe: the tables match the models
    _cli(runner, env, "db", "stamp", head)
    assert _doctor(runner, env)[0] == 0

    with engine.begin() as connection:
        connection.execute(sa.text("ALTER TABLE jobs ADD COLUMN made_by_hand INTEGER"))
    code, report = _doctor(runner, env)
    assert code == 1 and "differ from the models" in report["findings"][0]
    assert report["drift"] == ["remove_column jobs made_by_hand"] and "db migrate" in report["advice"][0]
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = 'ffff'"))
    code, report = _doctor(runner, env)
    assert code == 1 and "ffff" in report["findings"][0] and "do not edit alembic_version" in report["advice"][0]
    engine.dispose()
