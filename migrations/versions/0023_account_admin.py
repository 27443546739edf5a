"""account administration: a forced password change after a reset, and a version for stale edits

Revision ID: 0023
Revises: 0022

Issue 19: an administrator resets a password to a one-time one the user must change at the next sign-in
(must_change_password), and two administrators editing one account at once are told, not overwritten (version,
SQLAlchemy's version counter, as location and patient have). Existing accounts: no change due, version 1.
"""
import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN on SQLite too: a batch would rebuild "user" and lose its lower(email) index.
    op.add_column("user", sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("user", sa.Column("version", sa.Integer(), nullable=False, server_default="1"))


def downgrade():
    # Dropped with ALTER TABLE ... DROP COLUMN (SQLite 3.35+), as 0019 does: a batch rebuild would drop and
    # re-create "user", which every patient and audit row references.
    for column in ("version", "must_change_password"):
        op.execute(f'ALTER TABLE "user" DROP COLUMN {column}')
