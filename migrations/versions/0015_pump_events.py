"""pump events: an MRI and catheter events on a pump, the work they open, and what an MRI means for each pump model

Revision ID: 0015
Revises: 0014

pump_model.mri_rule is filled for the catalogue's own models by name (SynchroMed: check the pump after the scan;
Prometra: empty it before); any other model stays empty until an administrator says, and no MRI can be recorded
for it until then.
"""
import sqlalchemy as sa
from alembic import op

import tracker.models.types

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("pump_model") as batch:
        batch.add_column(sa.Column("mri_rule", sa.String(length=16), nullable=True))
    op.execute("UPDATE pump_model SET mri_rule = 'check_after' WHERE name LIKE 'SynchroMed%'")
    op.execute("UPDATE pump_model SET mri_rule = 'empty_before' WHERE name LIKE 'Prometra%'")
    op.create_table(
        "pump_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pump_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("occurred_at", tracker.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("volume_removed_ml", sa.Numeric(precision=7, scale=3), nullable=True),
        sa.Column("empties_pump", sa.Boolean(), nullable=False),
        sa.Column("work", sa.String(length=24), nullable=True),
        sa.Column("work_due_on", sa.Date(), nullable=True),
        sa.Column("done_at", tracker.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_by_id", sa.Integer(), nullable=True),
        sa.Column("done_note", sa.Text(), nullable=False),
        sa.Column("recorded_at", tracker.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["done_by_id"], ["user.id"], name=op.f("fk_pump_event_done_by_id_user")),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_pump_event_patient_id_patient")),
        sa.ForeignKeyConstraint(["pump_id"], ["pump.id"], name=op.f("fk_pump_event_pump_id_pump")),
        sa.ForeignKeyConstraint(["recorded_by_id"], ["user.id"], name=op.f("fk_pump_event_recorded_by_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pump_event")),
    )
    op.create_index(op.f("ix_pump_event_patient_id"), "pump_event", ["patient_id"])
    op.create_index("ix_pump_event_pump_at", "pump_event", ["pump_id", "occurred_at"])
    open_work = sa.text("work IS NOT NULL AND done_at IS NULL")
    op.create_index("ix_pump_event_open_work", "pump_event", ["pump_id"], sqlite_where=open_work,
                    postgresql_where=open_work)


def downgrade():
    op.drop_index("ix_pump_event_open_work", table_name="pump_event")
    op.drop_index("ix_pump_event_pump_at", table_name="pump_event")
    op.drop_index(op.f("ix_pump_event_patient_id"), table_name="pump_event")
    op.drop_table("pump_event")
    with op.batch_alter_table("pump_model") as batch:
        batch.drop_column("mri_rule")
