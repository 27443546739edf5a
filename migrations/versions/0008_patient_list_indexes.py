"""the patient list's filtered pages in name order: (location_id | stage, last_name, first_name, id)

Revision ID: 0008
Revises: 0007

They replace the one-column indexes on patient.location_id and patient.stage, which they (and ix_patient_board)
extend, so nothing that used those loses an index. ix_patient_board gains location_id at its end, so the list's
and the board's counts by clinic read that index alone (10k patients, SQLite: 4.9 -> 2.6 ms).
"""
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


BOARD_BEFORE = ["stage", "stage_since", "id", "status"]


def upgrade():
    op.drop_index("ix_patient_board", table_name="patient")
    op.create_index("ix_patient_board", "patient", [*BOARD_BEFORE, "location_id"])
    op.create_index("ix_patient_location_name", "patient", ["location_id", "last_name", "first_name", "id"])
    op.create_index("ix_patient_stage_name", "patient", ["stage", "last_name", "first_name", "id"])
    op.drop_index("ix_patient_location_id", table_name="patient")
    op.drop_index("ix_patient_stage", table_name="patient")


def downgrade():
    op.drop_index("ix_patient_board", table_name="patient")
    op.create_index("ix_patient_board", "patient", BOARD_BEFORE)
    op.create_index("ix_patient_stage", "patient", ["stage"])
    op.create_index("ix_patient_location_id", "patient", ["location_id"])
    op.drop_index("ix_patient_stage_name", table_name="patient")
    op.drop_index("ix_patient_location_name", table_name="patient")
