"""user sessions kept on the server; the session epoch and account lockout columns go

Revision ID: 0019
Revises: 0016

Signing out, a password change, a deactivation and "sign out my other sessions" end `user_session` rows, which
replace the per-user session epoch. Wrong passwords are slowed by counts outside the database (Redis), which
replace the account lockout (failed_logins, locked_until): anyone who knew an e-mail could lock an account.

The columns are dropped with ALTER TABLE ... DROP COLUMN on SQLite too (3.35+): a batch rebuild would drop and
re-create "user", which every patient and audit row references.
"""
import sqlalchemy as sa
from alembic import op

import tracker.models.types

revision = "0019"
down_revision = "0016"
branch_labels = None
depends_on = None

DROPPED = ("session_epoch", "failed_logins", "locked_until")


def upgrade():
    op.create_table(
        "user_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", tracker.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", tracker.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", tracker.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_reason", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_user_session_user_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_user_session_token_hash")),
    )
    op.create_index(op.f("ix_user_session_user_id"), "user_session", ["user_id"], unique=False)
    for column in DROPPED:
        op.execute(f'ALTER TABLE "user" DROP COLUMN {column}')


def downgrade():
    with op.batch_alter_table("user") as batch:  # adding columns rebuilds nothing on SQLite
        batch.add_column(sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("locked_until", tracker.models.types.UTCDateTime(timezone=True), nullable=True))
    op.drop_index(op.f("ix_user_session_user_id"), table_name="user_session")
    op.drop_table("user_session")
