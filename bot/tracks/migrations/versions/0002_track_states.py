"""Track states: ``pending`` until the requester has an answer, then ``posted`` or ``failed``.

A record from before states: posted if it has a message, else failed (nothing to pick up again).
A SQLite file written by the release that added states has the column already: only the index is new.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if "state" not in {column["name"] for column in inspector.get_columns("tracks")}:
        op.add_column("tracks", sa.Column("state", sa.Text, nullable=False, server_default="pending"))
        op.execute("UPDATE tracks SET state = CASE WHEN message_id IS NULL THEN 'failed' ELSE 'posted' END")
    if "tracks_state" not in {index["name"] for index in inspector.get_indexes("tracks")}:
        op.create_index("tracks_state", "tracks", ["state"])  # unfinished() on a long record
