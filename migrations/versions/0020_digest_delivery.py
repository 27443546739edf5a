"""digest delivery: when a message's first attempt failed (an outage's start, for the "sent late" line)

Revision ID: 0020
Revises: 0019

Messages written before keep NULL: they never failed, or failed before this was recorded.
"""
import sqlalchemy as sa
from alembic import op

import tracker.models.types

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("outbox_message") as batch:
        batch.add_column(sa.Column("first_failed_at", tracker.models.types.UTCDateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("outbox_message", reflect_kwargs={"resolve_fks": False}) as batch:  # see 0010
        batch.drop_column("first_failed_at")
