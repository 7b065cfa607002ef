"""Alembic's entry: migrations run on the connection ``bot.tracks.database.upgrade`` hands over."""

from __future__ import annotations

from alembic import context

# Two bot processes starting together on one database must not both create the tables: the first
# takes this lock (PostgreSQL) or the file's write lock (SQLite) for its transaction; the second
# waits, then finds the schema at its head.
MIGRATION_LOCK = 0x62676D  # "bgm"

connection = context.config.attributes["connection"]
context.configure(connection=connection)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
    elif connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # sqlite3 would begin only at the first write
    context.run_migrations()
