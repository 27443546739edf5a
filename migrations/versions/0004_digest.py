"""daily reminder e-mail: digest runs and the outbox (hand-written: only these two tables)

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

import tracker.models.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "digest_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest_day", sa.Date(), nullable=False),
        sa.Column("started_at", tracker.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_by", sa.String(length=120), nullable=False),
        sa.Column("built_at", tracker.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", tracker.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("dead", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digest_run")),
        sa.UniqueConstraint("digest_day", name=op.f("uq_digest_run_digest_day")),
    )
    op.create_table(
        "outbox_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest_day", sa.Date(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("to_address", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", tracker.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", tracker.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=120), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", tracker.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", tracker.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["digest_day"], ["digest_run.digest_day"],
                                name=op.f("fk_outbox_message_digest_day_digest_run")),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_outbox_message_user_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_message")),
        sa.UniqueConstraint("digest_day", "user_id", name=op.f("uq_outbox_message_digest_day")),
        sa.UniqueConstraint("message_id", name=op.f("uq_outbox_message_message_id")),
    )
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_message_status_next", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_message_user_id"), ["user_id"], unique=False)


def downgrade():
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_message_user_id"))
        batch_op.drop_index("ix_outbox_message_status_next")
    op.drop_table("outbox_message")
    op.drop_table("digest_run")
