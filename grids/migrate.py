"""Run Alembic programmatically, so `gridlink db upgrade`, `make setup` and the tests share one path."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine, create_engine

from grids.cluster import PROJECT_ROOT
from grids.errors import ConfigError


def alembic_config(url: str) -> Config:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> str:
    """Upgrade to `revision` and return the schema's revision then. One the migrations lack is a ConfigError
    naming the revisions there are (Alembic's own error is a traceback); one below the schema, too (Alembic did
    nothing, and the command said "schema at" the older one)."""
    cfg = alembic_config(url)
    try:
        command.upgrade(cfg, revision)
    except CommandError as exc:
        known = sorted(r.revision for r in ScriptDirectory.from_config(cfg).walk_revisions())
        raise ConfigError(f"cannot upgrade to {revision} ({exc}): the revisions are {', '.join(known)} or head, "
                          "and `gridlink db status` names the schema's", code="bad_revision") from exc
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            now = MigrationContext.configure(connection).get_current_revision() or "none"
    finally:
        engine.dispose()
    if revision not in ("head", now):
        raise ConfigError(f"cannot upgrade to {revision}: the schema is at {now}, past it (gridlink upgrades, it "
                          "does not downgrade)", code="bad_revision")
    return now


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
