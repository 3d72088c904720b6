"""Run Alembic programmatically, so `gridlink db upgrade`, `make setup` and the tests share one path."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from grids.cluster import PROJECT_ROOT
from grids.errors import ConfigError


def alembic_config(url: str) -> Config:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def schema_state(engine: Engine) -> str:
    """"schema 0012 (the latest)", or a ConfigError naming the fix when the database has none or an older one
    (every command would fail on a missing table)."""
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    scripts = ScriptDirectory.from_config(alembic_config(engine.url.render_as_string(hide_password=False)))
    head = scripts.get_current_head()
    if current is None:
        raise ConfigError("the database has no gridlink schema yet: run `gridlink db upgrade`")
    if current not in {revision.revision for revision in scripts.walk_revisions()}:
        raise ConfigError(f"the database's schema {current} is newer than this gridlink knows ({head}): "
                          "install the gridlink that wrote it")
    if current != head:
        raise ConfigError(f"the database's schema is at {current}, this gridlink needs {head}: "
                          "run `gridlink db upgrade`")
    return f"schema {current} (the latest)"
