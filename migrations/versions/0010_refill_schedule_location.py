"""the patient's home clinic on refill_schedule, kept equal by a (patient_id, location_id) foreign key

Revision ID: 0010
Revises: 0009

A clinic's calendar and worklist filtered refills by the patient's clinic, so both databases read every clinic's
candidate refills (817 at 10k patients) to keep one clinic's (284), and PostgreSQL hashed the whole patient table
to do it. With the clinic on the schedule row they read one range of (location_id, due_date). The copy cannot
drift: the foreign key (patient_id, location_id) -> patient (id, location_id) refuses a wrong value and, ON UPDATE
CASCADE, carries a patient's move between clinics to the row. It replaces the patient_id -> patient.id key.
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Batch mode copies refill_schedule from its reflection; reflecting the tables its keys point to as well reached
# "user", whose expression index uq_user_email_lower SQLite reflection cannot read (a SAWarning on every fresh
# `flask db upgrade`). The copy needs only this table's own columns, keys and indexes.
NO_REFERENCED_TABLES = {"resolve_fks": False}


def upgrade():
    op.create_index("uq_patient_id_location", "patient", ["id", "location_id"], unique=True)
    with op.batch_alter_table("refill_schedule", reflect_kwargs=NO_REFERENCED_TABLES) as batch:
        batch.add_column(sa.Column("location_id", sa.Integer(), nullable=True))
    op.execute("UPDATE refill_schedule SET location_id = "
               "(SELECT patient.location_id FROM patient WHERE patient.id = refill_schedule.patient_id)")
    with op.batch_alter_table("refill_schedule", reflect_kwargs=NO_REFERENCED_TABLES) as batch:
        batch.alter_column("location_id", existing_type=sa.Integer(), nullable=False)
        batch.drop_constraint("fk_refill_schedule_patient_id_patient", type_="foreignkey")
        batch.create_foreign_key("fk_refill_schedule_patient_location", "patient", ["patient_id", "location_id"],
                                 ["id", "location_id"], onupdate="CASCADE")
        batch.create_index("ix_refill_schedule_location_due", ["location_id", "due_date"])


def downgrade():
    with op.batch_alter_table("refill_schedule", reflect_kwargs=NO_REFERENCED_TABLES) as batch:
        batch.drop_index("ix_refill_schedule_location_due")
        batch.drop_constraint("fk_refill_schedule_patient_location", type_="foreignkey")
        batch.create_foreign_key("fk_refill_schedule_patient_id_patient", "patient", ["patient_id"], ["id"])
        batch.drop_column("location_id")
    op.drop_index("uq_patient_id_location", table_name="patient")
