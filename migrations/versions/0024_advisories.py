"""device advisories: a field safety notice, what it affects, and each affected pump's follow-up

Revision ID: 0024
Revises: 0023

Issue 21, part 1. advisory keeps the notice's criteria as entered; advisory_follow_up has one row per affected pump
(explanted ones for the record), and a partial index on the open ones ("not yet reached"), which every worklist,
calendar and e-mail reads with the device events' open work.
"""

import sqlalchemy as sa
from alembic import op

import tracker.models.types

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "advisory",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("model_ids", sa.JSON(), nullable=False),
        sa.Column("serials_text", sa.Text(), nullable=False),
        sa.Column("implanted_from", sa.Date(), nullable=True),
        sa.Column("implanted_to", sa.Date(), nullable=True),
        sa.Column("distributed_from", sa.Date(), nullable=True),
        sa.Column("distributed_to", sa.Date(), nullable=True),
        sa.Column("concentrations", sa.JSON(), nullable=False),
        sa.Column("lots_text", sa.Text(), nullable=False),
        sa.Column("recommended_action", sa.Text(), nullable=False),
        sa.Column("follow_up", sa.String(length=24), nullable=False),
        sa.Column("call_days", sa.Integer(), nullable=True),
        sa.Column("created_at", tracker.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("closed_at", tracker.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_by_id", sa.Integer(), nullable=True),
        sa.Column("close_note", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["closed_by_id"], ["user.id"], name=op.f("fk_advisory_closed_by_id_user")),
        sa.ForeignKeyConstraint(["created_by_id"], ["user.id"], name=op.f("fk_advisory_created_by_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_advisory")),
    )
    op.create_table(
        "advisory_follow_up",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("advisory_id", sa.Integer(), nullable=False),
        sa.Column("pump_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_at", tracker.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status_by_id", sa.Integer(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("created_at", tracker.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["advisory_id"], ["advisory.id"], name=op.f("fk_advisory_follow_up_advisory_id_advisory")
        ),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_advisory_follow_up_patient_id_patient")),
        sa.ForeignKeyConstraint(["pump_id"], ["pump.id"], name=op.f("fk_advisory_follow_up_pump_id_pump")),
        sa.ForeignKeyConstraint(["status_by_id"], ["user.id"], name=op.f("fk_advisory_follow_up_status_by_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_advisory_follow_up")),
        sa.UniqueConstraint("advisory_id", "pump_id", name="uq_advisory_follow_up_pump"),
    )
    op.create_index(op.f("ix_advisory_follow_up_patient_id"), "advisory_follow_up", ["patient_id"])
    still_open = sa.text("status = 'not_reached'")
    op.create_index(
        "ix_advisory_follow_up_open",
        "advisory_follow_up",
        ["pump_id"],
        sqlite_where=still_open,
        postgresql_where=still_open,
    )


def downgrade():
    op.drop_index("ix_advisory_follow_up_open", table_name="advisory_follow_up")
    op.drop_index(op.f("ix_advisory_follow_up_patient_id"), table_name="advisory_follow_up")
    op.drop_table("advisory_follow_up")
    op.drop_table("advisory")
