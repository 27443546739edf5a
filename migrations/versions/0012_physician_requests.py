"""physician requests: a booking after the alarm date or a dose sign-off, sent to the physicians' queue

Revision ID: 0012
Revises: 0011

At most one open request of a kind per patient: a partial unique index (WHERE status = 'open'), which both
SQLite and PostgreSQL build.
"""
import sqlalchemy as sa
from alembic import op

import tracker.models.types

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "physician_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("pump_id", sa.Integer(), nullable=True),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("requested_at", tracker.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("answered_by_id", sa.Integer(), nullable=True),
        sa.Column("answered_at", tracker.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("answer_note", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["answered_by_id"], ["user.id"],
                                name=op.f("fk_physician_request_answered_by_id_user")),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_physician_request_patient_id_patient")),
        sa.ForeignKeyConstraint(["pump_id"], ["pump.id"], name=op.f("fk_physician_request_pump_id_pump")),
        sa.ForeignKeyConstraint(["requested_by_id"], ["user.id"],
                                name=op.f("fk_physician_request_requested_by_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_physician_request")),
    )
    open_only = sa.text("status = 'open'")
    op.create_index("uq_physician_request_open", "physician_request", ["patient_id", "kind"], unique=True,
                    sqlite_where=open_only, postgresql_where=open_only)
    op.create_index("ix_physician_request_status_at", "physician_request", ["status", "requested_at"])
    op.create_index(op.f("ix_physician_request_patient_id"), "physician_request", ["patient_id"])
    op.create_index(op.f("ix_physician_request_requested_by_id"), "physician_request", ["requested_by_id"])


def downgrade():
    op.drop_index(op.f("ix_physician_request_requested_by_id"), table_name="physician_request")
    op.drop_index(op.f("ix_physician_request_patient_id"), table_name="physician_request")
    op.drop_index("ix_physician_request_status_at", table_name="physician_request")
    op.drop_index("uq_physician_request_open", table_name="physician_request")
    op.drop_table("physician_request")
