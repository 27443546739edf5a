"""FHIR API clients: one hashed bearer token each, and the client as the "who" of the audit trail's API reads

Revision ID: 0025
Revises: 0024

Issue 21, part 2: the read-only FHIR API is called by clients an administrator creates and revokes (api_client;
the token's sha256 only). audit_event.api_client_id names the client of every API read; a plain column, since a
foreign key added on SQLite rebuilds the table and drops its append-only triggers.
"""

import sqlalchemy as sa
from alembic import op

import tracker.models.types

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "api_client",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("created_at", tracker.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("last_used_at", tracker.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", tracker.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["created_by_id"], ["user.id"], name=op.f("fk_api_client_created_by_id_user")),
        sa.ForeignKeyConstraint(["revoked_by_id"], ["user.id"], name=op.f("fk_api_client_revoked_by_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_client")),
        sa.UniqueConstraint("name", name=op.f("uq_api_client_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_client_token_hash")),
    )
    # Plain ADD COLUMN on SQLite too: a batch would rebuild audit_event without its triggers.
    op.add_column("audit_event", sa.Column("api_client_id", sa.Integer(), nullable=True))


def downgrade():
    op.execute("ALTER TABLE audit_event DROP COLUMN api_client_id")  # SQLite 3.35+, as 0019 and 0023 do
    op.drop_table("api_client")
