"""The tracks table as the first release wrote it (before track states).

A SQLite file written before Alembic already has it: kept as it is, only stamped.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("tracks"):
        return
    op.create_table(
        "tracks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.BigInteger, nullable=False),  # Discord ids are 64-bit
        sa.Column("user_name", sa.Text, nullable=False),
        sa.Column("guild_id", sa.BigInteger),
        sa.Column("channel_id", sa.BigInteger),
        sa.Column("request", sa.Text, nullable=False),  # ComposeRequest.to_dict() as JSON
        sa.Column("model_version", sa.Integer),
        sa.Column("key", sa.Text),
        sa.Column("tempo", sa.Integer),
        sa.Column("seconds", sa.Float),
        sa.Column("message_id", sa.BigInteger),
        sa.Column("jump_url", sa.Text),
        sa.Column("parent_id", sa.Integer, sa.ForeignKey("tracks.id")),
        sa.Column("root_id", sa.Integer),
        sa.Column("created_at", sa.Float, nullable=False),
        sqlite_autoincrement=True,  # ids never reused, as the first release's AUTOINCREMENT
    )
    op.create_index("tracks_root", "tracks", ["root_id"])
